"""What is due on a network: the pairs (person, contact) that matching found and no delivery
records yet, filtered by what each side allows (the person's ``reconnect`` choice, the
contact being findable, nobody stopped or forgotten), gathered a batch of people at a time
with what each of them may be told (:class:`Due`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import sqlalchemy as sa
from sqlalchemy import bindparam, text
from sqlmodel import Session, col, select

from shared.bot.messages import Lang
from shared.db.models import Consent, Delivery, Identity, Person
from shared.identity import addresses
from shared.reconnection.suggestions import Contact
from shared.vocabulary import Network, Purpose

if TYPE_CHECKING:
    from shared.identity.accounts import Thread


@dataclass(slots=True)
class Due:
    """One person's contacts due on one network."""

    person: int
    subject: str
    handle: str
    thread: Thread | None
    lang: Lang
    first: bool
    """Nothing was delivered to them on this network before."""
    contacts: list[Contact] = field(default_factory=list)
    elsewhere: list[int] = field(default_factory=list)
    """Contacts they get on another of their networks, not here."""
    messages: bool = True
    """They allow messages (``settings messages``): without, nothing is written to them
    (what only a message carries stays due); packs and follows for them go on."""


# The filters every due pair passes, from one side of the stored follow ({me}: the person,
# {them}: the contact; {wanted}: the `reconnect` choice that asks for this side); :network
# is the delivery network.
_SIDE = """
SELECT m.{me} AS person_id, m.{them} AS contact_id, m.found_at AS found_at
FROM x_match m
JOIN person p ON p.id = m.{me}
JOIN person c ON c.id = m.{them}
WHERE p.stopped = false AND p.forget_requested_at IS NULL AND p.kind = 'individual'
  AND p.reconnect IN ('both', '{wanted}')
  AND c.findable = true AND c.stopped = false AND c.forget_requested_at IS NULL
  AND EXISTS (SELECT 1 FROM identity i WHERE i.person_id = p.id AND i.network = :network)
  AND NOT EXISTS (SELECT 1 FROM delivery d WHERE d.person_id = m.{me}
                  AND d.contact_id = m.{them} AND d.network = :network)
"""

# Whom the person followed; who followed them.
_FOLLOWING = _SIDE.format(me="follower_id", them="followee_id", wanted="followings")

_FOLLOWERS = _SIDE.format(me="followee_id", them="follower_id", wanted="followers")

_DUE = f"({_FOLLOWING} UNION ALL {_FOLLOWERS})"


def due_query(query: str) -> str:
    """``query`` with its due pairs filled in: {following}, {followers}, {due} (both)."""
    return query.format(following=_FOLLOWING, followers=_FOLLOWERS, due=_DUE)


# Those never told anything on the network who may be (the cutover's crowd, people who
# joined since): a run keeps the bot's budget for their first message, and reads them all.
# Whether anything was delivered to them is asked first: after the cutover nearly everyone
# has been, and their due pairs are then never read.
_UNTOLD_DUE = """
SELECT count(*) FROM person o
WHERE NOT EXISTS (SELECT 1 FROM delivery t WHERE t.person_id = o.id AND t.network = :network)
  AND NOT EXISTS (SELECT 1 FROM consent n WHERE n.person_id = o.id AND n.granted = false
                  AND n.purpose = :silent)
  AND (EXISTS ({following} AND m.follower_id = o.id)
       OR EXISTS ({followers} AND m.followee_id = o.id))
"""

_DUE_PAIRS = """
SELECT person_id, contact_id, min(found_at) AS found FROM (
  {following} AND m.follower_id IN :people
  UNION ALL {followers} AND m.followee_id IN :people) due
GROUP BY person_id, contact_id ORDER BY person_id, found, contact_id
"""


def untold_due(session: Session, network: Network) -> int:
    """How many people have contacts due on ``network`` and were never told anything there."""
    asked = {"network": network, "silent": Purpose.SUGGESTIONS_BY_MESSAGE.value}
    return int(session.execute(text(due_query(_UNTOLD_DUE)), asked).scalar_one())


