"""Validation of one follower/following entry: its X id, or the reason it is rejected."""

from __future__ import annotations

import re
from typing import Any

from shared.xarchive.errors import RowError
from shared.xarchive.xid import parse_x_id

# The link X writes beside each id; the id must be the same. Other links are tolerated.
KNOWN_LINK_PREFIXES = frozenset(
    f"{scheme}://{host}/intent/user?user_id="
    for scheme in ("https", "http")
    for host in ("twitter.com", "x.com", "www.twitter.com", "www.x.com", "mobile.twitter.com")
)
LINK_ID_RE = re.compile(r"[?&]user_id=([0-9]+)")


def entry_x_id(entry: Any, kind: str) -> int:
    """The X id of an entry ``{kind: {"accountId": ..., "userLink": ...}}``."""
    if type(entry) is not dict:
        raise RowError("entry is not an object")
    inner = entry.get(kind)
    if type(inner) is not dict:
        raise RowError(f"entry has no '{kind}' object")
    raw = inner.get("accountId")
    link = inner.get("userLink")
    if link is not None and type(link) is not str:
        raise RowError("userLink is not a string")
    if raw is None:
        found = LINK_ID_RE.search(link) if link else None
        if found is None:
            raise RowError("entry has no accountId")
        raw = found.group(1)
    if type(raw) is not str:
        raise RowError("accountId is not a string")
    x_id = parse_x_id(raw)
    if link and not (link.endswith(raw) and link[: -len(raw)] in KNOWN_LINK_PREFIXES):
        found = LINK_ID_RE.search(link)
        if found is not None and int(found.group(1)) != x_id:
            raise RowError("userLink names another account than accountId")
    return x_id
