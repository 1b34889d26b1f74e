"""Faults: the Mastodon server and Bluesky's PDS each behind a proxy that resets
connections, loses answers after the server acted, never answers, answers 503 and 429, one
after the other; then PostgreSQL restarted under the processes. The work completes once the
faults end, no action repeated."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from shared.db.engine import create_sync_engine
from shared.db.models import OutboundAction
from tests.background import BackgroundApp
from tests.reliability.cluster import (
    Crowd,
    answer_times,
    percentile,
    report,
    start_cluster,
    unanswered_and_twice,
    what_was_lost,
)
from testworld.bluesky.services import PostgresServer
from testworld.faults import FaultProxy

if TYPE_CHECKING:
    from pathlib import Path

    from tests.mastodon_world import MastodonWorld
    from testworld.bluesky.network import BlueskyDevNetwork

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.reliability]

PEOPLE, EACH, WITHIN_SEC = 30, 4, 60.0
# A request held by "timeout" holds its process's sends for the client's timeout (30 s):
# it comes last, so that the other faults meet requests.
SCHEDULE = (("lost-answer", 10.0), ("reset", 8.0), ("503", 8.0), ("429", 8.0), ("timeout", 8.0))
FAULT_AT_MOST_SEC = 90.0
DATABASE_DOWN_SEC = 3.0
ANSWERED_WITHIN_SEC = 300.0


def test_network_faults_and_a_database_restart_end_with_the_work_done_once(
    bluesky: BlueskyDevNetwork, mastodon: MastodonWorld, tmp_path: Path
) -> None:
    postgres = PostgresServer().start()  # its own: restarted under the processes
    assert bluesky.urls is not None
    proxies = {
        "mastodon": FaultProxy(mastodon.url),
        "bluesky": FaultProxy(bluesky.urls.pds, network="bluesky"),
    }
    fronts = {network: BackgroundApp(p.app()).start() for network, p in proxies.items()}
    database = postgres.create_database("hqx_faults")
    cluster = start_cluster(
        bluesky, mastodon, database, tmp_path, {"bots": 2, "work": 2},
        mastodon_api=fronts["mastodon"].url, bluesky_pds=fronts["bluesky"].url,
    )  # fmt: skip
    ended: list[float] = []
    try:
        crowd = Crowd(cluster, PEOPLE)
        faults = threading.Thread(target=_faults, args=(list(proxies.values()), postgres, ended))
        faults.start()
        crowd.mention_all(EACH, WITHIN_SEC)
        faults.join()
        answers = crowd.until_answered(ANSWERED_WITHIN_SEC)
        lost = what_was_lost(crowd, answers)  # before the database goes
        statuses = _until_settled(database, ANSWERED_WITHIN_SEC)
        finished = time.monotonic()
    finally:
        cluster.stop()
        for front in fronts.values():
            front.stop()
        postgres.stop()
    unanswered, twice = unanswered_and_twice(crowd, answers)
    assert (unanswered, twice) == (0, 0), ("the work done once the faults ended, none twice", lost)
    assert set(statuses) == {"done"}, f"every action done, none failed: {statuses}"
    for network, proxy in proxies.items():
        assert all(proxy.seen[mode] > 0 for mode, _ in SCHEDULE), (network, proxy.seen)
    met = "; ".join(
        f"{network} requests met " + ", ".join(f"{mode} {proxy.seen[mode]}" for mode, _ in SCHEDULE)
        for network, proxy in proxies.items()
    )
    report(
        f"faults: {len(crowd.mentions)} mentions; {met}; PostgreSQL down "
        f"{DATABASE_DOWN_SEC:.0f} s; all answered once, "
        f"the outbox empty {finished - ended[0]:.0f} s after the last fault"
    )
    for network, took in answer_times(crowd, answers).items():
        report(
            f"faults: answers on {network}: p50 {percentile(took, 0.5):.1f} s, "
            f"p95 {percentile(took, 0.95):.1f} s, max {max(took):.1f} s"
        )


def _faults(proxies: list[FaultProxy], postgres: PostgresServer, ended: list[float]) -> None:
    time.sleep(5.0)
    for mode, seconds in SCHEDULE:
        for proxy in proxies:
            proxy.mode = mode
        time.sleep(seconds)
        # A client that failed waits longer each time: the fault lasts until each network's
        # clients met it.
        until = time.monotonic() + FAULT_AT_MOST_SEC
        while time.monotonic() < until and not all(proxy.seen[mode] for proxy in proxies):
            time.sleep(0.5)
    for proxy in proxies:
        proxy.mode = "pass"
    postgres.restart(DATABASE_DOWN_SEC)
    ended.append(time.monotonic())


def _until_settled(database: str, timeout_sec: float) -> dict[str, int]:
    """The outbox's actions by state, once none waits for a retry (or the time is out): an
    answer whose confirmation was lost is found on its retry, after the backoff."""
    deadline = time.monotonic() + timeout_sec
    while True:
        statuses = _statuses(database)
        if not {"pending", "sending"} & set(statuses) or time.monotonic() > deadline:
            return statuses
        time.sleep(1.0)


def _statuses(database: str) -> dict[str, int]:
    engine = create_sync_engine(database)
    try:
        with Session(engine) as session:
            rows = session.exec(
                select(OutboundAction.status, func.count()).group_by(OutboundAction.status)
            ).all()
        return {str(status): count for status, count in rows}
    finally:
        engine.dispose()
