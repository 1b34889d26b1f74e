"""The bot's Bluesky session, shared by every process of the service through the database.

Each process logs in from the session saved (sealed) there and saves it again whenever it
changes, so that a restart does not log in again (createSession is limited to 30 per 5
minutes and 300 a day per account). With several processes, a refresh rotates the refresh
token for all of them: the PDS accepts the old token again for two hours only (its refresh
grace), after which a process that stood by longer (a waiting bots process, an idle web
one) would be refused, and its bot stopped for want of credentials. So before refreshing,
a process takes the session another process saved since, and when a refresh is refused
all the same (the token revoked), it logs in again with the app password."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import httpx
from atproto_client.client.async_client import AsyncClient
from atproto_client.exceptions import BadRequestError, NetworkError, UnauthorizedError
from atproto_client.request import AsyncRequest

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

REFUSED_REFRESH = frozenset({"ExpiredToken", "InvalidToken"})
"""What the PDS answers to a refresh token it no longer takes."""


class NoAnswerError(NetworkError):  # type: ignore[misc]
    """The request got no answer (the connection refused, cut, or timed out)."""

    def __str__(self) -> str:
        cause = self.__cause__
        return f"no answer ({type(cause).__name__}: {cause})" if cause else "no answer"


# The SDK is checked without its types (see pyproject.toml): its classes are Any to mypy.
class TransportRequest(AsyncRequest):  # type: ignore[misc]
    """The SDK's requests, every failure of the transport raised as one error of the SDK's:
    the SDK maps timeouts and refused connections to its ``NetworkError`` (saying nothing
    of why) and lets a connection cut before the answer (``httpx.RemoteProtocolError``)
    through as it is, which its callers then take for a bug."""

    async def _send_request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response: httpx.Response = await super()._send_request(method, url, **kwargs)
        except NetworkError as e:
            if e.response is None and isinstance(e.__cause__, httpx.TransportError):
                raise NoAnswerError from e.__cause__
            raise
        except httpx.TransportError as e:
            raise NoAnswerError from e
        return response


class SharedSessionClient(AsyncClient):  # type: ignore[misc]
    """The SDK's client, refreshing the session the way several processes can share it."""

    def __init__(
        self,
        base_url: str,
        request: AsyncRequest,
        *,
        saved: Callable[[], Awaitable[str | None]],
        credentials: tuple[str, str],
    ) -> None:
        """``saved()``: the session string the processes saved last (``None``: none);
        ``credentials``: the bot's handle and app password, to log in again."""
        super().__init__(base_url=base_url, request=request)
        self._saved = saved
        self._credentials = credentials

    async def _refresh_and_set_session(self) -> Any:
        """Called by the SDK (under its lock) when the access token is about to expire."""
        newer = await self._saved()
        if newer is not None and newer != self.export_session_string():
            await self._import_session_string(newer)  # another process refreshed it
            if not self._should_refresh_session():
                log.info("Bluesky: took the session another process refreshed")
                return None
        try:
            return await super()._refresh_and_set_session()
        except (BadRequestError, UnauthorizedError) as e:
            content = e.response.content if e.response is not None else None
            if getattr(content, "error", None) not in REFUSED_REFRESH:
                raise
        log.warning("Bluesky: the session's refresh was refused; logging in again")
        handle, password = self._credentials
        return await self._get_and_set_session(handle, password)
