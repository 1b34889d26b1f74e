"""Benchmark: how long a person waits for the bot's answer, on each network and server kind.

    python benchmarks/answer_latency.py [--posts 20] [--no-bluesky|--no-mastodon]
                                        [--all-baselines] [--baseline-posts 10]

A person mentions the bot, waits for the answer, then mentions it again, ``--posts`` times;
measured is the time from sending the mention to the answer existing on the server. The
service runs as in production (SQLite, its default poll intervals: Bluesky every 0.5 s,
``HQX_BSKY_POLL_SEC``; Mastodon every 10 s while it cannot stream; each mention sent at a
random moment of the polling cycle), against the local worlds: Bluesky's own PDS
and AppView (with the chat double for direct messages: a message sent to the bot, to its
answer in the conversation), and the Mastodon-API test server as Mastodon, GoToSocial and
Akkoma.

Beside them, in the same run: the floor (a person's own post and a read back, the servers'
round trip), and the Mastodon bot polling without a stream (the Mastodon profile; every
profile with ``--all-baselines``). Printed: median and 95th percentile, in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bsky_service.adapter import BlueskyAdapter  # noqa: E402
from bsky_service.lexicon import Lexicons  # noqa: E402
from mastodon_bot import adapter as mastodon_adapter  # noqa: E402
from mastodon_bot.adapter import MastodonAdapter  # noqa: E402
from shared.bot.handlers import default_registry  # noqa: E402
from shared.config import DEFAULT_BSKY_POLL_SEC as POLL_SEC  # noqa: E402
from shared.db import migrate  # noqa: E402
from shared.db.engine import create_sync_engine  # noqa: E402
from shared.service import Service  # noqa: E402
from shared.stores import Stores  # noqa: E402
from tests.background import BackgroundApp  # noqa: E402
from tests.mastodon_world import MastodonWorld  # noqa: E402
from testworld.bluesky.chat import ChatDouble  # noqa: E402
from testworld.bluesky.install import ensure_installed  # noqa: E402
from testworld.bluesky.network import BlueskyDevNetwork  # noqa: E402
from testworld.bluesky.people import PASSWORD, create_person  # noqa: E402
from testworld.mastodon.people import create_person as create_mastodon_person  # noqa: E402
from testworld.mastodon.profiles import PROFILES, Quirks  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Engine

    from shared.protocol import Protocol
    from testworld.bluesky.people import Person

WAIT_SEC = 60.0
CHECK_SEC = 0.005


class Running:
    """The service on an event loop of its own thread, while the benchmark plays people."""

    def __init__(self, make_adapter: Callable[[Engine], Protocol], folder: Path) -> None:
        engine = create_sync_engine(f"sqlite:///{folder / 'bench.db'}")
        migrate.upgrade(engine)
        self.adapter = make_adapter(engine)
        self.service = Service(engine, [self.adapter], default_registry())
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Running:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.service.start(), self._loop).result(WAIT_SEC)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self.service.stop(), self._loop).result(WAIT_SEC)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(WAIT_SEC)


def wait_for(done: Callable[[], bool], pause_sec: float = CHECK_SEC) -> None:
    deadline = time.monotonic() + WAIT_SEC
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("no answer in time")
        time.sleep(pause_sec)


def timed(
    send: Callable[[], Any], arrived: Callable[[Any], bool], pause_sec: float, phase_sec: float = 0
) -> float:
    """Milliseconds from ``send()`` to ``arrived``; first a random pause of up to
    ``phase_sec`` (not counted), so that posts fall at any moment of a polling cycle."""
    time.sleep(random.uniform(0, phase_sec))  # noqa: S311  (not cryptography)
    started = time.perf_counter()
    sent = send()
    wait_for(lambda: arrived(sent), pause_sec)
    return (time.perf_counter() - started) * 1000


def mastodon_latencies(
    quirks: Quirks, posts: int, *, floor: bool = False, phase_sec: float = 0
) -> list[float]:
    """Answers on a Mastodon-API server of this kind (``floor``: a person's own post and
    its reading back, no bot)."""
    world = MastodonWorld(quirks, bot_flagged=False)
    alice = world.alice_person

    def answered(status: Any) -> bool:
        return any(
            s.in_reply_to is not None and s.in_reply_to.id == status.id
            for s in list(world.server.statuses.values())
        )

    try:
        if floor:
            return [
                timed(
                    functools.partial(alice.post, f"hello {n}"),
                    lambda s: bool(alice.client.status(s.id)),
                    CHECK_SEC,
                )
                for n in range(posts)
            ]
        with tempfile.TemporaryDirectory() as folder:
            running = Running(
                lambda engine: MastodonAdapter(Stores.of(engine, None), world.url, world.bot.token),
                Path(folder),
            )
            with running:
                bot = running.adapter
                if quirks.streaming:
                    assert isinstance(bot, MastodonAdapter)
                    wait_for(bot.streaming.is_set)
                # One person each: the bot answers a flood from one account only once.
                people = [
                    create_mastodon_person(world.server, world.url, f"reader{n}")
                    for n in range(posts)
                ]
                return [
                    timed(
                        functools.partial(people[n].post, f"@helloquittex help {n}"),
                        answered,
                        CHECK_SEC,
                        phase_sec,
                    )
                    for n in range(posts)
                ]
    finally:
        world.stop()


def bluesky_latencies(
    network: BlueskyDevNetwork, posts: int, *, floor: bool = False, messages: bool = False
) -> list[float]:
    assert network.urls is not None
    bot = create_person(network, f"latbot{time.monotonic_ns() % 10**8}")
    alice = create_person(network, f"latalice{time.monotonic_ns() % 10**8}")
    # A few people take turns: the bot answers a flood from one account only once.
    people = [create_person(network, f"lat{n}x{time.monotonic_ns() % 10**8}") for n in range(4)]

    def answered(created: Any) -> bool:
        listed = bot.client.com.atproto.repo.list_records(
            {"repo": bot.did, "collection": "app.bsky.feed.post", "limit": 5}
        )
        return any(
            r.value.reply and r.value.reply.parent.uri == created.uri for r in listed.records
        )

    def seen(created: Any) -> bool:  # the AppView shows her own post
        return bool(alice.client.app.bsky.feed.get_posts({"uris": [created.uri]}).posts)

    if floor:
        return [
            timed(functools.partial(alice.post, f"hello {n}"), seen, 0.02) for n in range(posts)
        ]
    pds = network.urls.pds
    chat = _ChatService(network) if messages else None
    with (
        tempfile.TemporaryDirectory() as folder,
        Running(
            lambda engine: BlueskyAdapter(
                Stores.of(engine, None), pds, bot.handle, PASSWORD,
                chat_proxy=chat.proxy if chat else None,
            ),
            Path(folder),
        ),
    ):  # fmt: skip
        try:
            if chat is not None:
                return [
                    timed(*_message(chat, people[n % 4], bot, n), 0.02, POLL_SEC)
                    for n in range(posts)
                ]
            return [
                timed(
                    functools.partial(people[n % 4].post, f"help {n}", mention=bot),
                    answered,
                    0.02,
                    POLL_SEC,
                )
                for n in range(posts)
            ]
        finally:
            if chat is not None:
                chat.server.stop()


class _ChatService:
    """Bluesky's chat service (the double of its lexicon) served and registered."""

    def __init__(self, network: BlueskyDevNetwork) -> None:
        assert network.urls is not None
        lexicons = Lexicons.from_json_file(ensure_installed().lexicons_path())
        double = ChatDouble(lexicons, network.urls.plc, network.urls.appview)
        self.server = BackgroundApp(double.app()).start()
        self.proxy = double.register(network, self.server.url)


