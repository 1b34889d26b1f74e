"""The portal's access log, without the secrets that URLs carry: an upload link's token is
as good as the link itself, so it never reaches a log line."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from aiohttp.abc import AbstractAccessLogger

from shared import uploads

if TYPE_CHECKING:
    from aiohttp.web_request import BaseRequest
    from aiohttp.web_response import StreamResponse

# Path segments after these prefixes are secrets; query strings may hold OAuth codes.
_SECRET_PATHS = re.compile(
    "(" + "|".join(re.escape(path) for path in uploads.LINK_PATHS) + r")[^?#\s]+"
)
HIDDEN = "…"


def redact(target: str) -> str:
    """A request target (path and query) as it may be logged."""
    path, question, _query = target.partition("?")
    return _SECRET_PATHS.sub(rf"\g<1>{HIDDEN}", path) + (f"?{HIDDEN}" if question else "")


class RedactedAccessLogger(AbstractAccessLogger):
    """One line per request, as a common log would write it, minus secrets (and no
    Referer, which could carry them from another page)."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        version = f"{request.version.major}.{request.version.minor}"
        self.logger.info(
            '%s "%s %s HTTP/%s" %d %d %.3fs "%s"',
            request.remote or "-",
            request.method,
            redact(request.path_qs),
            version,
            response.status,
            response.body_length,
            time,
            request.headers.get("User-Agent", "-"),
        )
