"""What a person sees in their own space on the portal: their accounts, their former X
contacts found on each network and what was delivered of them, the contacts still awaited
(the watch list), the packs kept for them, and their settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, text
from sqlmodel import Session, col, select

from shared.actions import FollowAccount
from shared.bot import privacy
from shared.db.models import Collection, Delivery, DirectoryEntry, Identity, OutboundAction, Person
from shared.identity import people
from shared.reconnection import grants, matching
from shared.vocabulary import ActionStatus, Network, Purpose

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime


@dataclass(slots=True)
class Contact:
    """A former X contact found on the service, as the person may see them."""

    accounts: dict[str, str]
    """Network -> handle."""
    relations: list[str]
    """``follower`` and/or ``following``: what they were to the person on X."""
    delivered: dict[str, str] = field(default_factory=dict)
    """Network -> how it was delivered there (``list``, ``shared``, ``message``, ...)."""
    delivered_at: dict[str, datetime] = field(default_factory=dict)
    """Network -> when."""


@dataclass(slots=True)
class Pack:
    network: Network
    part: int
    members: int
    url: str | None
    shared: bool = False
    """A pack of accounts many followed on X that holds some of the person's contacts,
    not one of their own (a message names those that fit; the space, all of them)."""


@dataclass(frozen=True, slots=True)
class Granted:
    """A grant to follow for the person, as one of their accounts."""

    id: int
    network: Network
    handle: str


@dataclass(slots=True)
class Space:
    person: int
    accounts: list[dict[str, Any]]
    contacts: list[Contact]
    awaited: int
    """X accounts of the person's archive not on the service yet (the watch list)."""
    packs: list[Pack]
    consents: dict[Purpose, bool]
    reconnect: str
    findable: bool
    directory: DirectoryEntry | None
    """Their entry in the media directory, if they asked for one."""
    grants: list[Granted]
    follows: dict[str, int]
    """Follows made for them, by state: ``done``, ``pending`` (paced), ``failed``."""


# Contacts found in archives of the person (their own) whose X account nobody holds yet.
_AWAITED = """
SELECT count(DISTINCT e.other_x_id) FROM follow_edge e
WHERE e.owner_x_id IN (SELECT x_account_id FROM x_identity WHERE person_id = :person)
  AND NOT EXISTS (SELECT 1 FROM x_identity x WHERE x.x_account_id = e.other_x_id)
"""


def space_of(
    session: Session, person_id: int, pack_url: Callable[[Network, int], str | None]
) -> Space:
    """The person's space; ``pack_url(network, collection)``: where a pack is opened."""
    person = session.get_one(Person, person_id)
    [awaited] = session.execute(text(_AWAITED), {"person": person_id}).one()
    packs = session.exec(
        select(Collection)
        .where(Collection.person_id == person_id)
        .order_by(col(Collection.network), col(Collection.part))
    )
    shared = session.exec(
        select(Collection)
        .where(
            col(Collection.id).in_(
                select(Delivery.collection_id).where(Delivery.person_id == person_id)
            ),
            col(Collection.person_id).is_(None),
        )
        .order_by(col(Collection.network), col(Collection.part))
    )
    return Space(
        person=person_id,
        accounts=people.describe(session, person_id)["accounts"],
        contacts=contacts_of(session, person_id),
        awaited=int(awaited),
        packs=[
            Pack(p.network, p.part, p.members, pack_url(p.network, p.id), p.person_id is None)
            for p in (*packs, *shared)
            if p.id is not None
        ],
        consents=privacy.consents(session, person),
        reconnect=person.reconnect,
        findable=person.findable,
        directory=session.get(DirectoryEntry, person_id),
        grants=_granted(session, person_id),
        follows=_follows(session, person_id),
    )


def _granted(session: Session, person_id: int) -> list[Granted]:
    handles = {i.subject: i.handle for i in Identity.of_person(session, person_id)}
    return [
        Granted(g.id, g.network, handles.get(g.subject, g.subject))
        for g in grants.of_person(session, person_id)
        if g.id is not None
    ]


def _follows(session: Session, person_id: int) -> dict[str, int]:
    counted = session.execute(
        select(OutboundAction.status, func.count())
        .where(OutboundAction.person_id == person_id, OutboundAction.kind == FollowAccount.kind)
        .group_by(OutboundAction.status)
    )
    states = {ActionStatus.DONE.value: "done", ActionStatus.FAILED.value: "failed"}
    shown: dict[str, int] = {"done": 0, "pending": 0, "failed": 0}
    for status, count in counted:
        shown[states.get(status, "pending")] += int(count)
    return shown


def contacts_of(session: Session, person_id: int) -> list[Contact]:
    """Matches the person may see: contacts who let themselves be found, still here."""
    matched = matching.matches_of(session, person_id)
    ids = {contact for contact, _relation in matched}
    visible = set(
        session.exec(
            select(Person.id).where(
                col(Person.id).in_(ids),
                col(Person.findable).is_(True),
                col(Person.stopped).is_(False),
                col(Person.forget_requested_at).is_(None),
            )
        )
    )
    handles: dict[int, dict[str, str]] = {}
    for identity in session.exec(select(Identity).where(col(Identity.person_id).in_(visible))):
        handles.setdefault(identity.person_id, {})[identity.network] = identity.handle
    found: dict[int, Contact] = {}
    for contact, relation in matched:
        if contact in visible:
            found.setdefault(contact, Contact(handles.get(contact, {}), [])).relations.append(
                relation.name.lower()
            )
    deliveries = session.exec(select(Delivery).where(Delivery.person_id == person_id))
    for delivery in deliveries:
        if delivery.contact_id in found:
            found[delivery.contact_id].delivered[delivery.network] = delivery.via
            found[delivery.contact_id].delivered_at[delivery.network] = delivery.delivered_at
    return list(found.values())
