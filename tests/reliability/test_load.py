"""A thousand mentions within a minute, across both bots, with two bots processes and two
work processes on PostgreSQL: each answered exactly once; the answer times, measured."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.reliability.cluster import (
    Crowd,
    answer_times,
    connections,
    percentile,
    report,
    start_cluster,
    unanswered_and_twice,
    usage,
    what_was_lost,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.mastodon_world import MastodonWorld
    from testworld.bluesky.network import BlueskyDevNetwork
    from testworld.bluesky.services import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.reliability]

PEOPLE = 100
"""People on each network; each mentions the bot five times (under the flood limit)."""
EACH = 5
WITHIN_SEC = 60.0
ANSWERED_WITHIN_SEC = 300.0


def test_a_thousand_mentions_in_a_minute_are_each_answered_once(
    bluesky: BlueskyDevNetwork, mastodon: MastodonWorld, postgres: PostgresServer, tmp_path: Path
) -> None:
    database = postgres.create_database("hqx_load")
    cluster = start_cluster(bluesky, mastodon, database, tmp_path, {"bots": 2, "work": 2})
    try:
        crowd = Crowd(cluster, PEOPLE)
        crowd.mention_all(EACH, WITHIN_SEC)
        answers = crowd.until_answered(ANSWERED_WITHIN_SEC)
        lost = what_was_lost(crowd, answers)  # before the database goes
        used, connected = usage(cluster.processes), connections(database)
    finally:
        cluster.stop()
    assert len(crowd.mentions) == 2 * PEOPLE * EACH
    unanswered, twice = unanswered_and_twice(crowd, answers)
    assert (unanswered, twice) == (0, 0), ("each mention answered, once", lost)
    for network, took in answer_times(crowd, answers).items():
        report(
            f"load: {len(took)} mentions on {network} in {WITHIN_SEC:.0f} s, two bots and two "
            f"work processes on PostgreSQL: answer p50 {percentile(took, 0.5):.1f} s, "
            f"p95 {percentile(took, 0.95):.1f} s, max {max(took):.1f} s"
        )
    for role, figures in used.items():
        report(
            f"load: a {role} process after it: "
            + ", ".join(f"{rss:.0f} MB resident, {cpu:.1f} s of CPU" for rss, cpu in figures)
        )
    report(f"load: {connected} connections open to PostgreSQL from the four processes")
