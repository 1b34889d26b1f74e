"""How the Mastodon bot hears what is said to it: the user stream, and polling beside it
(often while the stream is down, seldom while it is up: a reconnection may miss events).
The core drops what both deliver; either failing leaves the other running."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

import aiohttp
from mastodon.errors import MastodonError, MastodonUnauthorizedError

from mastodon_bot import stream
from shared.backoff import Backoff
from shared.errors import HqxError
from shared.protocol import IncomingPost, ReceiveError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    Receive = Callable[[IncomingPost], Awaitable[None]]

log = logging.getLogger(__name__)

# While the stream is up, polling is only a safety net for what a reconnection may miss.
STREAMING_POLL_SEC = 120.0
# A server that does not stream is asked again this seldom.
UNSUPPORTED_STREAM_RETRY_SEC = 3600.0


class Receiver:
    """The bot's two receiving loops and how they fare (for ``health``)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        poll_interval_sec: float,
        poll_once: Callable[[Receive], Awaitable[int]],
        pause_sec: Callable[[], float],
        incoming: Callable[[Mapping[str, Any]], Awaitable[IncomingPost | None]],
    ) -> None:
        """``poll_once``: one poll of the bot's notifications; ``pause_sec``: how long to
        wait between polls now; ``incoming``: the post a notification brings."""
        self._base_url, self._token = base_url, token
        self._poll_interval_sec = poll_interval_sec
        self._poll_once, self._pause_sec, self._incoming = poll_once, pause_sec, incoming
        self.streaming = asyncio.Event()
        """Set while the user stream is connected."""
        self._poll_now = asyncio.Event()
        """Set when a poll cannot wait: the stream has just opened, and what was said
        between the last poll and the server's subscription came through neither."""
        self.status = "starting"
        self.failing: dict[str, str] = {}
        """Loops failing now (the stream, polling), with why."""

    async def supervised(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        """Run ``loop`` again after each failure, backing off; a refused token ends it."""
        backoff = Backoff()
        while True:
            backoff.started()
            try:
                await loop()
            except MastodonUnauthorizedError as e:  # a revoked token does not heal
                raise ReceiveError(
                    f"Mastodon: {self._base_url} refuses the access token", permanent=True
                ) from e
            except (MastodonError, HqxError) as e:
                log.warning("Mastodon: %s failed (%s); trying again", name, e)
                self.failing[name] = str(e)
            except Exception:
                log.exception("Mastodon: %s failed; restarting it", name)
            await backoff.wait()

    async def poll_forever(self, receive: Receive) -> None:
        last = -STREAMING_POLL_SEC
        while True:
            due = time.monotonic() - last >= STREAMING_POLL_SEC
            if not self.streaming.is_set() or due or self._poll_now.is_set():
                self._poll_now.clear()
                await self._poll_once(receive)
                self.failing.pop("polling", None)
                last = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poll_now.wait(), self._pause_sec())

    async def stream_forever(
        self, http: aiohttp.ClientSession, advertised: str | None, receive: Receive
    ) -> None:
        """Stay connected to the first endpoint that streams; reconnect with exponential
        backoff and jitter, reset after a healthy connection. When no endpoint can stream
        (refused, no such endpoint, TLS where none is served) the bot says so once and polls,
        asking again much later."""
        backoff = Backoff()
        candidates = stream.endpoints(advertised, self._base_url)
        refused: dict[stream.Endpoint, str] = {}
        while True:
            usable = [e for e in candidates if e not in refused]
            if not usable:
                self._settle_on_polling("; ".join(refused.values()))
                await asyncio.sleep(UNSUPPORTED_STREAM_RETRY_SEC)
                refused.clear()
                continue
            endpoint = usable[0]
            backoff.started()
            try:
                async for event, data in stream.events(http, endpoint, self._token):
                    if event == stream.OPENED:
                        self._stream_opened(endpoint)
                    elif event == "notification":
                        await self._receive_streamed(json.loads(data), receive)
                log.info("Mastodon: the server ended the stream; reconnecting")
            except stream.StreamUnsupportedError as e:
                refused[endpoint] = str(e)
                self.streaming.clear()
                continue
            except (aiohttp.ClientError, TimeoutError, ValueError) as e:
                log.info("Mastodon: stream lost (%s); reconnecting", e)
            self.streaming.clear()
            self.status = "polling while the stream reconnects"
            await backoff.wait()

    def _stream_opened(self, endpoint: stream.Endpoint) -> None:
        if not self.status.startswith("streaming"):
            log.info("Mastodon: streaming (%s)", endpoint)
        self.status = f"streaming ({endpoint.transport})"
        self.failing.pop("stream", None)
        self.streaming.set()
        self._poll_now.set()

    def _settle_on_polling(self, reasons: str) -> None:
        status = f"polling every {self._poll_interval_sec:g} s: the server does not stream to us"
        if self.status != status:
            log.warning("Mastodon: no stream (%s); polling instead", reasons)
        self.status = status
        self.streaming.clear()

    async def _receive_streamed(self, notification: dict[str, Any], receive: Receive) -> None:
        """A notification from the stream; one that cannot be read now is left to polling."""
        try:
            post = await self._incoming(notification)
        except HqxError as e:
            log.info("Mastodon: %s; polling will bring it again", e)
            return
        if post is not None:
            await receive(post)
