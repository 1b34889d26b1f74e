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
from shared.db.models import Consent, Delivery, OutboundAction
from shared.reconnection import grants
from shared.vocabulary import Purpose, Via

if TYPE_CHECKING:
    from shared.db.models import FollowGrant

DAY, HOUR = timedelta(days=1), timedelta(hours=1)
PACE: dict[str, tuple[tuple[int, timedelta], ...]] = {
    "mastodon": ((400, DAY),),
    # Bluesky counts points per account: 5,000 an hour, 35,000 a day, a follow costs 3;
    # a margin is left for what the person does themselves.
    "bluesky": ((1_500, HOUR), (10_000, DAY)),
}
"""How many follows one account may be given in each window, per network."""
FOLLOWED = Via.FOLLOWED
"""How a contact followed for the person is recorded as delivered."""


def consented(session: Session, person_id: int) -> bool:
    consent = session.get(Consent, (person_id, Purpose.FOLLOWS_ON_BEHALF.value))
    return consent is not None and consent.granted


def grant_for(session: Session, person_id: int, network: str, subject: str) -> FollowGrant | None:
    """The grant acting as this account of theirs, or another of theirs on the network."""
    found = grants.of_person(session, person_id, network)
    return next((g for g in found if g.subject == subject), found[0] if found else None)


def follow_for(
    session: Session,
    *,
    network: str,
    person_id: int,
    subject: str,
    contacts: list[tuple[int, str, str]],
    run_id: int,
    now: datetime,
) -> set[int]:
    """Queue the follows of ``contacts`` (person, address there, account id there) for
    ``person_id`` acting as ``subject``, in the caller's transaction; return the contacts
    followed (none without consent, a grant, or a known pace)."""
    pace = PACE.get(network)
    if pace is None or not contacts or not consented(session, person_id):
        return set()
    grant = grant_for(session, person_id, network, subject)
    if grant is None or grant.id is None:
        return set()
    scheduled = _scheduled(session, person_id, now)
    followed: set[int] = set()
    for contact, address, contact_subject in contacts:
        queued = outbox.queue(
            session,
            key=f"{FollowAccount.kind}:{grant.id}:{contact}",
            network=network,
            action=FollowAccount(grant.id, address, contact, contact_subject),
            person_id=person_id,
            # A window's worth at once, then the next window's: the limits, never more.
            not_before=now + max(window * (scheduled // limit) for limit, window in pace),
        )
        if not queued:  # tried before and given up: the contact goes by message
            continue
        scheduled += 1
        session.add(Delivery(person_id=person_id, contact_id=contact, network=network,
                             via=FOLLOWED, run_id=run_id))  # fmt: skip
        followed.add(contact)
    return followed


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
