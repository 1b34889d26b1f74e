"""Runs the service in a test until something a person would see has happened."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from shared.service import Service

# After the awaited thing happens, the service runs this much longer: room for anything it
# should not do (a second answer), which the test then checks is absent.
SETTLE_SEC = 0.4


def run_until(service: Service, until: Callable[[], bool], timeout_sec: float) -> None:
    """Start ``service``, wait until ``until()`` (run in a thread) holds, then stop it."""

    async def scenario() -> None:
        await service.start()
        try:
            deadline = time.monotonic() + timeout_sec
            while not await asyncio.to_thread(until):
                assert time.monotonic() < deadline, "the bot did not do it in time"
                await asyncio.sleep(0.05)
            await asyncio.sleep(SETTLE_SEC)
        finally:
            await service.stop()

    asyncio.run(scenario())
