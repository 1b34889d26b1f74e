"""X account ids: validation, and the mapping to the database's signed 64-bit integers.

X ids are unsigned 64-bit snowflakes written as decimal strings. PostgreSQL and SQLite have
only signed 64-bit integers, so ids at or above 2**63 are stored as their two's-complement
negative: the mapping is a bijection, so equality (all that matching needs) is preserved.
"""

from __future__ import annotations

from shared.xarchive.errors import RowError

MAX_ID_DIGITS = 20
UINT64_LIMIT = 1 << 64
INT64_LIMIT = 1 << 63


def parse_x_id(text: str) -> int:
    """The id written in ``text``; :class:`RowError` says why it is not a valid X id."""
    if not text:
        raise RowError("accountId is empty")
    if not (text.isascii() and text.isdigit()):
        raise RowError("accountId is not decimal digits")
    if len(text) > MAX_ID_DIGITS:
        raise RowError("accountId is longer than 20 digits")
    value = int(text)
    if value >= UINT64_LIMIT:
        raise RowError("accountId does not fit in 64 bits")
    return value


def to_db(x_id: int) -> int:
    """The signed 64-bit integer that stores ``x_id``."""
    return x_id - UINT64_LIMIT if x_id >= INT64_LIMIT else x_id


def from_db(stored: int) -> int:
    """The X id that a stored signed 64-bit integer stands for."""
    return stored + UINT64_LIMIT if stored < 0 else stored
