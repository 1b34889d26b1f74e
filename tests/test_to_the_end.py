"""What a stopping process takes or gives back is never left half done: a caller cancelled
while its call runs on a thread waits for the call's end, gives back what it took, and only
then stops."""

from __future__ import annotations

import asyncio
import threading

import pytest

from hqx.to_the_end import on_thread_to_the_end


def test_a_cancelled_caller_waits_for_its_call_and_gives_back_what_it_took() -> None:
    started, go_on = threading.Event(), threading.Event()
    held: list[str] = []

    def take() -> str:
        started.set()
        go_on.wait(5)
        held.append("row")
        return "row"

    async def main() -> None:
        caller = asyncio.create_task(on_thread_to_the_end(take, held.remove))
        await asyncio.to_thread(started.wait, 5)
        caller.cancel()
        await asyncio.sleep(0.05)
        assert not caller.done(), "the caller waits for the call it made"
        caller.cancel()  # stopping cancels more than once
        go_on.set()
        with pytest.raises(asyncio.CancelledError):
            await caller

    asyncio.run(main())
    assert held == [], "what was taken for a stopped caller went back"


def test_an_uncancelled_caller_gets_the_result_and_nothing_is_given_back() -> None:
    given_back: list[int] = []

    async def main() -> int:
        return await on_thread_to_the_end(lambda: 42, given_back.append)

    assert asyncio.run(main()) == 42
    assert given_back == []