def _message(
    chat: _ChatService, person: Person, bot: Person, n: int
) -> tuple[Callable[[], Any], Callable[[Any], bool]]:
    """Sending a message to the bot, and whether its answer came after it."""
    convo = person.chat(chat.proxy).convo
    convo_id = convo.get_convo_for_members({"members": [bot.did]}).convo.id

    def send() -> str:
        sent = convo.send_message({"convoId": convo_id, "message": {"text": f"help {n}"}})
        return str(sent.id)

    def answered(sent_id: str) -> bool:
        for message in convo.get_messages({"convoId": convo_id}).messages:  # newest first
            if message.id == sent_id:
                return False
            if message.sender.did == bot.did:
                return True
        return False

    return send, answered


def report(name: str, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(
        f"{name:<46} median {statistics.median(ordered):8.0f} ms   p95 {p95:8.0f} ms   "
        f"({len(ordered)} posts)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--no-bluesky", action="store_true")
    parser.add_argument("--no-mastodon", action="store_true")
    parser.add_argument("--all-baselines", action="store_true")
    parser.add_argument("--baseline-posts", type=int, default=10)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    profiles: dict[str, Quirks] = {} if args.no_mastodon else PROFILES
    for name, quirks in profiles.items():
        report(
            f"mastodon/{name}: floor (post, read back)",
            mastodon_latencies(quirks, args.posts, floor=True),
        )
        report(f"mastodon/{name}: hqx answer", mastodon_latencies(quirks, args.posts))
        if args.all_baselines or name == "mastodon":
            polling = replace(quirks, sse=False, websocket=False)
            polled = mastodon_latencies(
                polling, args.baseline_posts, phase_sec=mastodon_adapter.POLL_INTERVAL_SEC
            )
            report(f"mastodon/{name}: baseline, polling only", polled)
    if not args.no_bluesky:
        with BlueskyDevNetwork(ensure_installed()) as network:
            report(
                "bluesky: floor (post, AppView shows it)",
                bluesky_latencies(network, args.posts, floor=True),
            )
            report("bluesky: hqx answer", bluesky_latencies(network, args.posts))
            report(
                "bluesky: hqx answer to a message",
                bluesky_latencies(network, args.posts, messages=True),
            )
    print(
        f"(Bluesky read every {POLL_SEC:g} s: {2 * 300 / POLL_SEC:,.0f} requests in 5 minutes "
        "with messages, of the 3,000 Bluesky's PDS allows an address)"
    )


if __name__ == "__main__":
    main()
