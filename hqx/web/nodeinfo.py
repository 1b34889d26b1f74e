"""Readers' servers as their NodeInfo says (their software, the origin of their pages),
read through the guarded client (:mod:`hqx.outbound`) and kept a while."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from shared.portal import sharing

if TYPE_CHECKING:
    from hqx.outbound import OutboundClient
    from shared.outbound import Answer

NODEINFO_MAX_BYTES = 64 * 1024
NODEINFO_DEADLINE_SEC = 5.0
KNOWN_SEC = 24 * 3600.0
KNOWN_MAX = 2_000


@dataclass(frozen=True, slots=True)
class Server:
    """A reader's server as its NodeInfo says: its software, and the origin it serves its
    pages from (where ``/.well-known/nodeinfo`` led: a handle's domain may send elsewhere)."""

    software: str
    origin: str


@dataclass
class Servers:
    """Servers' NodeInfo, read through the guarded client and kept :data:`KNOWN_SEC` (at
    most :data:`KNOWN_MAX`, the oldest forgotten first): a share asks each server once a
    day, however many readers share."""

    _known: OrderedDict[str, tuple[float, Server]] = field(default_factory=OrderedDict)

    def knows(self, origin: str) -> bool:
        """Whether ``origin``'s NodeInfo is kept (asking for it costs no request)."""
        kept = self._known.get(origin)
        return kept is not None and kept[0] > time.monotonic()

    async def of(self, http: OutboundClient, origin: str) -> Server:
        """Raises:
        OutboundError: the server could not be asked.
        sharing.ShareError: it answered no NodeInfo naming its software."""
        kept = self._known.get(origin)
        if kept is not None and kept[0] > time.monotonic():
            return kept[1]
        server = await _nodeinfo(http, origin)
        self._known[origin] = (time.monotonic() + KNOWN_SEC, server)
        self._known.move_to_end(origin)
        while len(self._known) > KNOWN_MAX:
            self._known.popitem(last=False)
        return server


async def _nodeinfo(http: OutboundClient, origin: str) -> Server:
    listing = await _get(http, origin + sharing.NODEINFO_PATH)
    link = sharing.nodeinfo_link(listing.json()) if listing.status == 200 else None
    if link is None:
        raise sharing.ShareError(f"{origin} publishes no NodeInfo")
    document = await _get(http, link)
    if document.status != 200:
        raise sharing.ShareError(f"{origin}'s NodeInfo answered {document.status}")
    parts = urlsplit(document.url)
    return Server(sharing.software_of(document.json()), f"{parts.scheme}://{parts.netloc}")


async def _get(http: OutboundClient, url: str) -> Answer:
    return await http.request(
        "GET", url, follow_redirects=True, max_bytes=NODEINFO_MAX_BYTES,
        deadline_sec=NODEINFO_DEADLINE_SEC,
    )  # fmt: skip
