"""What operators and a person's following list read of the reconnection: runs, the write
budget, what waits, one person's matches, the addresses to import on Mastodon."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, text
from sqlmodel import Session, col, select

from shared.clock import iso_utc
from shared.db.models import Delivery, OutboundAction, ReconnectRun
from shared.reconnection import budget as write_budget
from shared.reconnection import matching
from shared.reconnection.due import accounts_of, as_contact, due_query
from shared.vocabulary import Network, Via

if TYPE_CHECKING:
    from shared.protocol import WriteBudget


def following_list(session: Session, person_id: int) -> list[str]:
    """The addresses to follow on Mastodon of everyone delivered to a person there (by
    message, or through the bridge), oldest delivery first: their following list to import."""
    delivered = session.exec(
        select(Delivery.contact_id)
        .where(
            Delivery.person_id == person_id,
            Delivery.network == Network.MASTODON,
            col(Delivery.via).in_(Via.by_address()),
        )
        .order_by(col(Delivery.delivered_at), col(Delivery.contact_id))
    ).all()
    accounts = accounts_of(session, set(delivered))
    addresses = []
    for contact in delivered:
        found = as_contact(contact, accounts.get(contact, {}), Network.MASTODON, set())
        if found is not None:
            addresses.append(found.address)
    return addresses


def runs_report(session: Session, limit: int = 10) -> list[dict[str, Any]]:
    """The last runs, newest first, with their figures."""
    runs = session.exec(select(ReconnectRun).order_by(col(ReconnectRun.id).desc()).limit(limit))
    return [
        {
            "key": run.key,
            "kind": run.kind,
            "started_at": iso_utc(run.started_at),
            "finished_at": iso_utc(run.finished_at) if run.finished_at else None,
            "found": run.found,
            "delivered": run.delivered,
            "actions": run.actions,
            "points": run.points,
            "deferred": run.deferred,
        }
        for run in runs
    ]


def budget_report(
    session: Session, network: Network, budget: WriteBudget, now: datetime
) -> dict[str, Any]:
    """How much of a network's write budget is planned: in the last hour and day (by when
    it is sent), later (paced), and what the pacing keeps back."""

    def planned(since: datetime, until: datetime | None = None) -> int:
        query = select(func.coalesce(func.sum(OutboundAction.cost), 0)).where(
            OutboundAction.network == network, col(OutboundAction.not_before) > since
        )
        if until is not None:
            query = query.where(col(OutboundAction.not_before) <= until)
        return int(session.exec(query).one())

    return {
        "network": network,
        "per_hour": budget.per_hour,
        "per_day": budget.per_day,
        "reserve": budget.reserve,
        "last_hour": planned(now - timedelta(hours=1), now),
        "last_day": planned(now - timedelta(days=1), now),
        "paced_later": planned(now),
        "left_today": write_budget.left(session, network, budget, now),
    }


def waiting(session: Session, network: Network) -> dict[str, int]:
    """Pairs due on a network and how many people they are for."""
    row = session.execute(text(due_query(_WAITING)), {"network": network}).one()
    return {"people": int(row[0]), "pairs": int(row[1])}


_WAITING = """
SELECT count(DISTINCT person_id), count(*) FROM (
  SELECT DISTINCT person_id, contact_id FROM {due} due) pairs
"""


def matches_report(session: Session, person_id: int) -> list[dict[str, Any]]:
    """One person's matches: each contact, their accounts, how they were related on X,
    and where and how they were delivered."""
    relations: dict[int, list[str]] = {}
    for contact, relation in matching.matches_of(session, person_id):
        relations.setdefault(contact, []).append(relation.name.lower())
    deliveries: dict[int, list[dict[str, Any]]] = {}
    for delivery in session.exec(select(Delivery).where(Delivery.person_id == person_id)):
        deliveries.setdefault(delivery.contact_id, []).append(
            {
                "network": delivery.network,
                "via": delivery.via,
                "at": iso_utc(delivery.delivered_at),
            }
        )
    accounts = accounts_of(session, set(relations))
    return [
        {
            "person": contact,
            "accounts": {n: i.handle for n, i in accounts.get(contact, {}).items()},
            "relation": related,
            "delivered": deliveries.get(contact, []),
        }
        for contact, related in relations.items()
    ]
