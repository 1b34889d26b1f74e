"""Who is asking: a request's client address, as the portal paces and counts by it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hqx.state import SETTINGS

if TYPE_CHECKING:
    from aiohttp import web


def client_address(request: web.Request) -> str:
    """Who is asking: the address the operator's reverse proxy appended last to
    ``X-Forwarded-For`` when it is behind one (``HQX_BEHIND_PROXY``), else the peer."""
    if request.app[SETTINGS].behind_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return request.remote or "unknown"
