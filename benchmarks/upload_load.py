"""Benchmark: the bots and the portal while many people upload their X archives at once.

    python benchmarks/upload_load.py [--uploads 20] [--followers 200000] [--asks 10]

The service runs as ``hqx run`` does (SQLite, the Mastodon bot streaming from the local
Mastodon-API test server, the portal with its default import settings). Measured, with
nothing else going on (the baseline) and then while ``--uploads`` people send archives of
``--followers`` followers each, all at once: how long a person waits for the bot's answer to
a mention, and how long the upload page takes to load. Printed: median and 95th percentile
in milliseconds, and how long the uploads took in all.
"""

from __future__ import annotations

import argparse
import asyncio
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

import aiohttp  # noqa: E402
from sqlmodel import Session  # noqa: E402

from hqx.app import create_app, server_options  # noqa: E402
from shared.clock import utcnow  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.db import migrate  # noqa: E402
from shared.db.engine import create_sync_engine  # noqa: E402
from shared.db.models import Person  # noqa: E402
from shared.portal import uploads  # noqa: E402
from shared.xarchive.sample import random_ids, write_archive  # noqa: E402
from tests.mastodon_world import MastodonWorld  # noqa: E402
from testworld.bluesky.services import free_port  # noqa: E402
from testworld.mastodon.people import create_person  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable

WAIT_SEC = 120.0
KEY = "a-benchmark-secret-key-0123456789-abcdef"


class Portal:
    """``hqx run``'s application on an event loop of its own thread."""

    def __init__(self, settings: Settings) -> None:
        self.port = settings.http_port
        self._app = create_app(settings)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: Any = None

    async def _start(self) -> None:
        from aiohttp import web

        self._runner = web.AppRunner(self._app, **server_options())
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def __enter__(self) -> Portal:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(WAIT_SEC)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(WAIT_SEC)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(WAIT_SEC)


def wait_for(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_SEC
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("not in time")
        time.sleep(0.005)


def answer_ms(world: MastodonWorld, n: int) -> float:
    # One person each: the bot answers a flood from one account only once.
    asker = create_person(world.server, world.url, f"reader{n}")
    started = time.perf_counter()
    status = asker.post(f"@helloquittex help {n}")
    wait_for(lambda: bool(asker.answers_to(status)))
    return (time.perf_counter() - started) * 1000


def page_ms(url: str) -> float:
    import urllib.request

    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=WAIT_SEC) as response:  # noqa: S310  (http only)
        response.read()
    return (time.perf_counter() - started) * 1000


async def upload_all(base: str, tokens: list[str], archives: list[bytes]) -> list[int]:
    async def settled(session: aiohttp.ClientSession, url: str, text: str) -> tuple[int, str]:
        """The archive's page once read (or imported): it refreshes itself until then."""
        status = 200
        while 'http-equiv="refresh"' in text:
            await asyncio.sleep(2.0)  # as the page asks a browser to
            async with session.get(url) as again:
                status, text = again.status, await again.text()
        return status, text

    async def one(session: aiohttp.ClientSession, token: str, archive: bytes) -> int:
        """Sent, read, confirmed and imported, as a person does it: the last page's status."""
        form = aiohttp.FormData()
        form.add_field("archive", archive, filename="twitter.zip")
        async with session.post(f"{base}/x/upload/{token}", data=form) as response:
            url, text = str(response.url), await response.text()
        status, text = await settled(session, url, text)
        if status != 200 or "/archive/" not in url:
            return status
        async with session.post(url, data={"action": "import"}) as response:
            text = await response.text()
        status, text = await settled(session, url, text)
        return status if "imported" in text else 500

    timeout = aiohttp.ClientTimeout(total=3600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        return list(
            await asyncio.gather(
                *(one(session, t, a) for t, a in zip(tokens, archives, strict=True))
            )
        )


def summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"  {name:32} median {statistics.median(values):8.0f} ms   p95 {p95:8.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--followers", type=int, default=200_000)
    parser.add_argument("--asks", type=int, default=10)
    args = parser.parse_args()
    world = MastodonWorld()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        url = f"sqlite:///{root / 'bench.db'}"
        engine = create_sync_engine(url)
        migrate.upgrade(engine)
        with Session(engine) as session, session.begin():
            people = [Person() for _ in range(args.uploads + 1)]  # one to load the page
            session.add_all(people)
            session.flush()
            tokens = [uploads.issue(session, p.id or 0, now=utcnow()) for p in people]
        archives = []
        for n in range(args.uploads):
            ids = list(random_ids(args.followers, seed=n))
            path = root / f"twitter-{n}.zip"
            write_archive(path, 10_000_000 + n, f"quitter{n}", ids, ids[: args.followers // 4])
            archives.append(path)
        settings = Settings(
            database_url=url,
            secret_key=KEY,
            public_url=f"http://127.0.0.1:{free_port()}",
            mastodon_api_base_url=world.url,
            mastodon_access_token=world.bot.token,
            links_per_minute=10_000,  # everyone here is one address: no pacing measured
        )
        settings = replace(settings, http_port=int((settings.public_url or "").split(":")[-1]))
        base = settings.public_url or ""
        print(f"{args.uploads} uploads of {args.followers:,} followers each "
              f"({sum(a.stat().st_size for a in archives) / 1e6:.1f} MB in all)")  # fmt: skip
        with Portal(settings):
            wait_for(lambda: world.server.open_streams >= 1)
            page, tokens = f"{base}/x/upload/{tokens[-1]}", tokens[:-1]
            bodies = [a.read_bytes() for a in archives]
            idle_answers = [answer_ms(world, n) for n in range(args.asks)]
            idle_pages = [page_ms(page) for _ in range(args.asks)]
            results: list[int] = []
            started = time.perf_counter()
            loader = threading.Thread(
                target=lambda: results.extend(asyncio.run(upload_all(base, tokens, bodies)))
            )
            loader.start()
            busy_answers: list[float] = []
            busy_pages: list[float] = []
            while loader.is_alive() and len(busy_answers) < args.asks:
                busy_answers.append(answer_ms(world, 100 + len(busy_answers)))
                busy_pages.append(page_ms(page))
            loader.join()
            took = time.perf_counter() - started
        print("Baseline: nothing else going on")
        print(summary("bot's answer to a mention", idle_answers))
        print(summary("upload page", idle_pages))
        print(f"While {args.uploads} archives upload and import ({len(busy_answers)} asks)")
        if busy_answers:
            print(summary("bot's answer to a mention", busy_answers))
            print(summary("upload page", busy_pages))
        print(f"  uploads: {results.count(200)} of {len(results)} imported in {took:.1f} s")
        engine.dispose()
    world.stop()


if __name__ == "__main__":
    main()
