"""A proxy on loopback in front of a local server that fails as it is told to, as networks
and servers do: the connection reset before the request reaches the server, the answer lost
after the server acted on it, no answer at all (the client's timeout), 503, and 429 with
the rate-limit headers each network sends. The reliability suite puts one in front of the
Mastodon test server and one in front of Bluesky's PDS (the bot's DID document naming it);
what passes in the meantime is forwarded as it is."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import UTC, datetime, timedelta

from aiohttp import ClientSession, ClientTimeout, web

MODES = ("pass", "reset", "lost-answer", "timeout", "503", "429")
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host",
     "content-length", "content-encoding"}
)  # fmt: skip
RATE_LIMIT_RESET_SEC = 5


class FaultProxy:
    """Forwards to ``target``; :attr:`mode` (one of :data:`MODES`) says how it fails;
    ``network`` ("mastodon" or "bluesky"), which rate-limit answer it gives."""

    def __init__(self, target: str, *, network: str = "mastodon", hold_sec: float = 35.0) -> None:
        self.target = target.rstrip("/")
        self.network = network
        self.hold_sec = hold_sec
        self.mode = "pass"
        self.seen: Counter[str] = Counter()
        """Requests met in each mode."""
        self._client: ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        app.on_cleanup.append(self._close)
        return app

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        mode = self.mode
        self.seen[mode] += 1
        if mode == "reset":
            return _reset(request)
        if mode == "503":
            return web.Response(status=503, text="Service Unavailable")
        if mode == "429":
            return _too_many(self.network)
        if self._client is None:
            self._client = ClientSession(timeout=ClientTimeout(total=None, sock_read=None))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        body = await request.read()
        async with self._client.request(
            request.method, f"{self.target}{request.path_qs}", headers=headers, data=body,
            allow_redirects=False,
        ) as answer:  # fmt: skip
            if mode == "lost-answer":  # the server acted; its answer never comes back
                return _reset(request)
            if mode == "timeout":
                await asyncio.sleep(self.hold_sec)
                return _reset(request)
            response = web.StreamResponse(status=answer.status)
            for name, value in answer.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    response.headers.add(name, value)
            await response.prepare(request)
            async for chunk in answer.content.iter_any():  # a stream, too, as it comes
                await response.write(chunk)
            await response.write_eof()
            return response

    async def _close(self, _app: web.Application) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()


def _reset(request: web.Request) -> web.Response:
    """The connection cut, no answer written."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=499)


def _too_many(network: str) -> web.Response:
    """As each network answers a spent limit: Mastodon's headers with an ISO reset and
    Retry-After; Bluesky's PDS, the IETF draft's with the reset in epoch seconds."""
    reset = datetime.now(UTC) + timedelta(seconds=RATE_LIMIT_RESET_SEC)
    if network == "bluesky":
        error = {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}
        headers = {
            "ratelimit-limit": "3000",
            "ratelimit-remaining": "0",
            "ratelimit-reset": str(int(reset.timestamp())),
            "ratelimit-policy": "3000;w=300",
        }
    else:
        error = {"error": "Too many requests"}
        headers = {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "Retry-After": str(RATE_LIMIT_RESET_SEC),
        }
    return web.json_response(error, status=429, headers=headers)
