"""The portal's access log, without the secrets that URLs carry: an upload link's token is
as good as the link itself, so it never reaches a log line.

The path is judged as the router reads it (percent-decoded: ``/x/uploa%64/TOKEN`` is served
as an upload link), and any segment long enough to be a token is hidden wherever it is (a
path encoded twice reaches no route, but still carries the token)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from aiohttp.abc import AbstractAccessLogger

from shared.portal import uploads

if TYPE_CHECKING:
    from aiohttp.web_request import BaseRequest
    from aiohttp.web_response import StreamResponse

# Path segments after these prefixes are secrets; query strings may hold OAuth codes.
_SECRET_PATHS = re.compile(
    "(" + "|".join(re.escape(path) for path in uploads.LINK_PATHS) + r")[^?#\s]+"
)
# Tokens are 43 characters of base64url; nothing the portal routes has a segment this long.
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_%-]{24,}")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\s\"]")
HIDDEN = "…"


def redact(path: str, query: bool = False) -> str:
    """A request's path (decoded, as the router matched it) as it may be logged; its query,
    when there is one, is hidden whole (it may hold an OAuth code)."""
    shown = _SECRET_PATHS.sub(rf"\g<1>{HIDDEN}", path)
    shown = _TOKEN_LIKE.sub(HIDDEN, shown)
    shown = _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group(0)):02x}", shown)
    return shown + (f"?{HIDDEN}" if query else "")


class RedactedAccessLogger(AbstractAccessLogger):
    """One line per request, as a common log would write it, minus secrets (and no
    Referer, which could carry them from another page)."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        version = f"{request.version.major}.{request.version.minor}"
        self.logger.info(
            '%s "%s %s HTTP/%s" %d %d %.3fs "%s"',
            request.remote or "-",
            request.method,
            redact(request.path, bool(request.query_string)),
            version,
            response.status,
            response.body_length,
            time,
            request.headers.get("User-Agent", "-"),
        )
