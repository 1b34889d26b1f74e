"""Benchmark: the home page, its first byte and its weight, beside the portal's floor.

    python benchmarks/home_page.py [--people 17000] [--requests 300]

The whole application (portal and service, no bot) on SQLite, holding ``--people`` people
and a match each; measured from a client on the same machine: the time to the first byte
of ``/`` (median, p95; a visitor right at the start apart: the figures are counted as the portal
starts, then in the background), beside ``/healthz`` (the
floor: a request through the same server) and the stylesheet (a static file); and the page's
weight with its stylesheet, the only thing it loads.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp.test_utils import TestServer  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlmodel import Session  # noqa: E402

from hqx.app import create_app  # noqa: E402
from shared.clock import utcnow  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.db import migrate  # noqa: E402
from shared.db.engine import create_sync_engine  # noqa: E402
from shared.db.models import Person, XMatch  # noqa: E402


def seed(url: str, people: int) -> None:
    engine = create_sync_engine(url)
    migrate.upgrade(engine)
    now = utcnow()
    template = Person().model_dump(exclude={"id"})
    with Session(engine) as session, session.begin():
        session.execute(insert(Person.__table__), [  # type: ignore[attr-defined]
            {**template, "id": n + 1, "created_at": now - timedelta(minutes=n)}
            for n in range(people)
        ])  # fmt: skip
        session.execute(insert(XMatch.__table__), [  # type: ignore[attr-defined]
            {"follower_id": n + 1, "followee_id": (n + 1) % people + 1, "found_at": now}
            for n in range(people)
        ])  # fmt: skip
    engine.dispose()


async def first_byte(http: aiohttp.ClientSession, url: str) -> tuple[float, int]:
    started = time.perf_counter()
    async with http.get(url) as answer:
        await answer.content.read(1)
        waited = time.perf_counter() - started
        body = await answer.read()
    return waited, len(body) + 1


async def measure(url: str, count: int) -> None:
    settings = Settings(database_url=url, cutover_at=utcnow() + timedelta(days=20))
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession() as http:
            cold, size = await first_byte(http, f"{base}/")
            _, style = await first_byte(http, f"{base}/static/style.css")
            paths = (("/healthz (floor)", "/healthz"), ("/static/style.css", "/static/style.css"),
                     ("/ (home)", "/"))  # fmt: skip
            for label, path in paths:
                times = [(await first_byte(http, base + path))[0] for _ in range(count)]
                times.sort()
                print(f"{label:22} first byte: median {1000 * statistics.median(times):6.1f} ms, "
                      f"p95 {1000 * times[int(0.95 * len(times)) - 1]:6.1f} ms")  # fmt: skip
            print(f"{'/ (at the start)':22} first byte {1000 * cold:6.1f} ms (the first count)")
            print(f"home page {size:,} bytes + stylesheet {style:,} bytes = {size + style:,} bytes")
    finally:
        await server.close()


def main(argv: Any = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=17_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'home.db'}"
        seed(url, args.people)
        print(f"{args.people:,} people, SQLite")
        asyncio.run(measure(url, args.requests))


if __name__ == "__main__":
    main()
