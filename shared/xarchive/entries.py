"""Validation of one follower/following entry: its X id, or the reason it is rejected.

An entry is ``{kind: {"accountId": "<digits>", "userLink": "<url>"}}``. The link is optional
and may point at twitter.com or x.com; when it carries ``user_id=<digits>`` (the last such
parameter counts), that id must be the entry's. An entry without ``accountId`` is taken from
its link's ``user_id``.
"""

from __future__ import annotations

import re
from array import array
from dataclasses import dataclass, field
from operator import itemgetter, methodcaller
from typing import Any

from shared.xarchive.errors import RowError
from shared.xarchive.xid import parse_x_id

LINK_ID_RE = re.compile(r"user_id=([0-9]+)")
# Any number of at most 19 digits is below 2**64; longer ones take the full check.
SAFE_DIGITS = 19


_DIGIT_LINES_RE = re.compile(rf"[0-9]{{1,{SAFE_DIGITS}}}(?:\n[0-9]{{1,{SAFE_DIGITS}}})*")
_ACCOUNT_ID = itemgetter("accountId")
_USER_LINK = methodcaller("get", "userLink")


def block_x_ids(entries: list[Any], kind: str) -> list[int] | None:
    """The ids of a block whose entries all have X's shape, else None.

    The same acceptance as :func:`entry_x_id`'s common case, checked for the whole block with
    C-level iteration (map, join, one regex): no Python code runs per entry.
    """
    try:
        inners = list(map(itemgetter(kind), entries))
        raws = list(map(_ACCOUNT_ID, inners))
        joined = "\n".join(raws)
        links = list(map(_USER_LINK, inners))
    except (KeyError, TypeError, AttributeError):
        return None
    # A raw id holding a newline would pass the regex as two ids: the count rules it out.
    if joined.count("\n") != len(raws) - 1 or not _DIGIT_LINES_RE.fullmatch(joined):
        return None
    if not joined.isascii():
        return None
    if links.count(None) != len(links):
        try:
            if not all(map(str.endswith, links, map("user_id=".__add__, raws))):
                return None
        except TypeError:  # a link that is None (mixed with others) or not a string
            return None
    return list(map(int, raws))


def entry_x_id(entry: Any, kind: str) -> int:
    """The X id of an entry; :class:`RowError` says why the entry is rejected."""
    # The shape X writes, checked with as few operations as possible: this runs per row.
    inner = entry.get(kind) if type(entry) is dict else None
    raw = inner.get("accountId") if type(inner) is dict else None
    if type(raw) is str and len(raw) <= SAFE_DIGITS and raw.isdigit() and raw.isascii():
        link = inner.get("userLink")  # type: ignore[union-attr]
        if link is None or (type(link) is str and link.endswith("user_id=" + raw)):
            return int(raw)
    return _checked_x_id(entry, kind)


def _checked_x_id(entry: Any, kind: str) -> int:
    """Every check, each with its own reason: for entries off the common shape."""
    if type(entry) is not dict:
        raise RowError("entry is not an object")
    inner = entry.get(kind)
    if type(inner) is not dict:
        raise RowError(f"entry has no '{kind}' object")
    raw = inner.get("accountId")
    link = inner.get("userLink")
    if link is not None and type(link) is not str:
        raise RowError("userLink is not a string")
    link_id = _link_id(link) if link else None
    if raw is None:
        if link_id is None:
            raise RowError("entry has no accountId")
        raw = link_id
    if type(raw) is not str:
        raise RowError("accountId is not a string")
    x_id = parse_x_id(raw)
    if link_id is not None and int(link_id) != x_id:
        raise RowError("userLink names another account than accountId")
    return x_id


def _link_id(link: str) -> str | None:
    found = LINK_ID_RE.findall(link)
    return found[-1] if found else None


@dataclass(frozen=True, slots=True)
class ValidatedBlock:
    """The ids of a block of entries, and the entries it rejected."""

    ids: bytes
    """The ids as native unsigned 64-bit integers (no numpy here: parser workers stay small)."""
    count: int
    """Entries in the block, rejected ones included."""
    rejections: list[tuple[int, str]] = field(default_factory=list)
    """(index in the block, reason) of each rejected entry."""


def validate_block(entries: list[Any], kind: str) -> ValidatedBlock:
    """Validate a block of entries: all at once when they have X's shape, else one by one."""
    fast = block_x_ids(entries, kind)
    if fast is not None:
        return ValidatedBlock(array("Q", fast).tobytes(), len(entries))
    found: list[int] = []
    rejections: list[tuple[int, str]] = []
    for index, entry in enumerate(entries):
        try:
            found.append(entry_x_id(entry, kind))
        except RowError as e:
            rejections.append((index, str(e)))
    return ValidatedBlock(array("Q", found).tobytes(), len(entries), rejections)
