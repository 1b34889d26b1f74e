"""The user stream of a Mastodon-API server, over WebSocket or as server-sent events.

https://docs.joinmastodon.org/methods/streaming/ — Mastodon serves the stream both ways;
GoToSocial and Akkoma/Pleroma over WebSocket only (see :mod:`testworld.mastodon.profiles`).

- WebSocket: ``/api/v1/streaming?stream=user`` at the address the instance advertises
  (``urls.streaming``, often ``wss://``); the token goes in ``Sec-WebSocket-Protocol``, which
  every one of those servers reads (never in the URL, which proxies log). Each frame is JSON:
  ``{"stream": ["user"], "event": "notification", "payload": "<JSON text>"}``.
- Server-sent events: ``/api/v1/streaming/user``, ``event:`` and ``data:`` lines, a blank
  line after each event, comment lines (``:thump``) as heartbeats.

:func:`endpoints` lists where to try, best first; :func:`events` reads one connection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

import aiohttp

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

WEBSOCKET_PATH = "/api/v1/streaming"
SSE_PATH = "/api/v1/streaming/user"
# Mastodon sends a heartbeat every 15 s or so: a silent minute and a half is a dead link.
READ_TIMEOUT_SEC = 90.0
# WebSocket pings: a peer that does not answer within half of this is gone.
PING_INTERVAL_SEC = 30.0
CONNECT_TIMEOUT_SEC = 30.0
# A notification is a few kilobytes; anything far larger is not one we want to hold.
EVENT_MAX_BYTES = 1024 * 1024
OPENED = "hqx:opened"
"""A pseudo-event yielded once the server has accepted the stream."""
_REFUSALS = {400, 401, 403, 404, 405, 426, 501}

Transport = Literal["websocket", "sse"]


class StreamUnsupportedError(Exception):
    """This endpoint cannot stream to us (refused, no such endpoint, or TLS where the server
    speaks none): waiting will not change it; try another endpoint, else poll."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One way to reach the user stream."""

    transport: Transport
    url: str

    def __str__(self) -> str:
        return f"{self.transport} {self.url}"


def endpoints(advertised: str | None, api_base_url: str) -> list[Endpoint]:
    """Where the user stream may be, best first: WebSocket at the advertised address, then
    at the API's own address with the API's security (servers advertise ``wss://`` even
    where only plain http is served), then server-sent events at both."""
    api = urlsplit(api_base_url)
    secure = api.scheme == "https"
    bases: list[str] = []
    if advertised:
        parsed = urlsplit(advertised)
        tls = parsed.scheme in ("wss", "https")
        bases.append(f"{'https' if tls else 'http'}://{parsed.netloc}{parsed.path.rstrip('/')}")
    bases.append(f"{api.scheme}://{api.netloc}")
    if secure:
        bases = [b.replace("http://", "https://", 1) for b in bases]  # never downgrade
    unique = list(dict.fromkeys(bases))
    found = [Endpoint("websocket", _ws(base) + WEBSOCKET_PATH + "?stream=user") for base in unique]
    found += [Endpoint("sse", base + SSE_PATH) for base in unique]
    return found


def _ws(http_base: str) -> str:
    """``https://`` -> ``wss://``, ``http://`` -> ``ws://``."""
    return "ws" + http_base.removeprefix("http")


async def events(
    session: aiohttp.ClientSession, endpoint: Endpoint, token: str
) -> AsyncIterator[tuple[str, str]]:
    """``(event, payload)`` pairs of one connection, until the server ends it.

    Raises:
        StreamUnsupportedError: this endpoint will not stream to us.
        aiohttp.ClientError, TimeoutError, ValueError: the connection failed or fell silent,
            or sent something that is not a stream (temporary: try again later).
    """
    try:
        if endpoint.transport == "websocket":
            async for item in _websocket(session, endpoint.url, token):
                yield item
        else:
            async for item in _sse(session, endpoint.url, token):
                yield item
    except aiohttp.ClientSSLError as e:
        raise StreamUnsupportedError(f"{endpoint}: TLS failed ({e})") from e
    except aiohttp.WSServerHandshakeError as e:
        if e.status in _REFUSALS:
            raise StreamUnsupportedError(f"{endpoint} answered {e.status}") from e
        raise


async def _websocket(
    session: aiohttp.ClientSession, url: str, token: str
) -> AsyncIterator[tuple[str, str]]:
    async with session.ws_connect(
        url,
        protocols=(token,),
        heartbeat=PING_INTERVAL_SEC,
        timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=10.0),
        max_msg_size=EVENT_MAX_BYTES,
        autoping=True,
    ) as socket:
        yield OPENED, ""
        async for message in socket:
            if message.type == aiohttp.WSMsgType.TEXT:
                frame = json.loads(message.data)
                payload = frame.get("payload")
                yield (
                    str(frame.get("event", "")),
                    (payload if isinstance(payload, str) else json.dumps(payload)),
                )
            elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                break


async def _sse(
    session: aiohttp.ClientSession, url: str, token: str
) -> AsyncIterator[tuple[str, str]]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=CONNECT_TIMEOUT_SEC, sock_read=READ_TIMEOUT_SEC
    )
    async with session.get(url, headers=headers, timeout=timeout) as response:
        if response.status in _REFUSALS:
            raise StreamUnsupportedError(f"sse {url} answered {response.status}")
        response.raise_for_status()
        if not response.content_type.startswith("text/event-stream"):
            raise StreamUnsupportedError(f"sse {url} answered {response.content_type}")
        yield OPENED, ""
        event, data, size = "", list[str](), 0
        async for raw in response.content:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line:
                if data:
                    yield event or "message", "\n".join(data)
                event, data, size = "", list[str](), 0
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    event = value
                elif name == "data":
                    size += len(value)
                    if size > EVENT_MAX_BYTES:
                        raise ValueError(f"sse {url}: an event over {EVENT_MAX_BYTES} bytes")
                    data.append(value)
