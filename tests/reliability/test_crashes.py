"""Crashes: while the crowd mentions both bots, a work or bots process is killed with SIGKILL
at random moments, twenty times, and started again at once (as a supervisor does), during
receiving and during delivery: nothing lost, nothing sent twice; how long the bots' seats
stay empty, measured."""

from __future__ import annotations

import os
import random
import signal
import statistics
import threading
import time
from typing import TYPE_CHECKING

import pytest

from shared.vocabulary import Network
from tests.reliability.cluster import (
    Crowd,
    answer_times,
    percentile,
    report,
    start_cluster,
    unanswered_and_twice,
    what_was_lost,
)
from testworld.processes import active_bots

if TYPE_CHECKING:
    from pathlib import Path

    from tests.mastodon_world import MastodonWorld
    from tests.reliability.cluster import Cluster
    from testworld.bluesky.network import BlueskyDevNetwork
    from testworld.bluesky.services import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.reliability]

PEOPLE, EACH, WITHIN_SEC = 60, 4, 90.0
KILLS = 20
ANSWERED_WITHIN_SEC = 300.0
SEAT_BOUND_SEC = 30.0


def test_twenty_random_sigkills_lose_nothing_and_send_nothing_twice(
    bluesky: BlueskyDevNetwork, mastodon: MastodonWorld, postgres: PostgresServer, tmp_path: Path
) -> None:
    database = postgres.create_database("hqx_crashes")
    cluster = start_cluster(bluesky, mastodon, database, tmp_path, {"bots": 2, "work": 2})
    chaos = Chaos(cluster, random.Random(20))  # noqa: S311  (the same moments each run)
    try:
        crowd = Crowd(cluster, PEOPLE)
        killing = threading.Thread(target=chaos.run, args=(KILLS, WITHIN_SEC))
        killing.start()
        crowd.mention_all(EACH, WITHIN_SEC)
        killing.join()
        answers = crowd.until_answered(ANSWERED_WITHIN_SEC)
        lost = what_was_lost(crowd, answers)  # before the database goes
    finally:
        chaos.stop = True
        cluster.stop()
    assert chaos.kills == KILLS and len(crowd.mentions) == 2 * PEOPLE * EACH
    unanswered, twice = unanswered_and_twice(crowd, answers)
    assert (unanswered, twice) == (0, 0), ("nothing lost, nothing sent twice", lost)
    empty = chaos.seat_empty_sec
    assert empty and max(empty) <= SEAT_BOUND_SEC, empty
    report(
        f"crashes: {KILLS} SIGKILLs ({chaos.kills_by_role['bots']} bots, "
        f"{chaos.kills_by_role['work']} work) among {len(crowd.mentions)} mentions: 0 lost, "
        f"0 twice; a killed active bot's seat taken again in median "
        f"{statistics.median(empty):.1f} s, max {max(empty):.1f} s"
    )
    for network, took in answer_times(crowd, answers).items():
        report(
            f"crashes: answers on {network} under the kills: p50 {percentile(took, 0.5):.1f} s, "
            f"p95 {percentile(took, 0.95):.1f} s, max {max(took):.1f} s"
        )


class Chaos:
    """Kills processes at random moments and starts them again at once."""

    def __init__(self, cluster: Cluster, rng: random.Random) -> None:
        self.cluster, self.rng = cluster, rng
        self.kills = 0
        self.kills_by_role = {"bots": 0, "work": 0}
        self.seat_empty_sec: list[float] = []
        self.stop = False

    def run(self, kills: int, within_sec: float) -> None:
        moments = sorted(self.rng.uniform(0, within_sec) for _ in range(kills))
        started = time.monotonic()
        for moment in moments:
            wait = started + moment - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if self.stop:
                return
            self._kill_one()

    def _kill_one(self) -> None:
        processes = self.cluster.processes
        role = self.rng.choice(["bots", "work"])
        network = self.rng.choice([Network.BLUESKY, Network.MASTODON])
        alive = [p for p in processes.processes[role] if p.poll() is None]
        victim = self.rng.choice(alive)
        active = role == "bots" and self._active(network) == victim.pid
        if role == "bots" and self.rng.random() < 0.5:  # the active one, half the time
            active_pid = self._active(network)
            victim = next((p for p in alive if p.pid == active_pid), victim)
            active = victim.pid == active_pid
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        killed_at = time.monotonic()
        processes.start_one(role)  # the supervisor's restart
        self.kills += 1
        self.kills_by_role[role] += 1
        if active:
            self.seat_empty_sec.append(self._reseated(network, victim.pid) - killed_at)

    def _active(self, network: Network) -> int | None:
        try:
            return active_bots(self.cluster.database_url, network)
        except Exception:  # nobody holds it this instant
            return None

    def _reseated(self, network: Network, killed: int) -> float:
        """When another live process holds the seat again."""
        deadline = time.monotonic() + 2 * SEAT_BOUND_SEC
        while time.monotonic() < deadline:
            pid = self._active(network)
            if pid is not None and pid != killed:
                return time.monotonic()
            time.sleep(0.1)
        return time.monotonic()
