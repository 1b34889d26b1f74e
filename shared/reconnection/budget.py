"""The bot's write budget on a network, as the delivery plans against it: what may still be
planned now, and the hour each write is paced into.

A network counts a day's writes over any 24 hours (Bluesky's PDS: a window opened by the
first write after the last one closed). Writes are paced in hour slots from now on, an
hour's share each, so a day's allowance goes out in its first hours: what is left now is
what fits in the 24 hours that end with the last slot it fills, beside what was written in
them. Counting every write of the last 24 hours instead would leave a daily re-match the
allowance less what yesterday's run wrote in its later hours (16,000 of Bluesky's 28,000
points, measured by the campaign's simulation)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func
from sqlmodel import Session, col, select

from shared.actions import KINDS, FollowAccount
from shared.db.models import OutboundAction
from shared.vocabulary import ActionStatus

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement

    from shared.protocol import WriteBudget
    from shared.vocabulary import Network

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def hourly(budget: WriteBudget) -> int:
    """Points a slot of an hour holds (the reserve kept for answers and attestations)."""
    return max(int(budget.per_hour * (1 - budget.reserve)), 1)


def daily(budget: WriteBudget) -> int:
    """Points a day allows (the reserve kept)."""
    return int(budget.per_day * (1 - budget.reserve))


def _by_the_bot(network: Network) -> list[ColumnElement[bool]]:
    """The bot's actions on ``network``: every kind but follows (made with a person's
    grant, on their budget), each status named, so that the outbox's due index (network,
    status, kind, not_before) finds them without reading a crowd's follows."""
    return [
        col(OutboundAction.network) == network,
        col(OutboundAction.status).in_(list(ActionStatus)),
        col(OutboundAction.kind).in_([kind for kind in KINDS if kind != FollowAccount.kind]),
    ]


def planned_from(session: Session, network: Network, now: datetime) -> int:
    """Points planned from the start of the current hour on (later days' included)."""
    return int(
        session.exec(
            select(func.coalesce(func.sum(OutboundAction.cost), 0)).where(
                *_by_the_bot(network), col(OutboundAction.not_before) > now - HOUR
            )
        ).one()
    )


def left(session: Session, network: Network, budget: WriteBudget, now: datetime) -> int:
    """Points that may still be planned on ``network`` now: the most that, paced in hour
    slots after what is planned already, keeps every 24 hours within the day's allowance."""
    ahead = planned_from(session, network, now)
    written = session.exec(
        select(OutboundAction.not_before, OutboundAction.cost).where(
            *_by_the_bot(network),
            col(OutboundAction.not_before) > now - DAY,
            col(OutboundAction.not_before) <= now - HOUR,
            OutboundAction.cost > 0,
        )
    ).all()
    per_hour, per_day = hourly(budget), daily(budget)
    best = 0
    for hours in range(1, per_day // per_hour + 2):
        # Were the slots to end ``hours`` from now, the 24 hours before that end would hold
        # what was written since ``hours - 24`` hours ago, beside what is planned from now
        # on; an amount that ends in an earlier slot is counted with that slot's hours.
        since = now - DAY + hours * HOUR
        before = sum(cost for when, cost in written if when > since)
        fits = min(hours * per_hour, per_day - before) - ahead
        if fits > (hours - 1) * per_hour - ahead:
            best = max(best, fits)
    return max(0, best)
