"""Errors of archive reading."""

from shared.errors import HqxError


class ArchiveError(HqxError):
    """The archive is refused as a whole; the message is one line naming the problem."""


class RowError(ValueError):
    """One entry of a follower/following list is malformed; it is counted, not fatal."""
