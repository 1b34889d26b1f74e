"""What a bot keeps across restarts, saved by several processes at once: a bots process and
a work process starting together each save the same first watermark; neither may fail."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from shared import botstate

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def test_the_same_new_key_saved_at_once_by_many_is_kept_once(engine: Engine) -> None:
    start, failures = threading.Barrier(8), []

    def first_start(n: int) -> None:
        start.wait()
        try:
            botstate.save(engine, "mastodon:server:bot:notifications", str(n))
        except Exception as e:
            failures.append(e)

    threads = [threading.Thread(target=first_start, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [], "no process fails to start for a race on its first save"
    assert botstate.load(engine, "mastodon:server:bot:notifications") in {str(n) for n in range(8)}
    botstate.save(engine, "mastodon:server:bot:notifications", "later")
    assert botstate.load(engine, "mastodon:server:bot:notifications") == "later"
