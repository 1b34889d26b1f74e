"""Benchmark: an outlet's audience page for an outlet with a million X followers here.

    python benchmarks/audience.py [--here 1000000] [--no-postgres]

The database holds the outlet, ``--here`` people who followed it on X (every one of them a
match, 70 % on Bluesky, 45 % on Mastodon), 60 % of them reconnected to it by one channel or
another, and a year of daily shares. Measured, median of 5: what the page reads (the
audience as last counted, :func:`shared.portal.audience.latest`), and the counting itself
(every figure and the daily series, what the work process does every ten minutes and a
page does when nothing was counted for half an hour), beside the floor in the same run and
database: counting the outlet's matches and deliveries once each (the rows any count must
read).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from shared.clock import utcnow  # noqa: E402
from shared.db import migrate  # noqa: E402
from shared.db.engine import create_sync_engine  # noqa: E402
from shared.db.models import Delivery, Identity, OutletTally, Person, XMatch  # noqa: E402
from shared.portal.audience import audience, keep, latest  # noqa: E402
from shared.vocabulary import Network, Tally, TrustLevel, Via  # noqa: E402
from testworld.bluesky.services import PostgresServer  # noqa: E402

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

CHUNK = 50_000
VIAS = (Via.LIST, Via.SHARED, Via.MESSAGE, Via.BRIDGE, Via.FOLLOWED, Via.FOLLOWS)


def _rows(model: Any, count: int, make: Any) -> Any:
    table = model.__table__
    for start in range(0, count, CHUNK):
        yield table, [make(n) for n in range(start, min(count, start + CHUNK))]


def build(engine: Engine, here: int) -> int:
    """The outlet (person 1) and its audience; returns the outlet's id."""
    now = utcnow()
    template = Person().model_dump(exclude={"id"})
    started = now - timedelta(days=365)

    def person(n: int) -> dict[str, Any]:
        return {**template, "id": n + 1, "created_at": now}

    def identity(n: int) -> dict[str, Any]:
        network = Network.BLUESKY if n % 100 < 70 else Network.MASTODON
        return {"person_id": n + 2, "network": network, "subject": f"s{n}", "handle": f"h{n}",
                "trust": TrustLevel.PROVEN, "created_at": now, "updated_at": now}  # fmt: skip

    def match(n: int) -> dict[str, Any]:
        return {"follower_id": n + 2, "followee_id": 1,
                "found_at": started + timedelta(minutes=n % (365 * 1440))}  # fmt: skip

    def delivery(n: int) -> dict[str, Any]:
        network = Network.BLUESKY if n % 100 < 70 else Network.MASTODON
        moment = now - timedelta(minutes=n % 9000)
        return {"person_id": n + 2, "contact_id": 1, "network": network,
                "via": VIAS[n % len(VIAS)], "delivered_at": moment}  # fmt: skip

    with Session(engine) as session, session.begin():
        for table, rows in _rows(Person, here + 1, person):
            session.execute(insert(table), rows)
        for table, rows in _rows(Identity, here, identity):
            session.execute(insert(table), rows)
        second = [
            {**identity(n), "network": Network.MASTODON, "subject": f"m{n}"}
            for n in range(here) if n % 100 < 15
        ]  # fmt: skip
        for start in range(0, len(second), CHUNK):
            session.execute(insert(Identity.__table__), second[start : start + CHUNK])  # type: ignore[attr-defined]
        for table, rows in _rows(XMatch, here, match):
            session.execute(insert(table), rows)
        for table, rows in _rows(Delivery, here * 6 // 10, delivery):
            session.execute(insert(table), rows)
        session.execute(insert(OutletTally.__table__), [  # type: ignore[attr-defined]
            {"person_id": 1, "day": (now - timedelta(days=d)).date(), "kind": Tally.SHARE,
             "count": d % 50} for d in range(365)
        ])  # fmt: skip
    return 1


def timed(work: Any, times: int = 5) -> float:
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def measure(name: str, url: str, here: int) -> None:
    engine = create_sync_engine(url)
    migrate.upgrade(engine)
    started = time.perf_counter()
    outlet = build(engine, here)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    print(f"{name:10} {here:,} followers here, built in {time.perf_counter() - started:.0f} s")
    today = utcnow().date()

    def floor() -> None:
        with Session(engine) as session:
            for query in ("SELECT count(*) FROM x_match WHERE followee_id = :o",
                          "SELECT count(*) FROM delivery WHERE contact_id = :o"):  # fmt: skip
                session.execute(text(query), {"o": outlet}).scalar_one()

    def count() -> None:
        with Session(engine) as session:
            seen = audience(session, outlet, today=today)
        assert seen.here == here and len(seen.days) == 366

    def page() -> None:
        with Session(engine) as session:
            assert latest(session, outlet).here == here

    base, counting = timed(floor), timed(count)
    with Session(engine) as session:
        keep(session, outlet)
    read = timed(page)
    print(f"{name:10} floor: the outlet's rows counted once    {1000 * base:8.1f} ms")
    print(f"{name:10} its page (the audience kept, read)       {1000 * read:8.1f} ms")
    print(f"{name:10} counting it (every 10 minutes)           {1000 * counting:8.1f} ms"
          f"   ({counting / base:.1f}x the floor)")  # fmt: skip
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--here", type=int, default=1_000_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        measure("sqlite", f"sqlite:///{Path(folder) / 'bench.db'}", args.here)
    if not args.no_postgres:
        server = PostgresServer().start()
        try:
            measure("postgresql", server.create_database("bench"), args.here)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
