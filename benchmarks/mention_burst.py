"""Benchmark: a burst of mentions (a campaign's first hour) through the core, beside a baseline.

    python benchmarks/mention_burst.py [--posts 2000] [--no-postgres]

Every post goes through what the service does with it: parse, record it once (the inbound
row), answer (help), queue the answer in the outbox, and deliver it to a network that costs
nothing (a recording fake), so what is measured is the service's own work. Each post is
its own transaction, as in production. The baseline, in the same run and database, is the
floor of that design: one committed transaction per post that inserts one row.

Reported: posts per second and milliseconds per post, for handling alone and with delivery,
on SQLite (a file) and PostgreSQL (a local server started for the run).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from shared.bot.handlers import default_registry  # noqa: E402
from shared.db import migrate  # noqa: E402
from shared.db.engine import create_sync_engine  # noqa: E402
from shared.protocol import Author, IncomingPost  # noqa: E402
from shared.service import Service  # noqa: E402
from shared.vocabulary import Network  # noqa: E402
from tests.fakes import FakeAdapter  # noqa: E402
from testworld.bluesky.services import PostgresServer  # noqa: E402

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def posts(count: int) -> list[IncomingPost]:
    # Distinct authors: one person's flood would be throttled, which is not what is measured.
    return [
        IncomingPost(
            network=Network.MASTODON,
            post_id=str(110_000_000_000 + n),
            author=Author(f"https://m.test/users/p{n}", f"p{n}@m.test"),
            text="aide",
            languages=("fr",),
            reply_context={"status_id": str(n), "visibility": "public"},
        )
        for n in range(count)
    ]


def baseline(engine: Engine, count: int) -> float:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE bench_floor (id BIGINT PRIMARY KEY, who TEXT)"))
    started = time.perf_counter()
    for n in range(count):
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO bench_floor VALUES (:id, :who)"), {"id": n, "who": f"p{n}"}
            )
    return time.perf_counter() - started


def through_the_core(engine: Engine, count: int) -> tuple[float, float, int]:
    adapter = FakeAdapter()
    service = Service(engine, [adapter], default_registry(), "k" * 40)
    burst = posts(count)

    async def run() -> tuple[float, float]:
        started = time.perf_counter()
        for post in burst:
            await service.receive(post)
        handled = time.perf_counter() - started
        await service.deliver_due()
        while await service.deliver_due():
            pass
        return handled, time.perf_counter() - started

    handled, total = asyncio.run(run())
    return handled, total, len(adapter.sent)


def measure(name: str, url: str, count: int) -> None:
    engine = create_sync_engine(url)
    migrate.upgrade(engine)
    floor = baseline(engine, count)
    handled, total, sent = through_the_core(engine, count)
    engine.dispose()
    assert sent == count, f"{sent} of {count} answers delivered"
    for label, seconds in (
        ("baseline: one insert per txn", floor),
        ("hqx: handle (record+answer+queue)", handled),
        ("hqx: handle + deliver", total),
    ):
        print(
            f"{name:10} {label:36} {count / seconds:10,.0f} posts/s "
            f"{1000 * seconds / count:8.2f} ms/post"
        )
    print(f"{'':10} handling costs {handled / floor:.1f}x the floor")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        measure("sqlite", f"sqlite:///{Path(folder) / 'bench.db'}", args.posts)
    if not args.no_postgres:
        server = PostgresServer().start()
        try:
            measure("postgresql", server.create_database("bench"), args.posts)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
