"""Follows made for a person who asked: with their consent (``follows_on_behalf``) and
their grant on the network, each due contact with an account there is followed as them, once
(the outbox key names the grant and the contact), paced under the person's own daily limit,
and recorded as delivered (``followed``) so that no message repeats it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func
from sqlmodel import Session, col, select

from shared import outbox
from shared.actions import FollowAccount
from shared.db.models import Consent, OutboundAction
from shared.reconnection import grants
from shared.vocabulary import Network, Purpose, Via

if TYPE_CHECKING:
    from shared.db.models import FollowGrant
    from shared.protocol import Pace
    from shared.reconnection.suggestions import Contact

FOLLOWED = Via.FOLLOWED
"""How a contact followed for the person is recorded as delivered."""


def consented(session: Session, person_id: int) -> bool:
    consent = session.get(Consent, (person_id, Purpose.FOLLOWS_ON_BEHALF.value))
    return consent is not None and consent.granted


def grant_for(
    session: Session, person_id: int, network: Network, subject: str
) -> FollowGrant | None:
    """The grant acting as this account of theirs, or another of theirs on the network."""
    found = grants.of_person(session, person_id, network)
    return next((g for g in found if g.subject == subject), found[0] if found else None)


def follow_for(
    session: Session,
    *,
    network: Network,
    person_id: int,
    subject: str,
    contacts: list[Contact],
    now: datetime,
    pace: tuple[Pace, ...],
) -> set[int]:
    """Queue the follows of ``contacts`` (those with an account there) for ``person_id``
    acting as ``subject``, in the caller's transaction; return the contacts followed (none
    without consent, a grant, or a pace: the network's :attr:`Protocol.follow_pace`), which
    the caller records as delivered (``FOLLOWED``)."""
    if not pace or not contacts or not consented(session, person_id):
        return set()
    grant = grant_for(session, person_id, network, subject)
    if grant is None or grant.id is None:
        return set()
    followable = [c for c in contacts if c.subject is not None]  # the bridge's: nobody there
    moments = _paced(now, pace, _scheduled(session, person_id, now), len(followable))
    queued = {
        found.person: outbox.Queued(
            key=f"{FollowAccount.kind}:{grant.id}:{found.person}",
            network=network,
            action=FollowAccount(grant.id, found.address, found.person, found.subject),
            person_id=person_id,
            not_before=moment,
        )
        for found, moment in zip(followable, moments, strict=True)
        if found.subject is not None
    }
    # A key queued before was tried and given up: that contact goes by message.
    added = outbox.queue_many(session, list(queued.values()))
    return {contact for contact, q in queued.items() if q.key in added}


def _paced(now: datetime, pace: tuple[Pace, ...], scheduled: int, count: int) -> list[datetime]:
    """When each of ``count`` more follows may go, after ``scheduled`` ones: a window's
    worth at once, then the next window's (the limits, never more). The follows of one
    window share one moment, one object (written once for them all)."""
    moments: dict[tuple[int, ...], datetime] = {}
    paced = []
    for n in range(scheduled, scheduled + count):
        windows = tuple(n // p.limit for p in pace)
        moment = moments.get(windows)
        if moment is None:
            later = max(p.window * w for p, w in zip(pace, windows, strict=True))
            moment = moments[windows] = now + later
        paced.append(moment)
    return paced


def _scheduled(session: Session, person_id: int, now: datetime) -> int:
    """Follows of the person queued from a day ago on: what their limit has left."""
    return int(
        session.exec(
            select(func.count())
            .select_from(OutboundAction)
            .where(
                OutboundAction.person_id == person_id,
                OutboundAction.kind == FollowAccount.kind,
                col(OutboundAction.not_before) >= now - timedelta(days=1),
            )
        ).one()
    )
