"""The security headers of every answer of the portal, and the one thing a page may add to
them: where its forms lead (a form whose answer sends the browser to a person's own server
for their consent, as OAuth does, must be allowed to go there)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import Iterable

FORM_TARGETS = web.RequestKey("form_targets", list[str])
"""The origins a page's forms may lead to, besides the portal."""

# Our own styles and scripts only (no inline code), requests to ourselves only, no framing:
# nothing of the portal runs anywhere else, nothing else runs in it.
POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action {forms}; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Upload links hold a secret: no page of the portal tells another site where it was.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Server": "helloquittex",  # no software versions for scanners
}


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` (a Mastodon account's ActivityPub id: its server)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def allow_forms_to(request: web.Request, urls: Iterable[str]) -> None:
    """Let this page's forms lead to the origins of ``urls`` (Chromium applies
    ``form-action`` to where a form's answer redirects, not only to where it posts)."""
    request[FORM_TARGETS] = sorted({origin(url) for url in urls})


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    forms = " ".join(["'self'", *request.get(FORM_TARGETS, ())])
    response.headers["Content-Security-Policy"] = POLICY.format(forms=forms)
    response.headers.update(HEADERS)
