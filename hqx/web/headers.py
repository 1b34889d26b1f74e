"""The security headers of every answer of the portal."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

# Our own styles and scripts only (no inline code), requests to ourselves only, no framing:
# nothing of the portal runs anywhere else, nothing else runs in it.
POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Upload links hold a secret: no page of the portal tells another site where it was.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Server": "helloquittex",  # no software versions for scanners
}


async def security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Content-Security-Policy"] = POLICY
    response.headers.update(HEADERS)
