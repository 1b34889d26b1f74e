"""Calls that must end once started, even when the task that made them is cancelled: taking
and giving back what a stopping process holds. ``asyncio.shield`` alone is not enough: the
cancelled caller stops waiting, and a loop closing right after cancels the call before its
thread ever runs it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")


async def on_thread_to_the_end(
    call: Callable[[], T], undo: Callable[[T], object] | None = None
) -> T:
    """``call()`` on a thread, waited for to its end. A cancellation that came meanwhile is
    raised after it, once ``undo(result)`` (if given) has ended too: what was taken for a
    caller that stopped goes back."""
    value, cancelled = await _waited(call)
    if cancelled and undo is not None:
        await _waited(lambda: undo(value))
    if cancelled:
        raise asyncio.CancelledError
    return value


async def _waited(call: Callable[[], T]) -> tuple[T, bool]:
    """``call()``'s result, and whether the caller was cancelled while it ran."""
    running = asyncio.ensure_future(asyncio.to_thread(call))
    cancelled = False
    while not running.done():
        try:
            await asyncio.shield(running)
        except asyncio.CancelledError:
            if running.cancelled():  # the loop itself is closing: nothing left to wait for
                raise
            cancelled = True
    return running.result(), cancelled
