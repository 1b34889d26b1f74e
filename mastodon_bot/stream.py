"""The user stream of a Mastodon-API server, read as server-sent events over HTTP.

https://docs.joinmastodon.org/methods/streaming/ — Mastodon writes ``event:`` and ``data:``
lines, a blank line after each event, and comment lines (``:thump``) as heartbeats.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import ClientTimeout

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aiohttp import ClientSession

USER_STREAM_PATH = "/api/v1/streaming/user"
# Mastodon sends a heartbeat every 15 s or so: a silent minute and a half is a dead link.
READ_TIMEOUT_SEC = 90.0
OPENED = "hqx:opened"
"""A pseudo-event yielded once the server has accepted the stream."""
_UNSUPPORTED = {401, 403, 404, 405, 501}


class StreamUnsupportedError(Exception):
    """The server refuses the stream (no streaming, or not for this token): poll instead."""


def streaming_base(configured: str | None, api_base_url: str) -> str:
    """The HTTP(S) base of the streaming API: the instance's (often a ``wss://`` URL, which
    is for browsers), else the API's own."""
    if not configured:
        return api_base_url
    for socket_scheme, http_scheme in (("wss://", "https://"), ("ws://", "http://")):
        if configured.startswith(socket_scheme):
            return http_scheme + configured.removeprefix(socket_scheme)
    return configured.rstrip("/")


async def events(session: ClientSession, url: str, token: str) -> AsyncIterator[tuple[str, str]]:
    """``(event, data)`` pairs of one connection, until the server ends it.

    Raises:
        StreamUnsupportedError: the server answered that it does not stream to us.
        aiohttp.ClientError, TimeoutError: the connection failed or fell silent.
    """
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    timeout = ClientTimeout(total=None, sock_connect=30, sock_read=READ_TIMEOUT_SEC)
    async with session.get(url, headers=headers, timeout=timeout) as response:
        if response.status in _UNSUPPORTED:
            raise StreamUnsupportedError(f"{url} answered {response.status}")
        response.raise_for_status()
        yield OPENED, ""
        event, data = "", list[str]()
        async for raw in response.content:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line:
                if data:
                    yield event or "message", "\n".join(data)
                event, data = "", list[str]()
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    event = value
                elif name == "data":
                    data.append(value)
