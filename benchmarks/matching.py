"""Benchmark: matching people's former X contacts, full and incremental, beside the store's
own bulk write of the same matches.

    python benchmarks/matching.py [--persons 100000] [--edges 10000000] [--no-postgres]

A synthetic service: ``--persons`` people with a network account and an X account each, a
fifth of them having uploaded an archive; the archives hold ``--edges`` follow edges in all,
towards a universe of ten times as many X accounts (most not on the service: the watch
list), popular accounts drawn more often (a power law). Measured on SQLite and on
PostgreSQL (a local server): a full match (the cutover's,
:func:`shared.reconnection.matching.match_all`) beside the store writing the same matches
into the same table its own fastest way (SQLite: one sorted ``executemany``; PostgreSQL:
``COPY``), in the same run; the daily re-match with nothing new (the matches of the people
whose accounts or archives changed: none); the full rebuild again (``hqx reconnect
match``, an operator's command); then one new person linking
(:func:`shared.reconnection.matching.match_person`: their archive, and the archives that
list them), beside the count of edges they touch (what it should be proportional to).
Matches are counted in follows between two people (each a contact of both).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from shared.db import bulk, migrate  # noqa: E402
from shared.db.engine import create_sync_engine  # noqa: E402
from shared.reconnection import matching  # noqa: E402
from shared.vocabulary import Direction  # noqa: E402

FIRST_X = 10_000_000
NEWCOMERS = 9
"""People without an X account when the full match runs: they link one after the other."""


def graph(persons: int, edges: int, seed: int = 1) -> dict[int, dict[int, np.ndarray]]:
    """Archives: uploader X id -> direction -> sorted unique other X ids."""
    rng = np.random.default_rng(seed)
    universe = persons * 10
    uploaders = rng.choice(persons, size=max(1, persons // 5), replace=False)
    per = max(1, edges // (2 * len(uploaders)))
    archives: dict[int, dict[int, np.ndarray]] = {}
    for owner in uploaders:
        archives[FIRST_X + int(owner)] = {
            int(d): _distinct(rng, per, universe) for d in (Direction.FOLLOWER, Direction.FOLLOWING)
        }
    return archives


def _distinct(rng: np.random.Generator, count: int, universe: int) -> np.ndarray:
    """``count`` distinct X ids (fewer if the universe is smaller): popular accounts drawn
    far more often (a power law), the long tail filling up to the count."""
    popular = np.unique((rng.zipf(1.3, count) - 1) % universe)
    tail = rng.choice(universe, size=min(universe, count * 2), replace=False)
    ids = np.concatenate([popular, tail[~np.isin(tail, popular)][: max(0, count - len(popular))]])
    return np.sort(FIRST_X + ids).astype(np.uint64)


def load(url: str, persons: int, archives: dict[int, dict[int, np.ndarray]]) -> Any:
    engine = create_sync_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO person (id, kind, reconnect, stopped, created_at) "
                "VALUES (:id, 'individual', 'both', false, CURRENT_TIMESTAMP)"
            ),
            [{"id": n + 1} for n in range(persons)],
        )
        connection.execute(
            text(
                "INSERT INTO identity (person_id, network, subject, handle, trust, created_at,"
                " updated_at) VALUES (:p, 'mastodon', :s, :s, 'proven', CURRENT_TIMESTAMP,"
                " CURRENT_TIMESTAMP)"
            ),
            [{"p": n + 1, "s": f"https://m.test/users/p{n}"} for n in range(persons)],
        )
        connection.execute(
            text(
                "INSERT INTO x_identity (x_account_id, person_id, username, trust, created_at,"
                " updated_at) VALUES (:x, :p, :u, 'claimed', CURRENT_TIMESTAMP,"
                " CURRENT_TIMESTAMP)"
            ),
            [{"x": FIRST_X + n, "p": n + 1, "u": f"p{n}"} for n in range(persons - NEWCOMERS)],
        )
        for owner, by_direction in archives.items():
            for direction, others in by_direction.items():
                bulk.insert_edges(connection, owner, Direction(direction), [others])
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("ANALYZE"))
    return engine


def timed(step: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = step()
    return time.perf_counter() - started, result


def bulk_write(engine: Any) -> tuple[float, int]:
    """The matches written again into the emptied ``x_match`` table, the store's fastest
    way, sorted by its key (what a full match cannot beat: the write alone)."""
    with engine.connect() as connection:
        pairs = connection.execute(
            text("SELECT follower_id, followee_id, found_at FROM x_match ORDER BY 1, 2")
        ).all()
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM x_match"))
    started = time.perf_counter()
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with (
                raw.cursor() as cursor,
                cursor.copy("COPY x_match (follower_id, followee_id, found_at) FROM STDIN") as copy,
            ):
                for row in pairs:
                    copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
        written = time.perf_counter() - started
        # Untimed: what autovacuum does after such a rewrite (the dead rows it left would
        # slow the next steps' index reads, which a service never rewriting x_match has not).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE x_match"))
        return written, len(pairs)
    else:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO x_match (follower_id, followee_id, found_at) VALUES (?, ?, ?)",
                [tuple(row) for row in pairs],
            )
    return time.perf_counter() - started, len(pairs)


def link(engine: Any, person: int) -> tuple[float, matching.Matched]:
    """A person's X account stored (as a proof does), then their matches recomputed."""
    with Session(engine) as session, session.begin():
        session.execute(
            text(
                "INSERT INTO x_identity (x_account_id, person_id, username, trust, created_at,"
                " updated_at) VALUES (:x, :p, 'new', 'claimed', CURRENT_TIMESTAMP,"
                " CURRENT_TIMESTAMP)"
            ),
            {"x": FIRST_X + person - 1, "p": person},
        )
    return timed(lambda: matching.match_person(engine, person))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--edges", type=int, default=10_000_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    archives = graph(args.persons, args.edges)
    total = sum(len(o) for d in archives.values() for o in d.values())
    newcomers = range(args.persons - NEWCOMERS + 1, args.persons + 1)  # person ids
    touching = {  # the edges each one's X account is on, either end
        p: sum(int(np.isin(np.uint64(FIRST_X + p - 1), o)) for d in archives.values()
               for o in d.values())
        + sum(len(o) for o in archives.get(FIRST_X + p - 1, {}).values())
        for p in newcomers
    }  # fmt: skip
    print(f"{args.persons:,} persons, {len(archives):,} archives, {total:,} edges")
    with tempfile.TemporaryDirectory() as folder:
        databases = [("sqlite", f"sqlite:///{Path(folder) / 'bench.db'}")]
        server = None
        if not args.no_postgres:
            from testworld.bluesky.services import PostgresServer

            server = PostgresServer().start()
            databases.append(("postgresql", server.create_database("hqx_bench")))
        try:
            for name, url in databases:
                engine = load(url, args.persons, archives)
                took, run = timed(lambda e=engine: matching.match_all(e))
                written, _ = bulk_write(engine)
                print(
                    f"  {name:10} full match {took:8.2f} s  {run.total:,} matches; "
                    f"the store's bulk write of them {written:.2f} s (x{took / written:.2f})"
                )
                took, _ = timed(lambda e=engine: matching.run_requested(e))
                print(f"  {name:10} daily re-match, nothing new {took * 1000:8.1f} ms")
                took, run = timed(lambda e=engine: matching.match_all(e))
                print(
                    f"  {name:10} full rebuild again {took:8.2f} s  {run.found:,} new "
                    "(hqx reconnect match)"
                )
                linking = [link(engine, person) for person in newcomers]
                found = sum(run.found for _took, run in linking)
                median = statistics.median(t for t, _ in linking) * 1000
                slowest = max(t for t, _ in linking) * 1000
                print(
                    f"  {name:10} one person linking {median:8.1f} ms median, {slowest:.1f} ms "
                    f"max, of {NEWCOMERS}: {found} new matches ({sum(touching.values())} edges "
                    "touch them)"
                )
                engine.dispose()
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
