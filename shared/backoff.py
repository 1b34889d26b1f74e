"""Waiting before trying again: exponential, with jitter, and reset after a healthy run."""

from __future__ import annotations

import asyncio
import random
import time

FIRST_SEC = 1.0
MAX_SEC = 64.0  # the cap atproto's websocket client uses too
HEALTHY_SEC = 60.0


class Backoff:
    """Call :meth:`started` when an attempt begins and :meth:`wait` when it has ended."""

    def __init__(
        self,
        first_sec: float = FIRST_SEC,
        max_sec: float = MAX_SEC,
        healthy_sec: float = HEALTHY_SEC,
    ) -> None:
        self.first_sec, self.max_sec, self.healthy_sec = first_sec, max_sec, healthy_sec
        self.delay_sec = first_sec
        self._started = time.monotonic()

    def started(self) -> None:
        """An attempt begins."""
        self._started = time.monotonic()

    async def wait(self) -> None:
        """Sleep before the next attempt; an attempt that lasted a while starts over from the
        shortest wait. Jitter keeps many clients from coming back at the same instant."""
        if time.monotonic() - self._started > self.healthy_sec:
            self.delay_sec = self.first_sec
        await asyncio.sleep(self.delay_sec * random.uniform(0.8, 1.2))  # noqa: S311  (jitter)
        self.delay_sec = min(self.delay_sec * 2, self.max_sec)