def due(session: Session, network: Network, people: list[int]) -> list[Due]:
    """What is due on ``network`` to each of ``people`` (:func:`waiting` lists them), in
    their order; those with nothing due, or no account there, are left out."""
    if not people:
        return []
    pairs: dict[int, list[int]] = {}
    for person, contact, _found in session.execute(
        text(due_query(_DUE_PAIRS)).bindparams(bindparam("people", expanding=True)),
        {"network": network, "people": people},
    ):
        pairs.setdefault(int(person), []).append(int(contact))
    accounts = accounts_of(session, {*pairs, *(c for cs in pairs.values() for c in cs)})
    delivered_before = _delivered_before(session, network, people)
    silent = _no_messages(session, people)
    locales = _locales(session, people)
    result = []
    for person in people:
        mine = accounts.get(person, {})
        here = mine.get(network)
        if here is None or person not in pairs:
            continue
        item = Due(
            person=person,
            subject=here.subject,
            handle=here.handle,
            thread=here.thread,
            lang=_lang(locales.get(person), here),
            first=person not in delivered_before,
            messages=person not in silent,
        )
        networks = set(mine)
        for contact in pairs[person]:
            found = as_contact(contact, accounts.get(contact, {}), network, networks)
            if found is None:
                item.elsewhere.append(contact)
            else:
                item.contacts.append(found)
        result.append(item)
    return result


class Account(NamedTuple):
    """A person's account on a network, as a delivery needs it."""

    subject: str
    handle: str
    thread: Thread | None


def accounts_of(session: Session, people: set[int]) -> dict[int, dict[Network, Account]]:
    """Each person's oldest account on each network. Read as rows, not as ORM objects: a
    batch of the cutover reads those of a hundred thousand contacts."""
    found: dict[int, dict[Network, Account]] = {}
    rows = session.execute(
        sa.select(  # five columns: more than SQLModel's select types
            col(Identity.person_id), col(Identity.network), col(Identity.subject),
            col(Identity.handle), col(Identity.thread),
        )
        .where(col(Identity.person_id).in_(people))
        .order_by(col(Identity.id))
    )  # fmt: skip
    for person, network, subject, handle, thread in rows:
        found.setdefault(person, {}).setdefault(network, Account(subject, handle, thread))
    return found


def _no_messages(session: Session, people: list[int]) -> set[int]:
    """Those of ``people`` who said no to messages (their consent, not ``stop``)."""
    rows = session.exec(
        select(Consent.person_id).where(
            col(Consent.person_id).in_(people),
            Consent.purpose == Purpose.SUGGESTIONS_BY_MESSAGE.value,
            col(Consent.granted).is_(False),
        )
    )
    return {int(p) for p in rows}


def _delivered_before(session: Session, network: Network, people: list[int]) -> set[int]:
    rows = session.exec(
        select(Delivery.person_id)
        .where(col(Delivery.person_id).in_(people), Delivery.network == network)
        .distinct()
    )
    return {int(p) for p in rows}


def _locales(session: Session, people: list[int]) -> dict[int, str | None]:
    """Each person's chosen language, if any (read as rows: a batch is hundreds)."""
    rows = session.execute(
        sa.select(col(Person.id), col(Person.locale)).where(col(Person.id).in_(people))
    )
    return {int(person): locale for person, locale in rows}


def _lang(locale: str | None, identity: Account) -> Lang:
    for candidate in (locale, identity.thread.lang if identity.thread else None):
        if candidate in tuple(Lang):
            return Lang(candidate)
    return Lang.FR


def as_contact(
    contact: int, accounts: dict[Network, Account], network: Network, mine: set[Network]
) -> Contact | None:
    """The contact on ``network``; through the bridge when they are only on another network
    and the person is not there; ``None`` when the person gets them elsewhere."""
    here = accounts.get(network)
    if here is not None:
        # ``user@server``, never ``@user@server``: a mention would notify the contact and
        # let them read the person's private message.
        return Contact(contact, here.subject, here.handle)
    if mine & set(accounts):
        return None
    for other, identity in accounts.items():
        bridged = addresses.bridged(other, identity.handle, network)
        if bridged is not None:
            return Contact(contact, None, bridged)
    return None
