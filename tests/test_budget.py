"""The bot's write budget as the delivery plans against it: a day's allowance paced in its
first hours, every 24 hours within it, what is planned ahead taken first."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session

from shared.actions import WriteCollection
from shared.clock import utcnow
from shared.db.models import OutboundAction
from shared.protocol import WriteBudget
from shared.reconnection import budget
from shared.vocabulary import ActionStatus, Network

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.engine import Engine

BLUESKY = WriteBudget(per_hour=5_000, per_day=35_000)
"""4,000 points an hour and 28,000 a day once the reserve is kept."""


def planned(engine: Engine, *writes: tuple[datetime, int]) -> None:
    with Session(engine) as session, session.begin():
        for n, (when, cost) in enumerate(writes):
            session.add(
                OutboundAction(
                    idempotency_key=f"write:{when.isoformat()}:{n}",
                    network=Network.BLUESKY,
                    kind=WriteCollection.kind,
                    status=ActionStatus.DONE if when < utcnow() else ActionStatus.PENDING,
                    not_before=when,
                    cost=cost,
                )
            )


def left(engine: Engine, now: datetime) -> int:
    with Session(engine) as session:
        return budget.left(session, Network.BLUESKY, BLUESKY, now)


def test_a_day_with_nothing_written_allows_the_whole_allowance(engine: Engine) -> None:
    assert left(engine, utcnow()) == 28_000


def test_the_next_days_run_has_the_whole_allowance_again(engine: Engine) -> None:
    """Yesterday's run wrote its 28,000 points in the first seven hours after it: a run a
    day later may plan as much again (the 24 hours that end with its last slot hold none of
    yesterday's), where counting the last 24 hours would have left it nothing."""
    now = utcnow()
    yesterday = now - timedelta(days=1) + timedelta(minutes=5)
    planned(engine, *((yesterday + timedelta(hours=h), 4_000) for h in range(7)))
    assert left(engine, now) == 28_000


def test_a_run_hours_after_a_days_allowance_was_written_gets_nothing(engine: Engine) -> None:
    now = utcnow()
    block = now - timedelta(hours=16)
    planned(engine, *((block + timedelta(hours=h), 4_000) for h in range(7)))
    assert left(engine, now) == 0


def test_part_of_yesterday_still_counts_where_its_hours_overlap_todays(engine: Engine) -> None:
    """Yesterday's last 8,000 points went 16 and 15 hours ago: seven hours' slots from now
    would share their 24 hours with them; five, holding 20,000, are what fits."""
    now = utcnow()
    planned(
        engine,
        (now - timedelta(hours=16, minutes=30), 4_000),
        (now - timedelta(hours=15, minutes=30), 4_000),
    )
    assert left(engine, now) == 20_000


def test_what_is_paced_ahead_is_taken_from_today(engine: Engine) -> None:
    """The cutover's announcements that did not fit its day are paced into the next: the
    next run plans only what is left beside them."""
    now = utcnow()
    planned(engine, *((now + timedelta(hours=h, minutes=1), 4_000) for h in range(5)))
    assert left(engine, now) == 8_000
