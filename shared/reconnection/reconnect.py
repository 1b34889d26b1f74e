"""Delivering people's former X contacts on the networks: what is due, and recording it.

A pair (person, contact) is delivered once per network where the person has an account:
the contact in one of the bot's packs (where the network's bot keeps collections), in a
message with their address, or by their Bridgy Fed address when the contact is only on
the other network. What is due is what :mod:`shared.reconnection.matching` found and no
:class:`~shared.db.models.Delivery` records yet, filtered by what each side allows: the
person's ``reconnect`` choice, the contact being findable, nobody stopped or forgotten.

One pass (:func:`deliver`) takes a batch of people, and in one transaction records the
collections, the deliveries and the outbound actions that carry them: a crash before the
commit leaves everything due, after it the outbox sends each action once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, func, text
from sqlmodel import Session, col, select

from shared import outbox
from shared.actions import (
    DirectMessage,
    Member,
    Recipient,
    Reply,
    WithdrawMembers,
    WriteCollection,
)
from shared.bot.commands import Outbound
from shared.bot.messages import Lang
from shared.db.models import (
    Collection,
    CollectionMember,
    Consent,
    Delivery,
    Identity,
    Network,
    OutboundAction,
    Person,
    Purpose,
    ReconnectRun,
    RunKind,
    XMatch,
    iso_utc,
    utcnow,
)
from shared.reconnection import follows as follows_made
from shared.reconnection import matching, planner, suggestions
from shared.reconnection.suggestions import Contact

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from sqlalchemy.engine import Engine

    from shared.protocol import WriteBudget


@dataclass(slots=True)
class Due:
    """One person's contacts due on one network."""

    person: int
    subject: str
    handle: str
    thread: dict[str, Any] | None
    lang: Lang
    first: bool
    """Nothing was delivered to them on this network before."""
    contacts: list[Contact] = field(default_factory=list)
    elsewhere: list[int] = field(default_factory=list)
    """Contacts they get on another of their networks, not here."""
    messages: bool = True
    """They allow messages (``settings messages``): without, nothing is written to them
    (what only a message carries stays due); packs and follows for them go on."""


@dataclass(frozen=True, slots=True)
class Channel:
    """What a pass needs of the network's bot."""

    network: str
    collections: bool
    """The bot keeps packs there (Bluesky)."""
    text_limit: int
    collection_url: Callable[[int], str | None]
    budget: WriteBudget | None
    messages: bool = True
    """The bot can write privately to someone who never wrote to it there."""
    message_cost: int = 0
    """What a message costs of the write budget."""
    csv_link: Callable[[str], str] | None = None
    """The link to a one-time token's following list (``None``: no web portal)."""
    demand: dict[int, int] | None = None
    """How many people each account is due to there (:func:`shared_demand`), counted once
    a run: shared packs are planned from it, whatever batch is being delivered."""


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


def _due(query: str) -> str:
    """``query`` with its due pairs filled in: {following}, {followers}, {due} (both)."""
    return query.format(following=_FOLLOWING, followers=_FOLLOWERS, due=_DUE)


# People in id order, each asked whether anything is due to them: a batch costs what its
# people have, never a scan of every match.
_DUE_PEOPLE = """
SELECT o.id FROM person o
WHERE o.id > :after AND (EXISTS ({following} AND m.follower_id = o.id)
                         OR EXISTS ({followers} AND m.followee_id = o.id))
ORDER BY o.id LIMIT :limit
"""
_DUE_PAIRS = """
SELECT person_id, contact_id, min(found_at) AS found FROM (
  {following} AND m.follower_id IN :people
  UNION ALL {followers} AND m.followee_id IN :people) due
GROUP BY person_id, contact_id ORDER BY person_id, found, contact_id
"""
# How many people each contact is due to, natively on the network (a shared pack's demand).
_DEMAND = """
SELECT contact_id, count(DISTINCT person_id) FROM {due} due
WHERE EXISTS (SELECT 1 FROM identity k WHERE k.person_id = due.contact_id
              AND k.network = :network)
GROUP BY contact_id HAVING count(DISTINCT person_id) >= :least
"""


def due(session: Session, network: str, *, after: int = 0, limit: int = 500) -> list[Due]:
    """The next ``limit`` people (by id, after ``after``) with contacts due on ``network``."""
    people = [
        int(p)
        for (p,) in session.execute(
            text(_due(_DUE_PEOPLE)),
            {"network": network, "after": after, "limit": limit},
        )
    ]
    if not people:
        return []
    pairs: dict[int, list[int]] = {}
    for person, contact, _found in session.execute(
        text(_due(_DUE_PAIRS)).bindparams(bindparam("people", expanding=True)),
        {"network": network, "people": people},
    ):
        pairs.setdefault(int(person), []).append(int(contact))
    accounts = _accounts(session, {*pairs, *(c for cs in pairs.values() for c in cs)})
    delivered_before = _delivered_before(session, network, people)
    silent = _no_messages(session, people)
    result = []
    for person in people:
        mine = accounts.get(person, {})
        here = mine.get(network)
        if here is None:
            continue
        owner = session.get_one(Person, person)
        item = Due(
            person=person,
            subject=here.subject,
            handle=here.handle,
            thread=here.thread,
            lang=_lang(owner, here),
            first=person not in delivered_before,
            messages=person not in silent,
        )
        for contact in pairs.get(person, []):
            found = _as_contact(contact, accounts.get(contact, {}), network, set(mine))
            if found is None:
                item.elsewhere.append(contact)
            else:
                item.contacts.append(found)
        result.append(item)
    return result


def _accounts(session: Session, people: set[int]) -> dict[int, dict[str, Identity]]:
    """Each person's oldest account on each network."""
    found: dict[int, dict[str, Identity]] = {}
    rows = session.exec(
        select(Identity).where(col(Identity.person_id).in_(people)).order_by(col(Identity.id))
    )
    for identity in rows:
        found.setdefault(identity.person_id, {}).setdefault(identity.network, identity)
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


def _delivered_before(session: Session, network: str, people: list[int]) -> set[int]:
    rows = session.exec(
        select(Delivery.person_id)
        .where(col(Delivery.person_id).in_(people), Delivery.network == network)
        .distinct()
    )
    return {int(p) for p in rows}


def _lang(person: Person, identity: Identity) -> Lang:
    for candidate in (person.locale, (identity.thread or {}).get("lang")):
        if candidate in tuple(Lang):
            return Lang(candidate)
    return Lang.FR


def _as_contact(
    contact: int, accounts: dict[str, Identity], network: str, mine: set[str]
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
        bridged = suggestions.bridge_address(other, identity.handle, network)
        if bridged is not None:
            return Contact(contact, None, bridged)
    return None


def budget_left(session: Session, network: str, budget: WriteBudget, now: datetime) -> int:
    """Points left to plan today on ``network``: the daily allowance less the reserve and
    what is planned in the last 24 hours (by when it is sent)."""
    planned = session.exec(
        select(func.coalesce(func.sum(OutboundAction.cost), 0)).where(
            OutboundAction.network == network,
            col(OutboundAction.not_before) > now - timedelta(days=1),
        )
    ).one()
    return max(0, int(budget.per_day * (1 - budget.reserve)) - int(planned))


@dataclass
class Passed:
    """What one pass did."""

    people: int = 0
    delivered: int = 0
    actions: int = 0
    points: int = 0
    deferred: int = 0


def deliver(
    session: Session,
    channel: Channel,
    run: ReconnectRun,
    batch: list[Due],
    follows: dict[int, frozenset[str]],
    *,
    now: datetime,
    issue_csv: Callable[[Session, int], str] | None = None,
) -> Passed:
    """Record and queue, in ``session``'s transaction, the delivery of ``batch`` on the
    channel's network. ``follows``: whom each person already follows there (those are
    recorded as delivered, nothing is sent); a person missing from it is left for later.

    One straight pipeline: what they follow already and what they get elsewhere set apart,
    follows made for those who granted them, packs planned and written, then each person's
    message announcing their packs and addresses."""
    assert run.id is not None  # noqa: S101  (stored)
    delivery = _Pass(session, channel, run.id, now)
    ready = [d for d in batch if d.person in follows]
    for item in ready:
        delivery.set_apart(item, follows[item.person])
        delivery.follow_for(item)
    reached = delivery.plan_packs(ready)
    for item in ready:
        packs, addresses = delivery.place(item, reached.get(item.person, {}))
        if not packs and not addresses:
            continue
        if not item.messages or (not item.thread and not channel.messages):
            continue  # no way (or no leave) to tell them: the pack is written all the same
        delivery.announce(item, packs, addresses, issue_csv)
    return delivery.done()


class _Pass:
    """One delivery pass on one network, in one transaction: what it recorded and queued."""

    def __init__(self, session: Session, channel: Channel, run_id: int, now: datetime) -> None:
        self.session, self.channel, self.run_id, self.now = session, channel, run_id, now
        self.writer = _Writer(session, channel, run_id, now)
        self.passed = Passed()

    def record(self, person: int, contact: int, via: str, collection: int | None = None) -> None:
        _record(self.session, person, contact, self.channel.network, via, self.run_id,
                collection)  # fmt: skip

    def set_apart(self, item: Due, followed: frozenset[str]) -> None:
        """Contacts the person follows there already, and those they get on another of their
        networks: recorded, nothing sent."""
        kept = [c for c in item.contacts if c.subject is None or c.subject not in followed]
        for contact in item.contacts:
            if contact not in kept:
                self.record(item.person, contact.person, "follows")
        for elsewhere in item.elsewhere:
            self.record(item.person, elsewhere, "elsewhere")
        item.contacts = kept

    def follow_for(self, item: Due) -> None:
        """Follows made as the person, where they granted it: those contacts are done."""
        followable = [(c.person, c.address, c.subject) for c in item.contacts if c.subject]
        made = follows_made.follow_for(
            self.session, network=self.channel.network, person_id=item.person,
            subject=item.subject, contacts=followable, run_id=self.run_id, now=self.now,
        )  # fmt: skip
        self.passed.actions += len(made)
        self.passed.delivered += len(made)
        item.contacts = [c for c in item.contacts if c.person not in made]

    def plan_packs(self, ready: list[Due]) -> dict[int, dict[int, int]]:
        """Where each person's contacts land in packs (person -> contact -> collection),
        where the network's bot keeps packs."""
        if not self.channel.collections:
            return {}
        reached, self.passed.deferred = self.writer.packs(ready)
        return reached

    def place(
        self, item: Due, native: dict[int, int]
    ) -> tuple[dict[int, list[Contact]], list[Contact]]:
        """Each contact recorded where it lands: in a pack, or in the message (by its
        address, or through the bridge); what only a message carries waits while the person
        allows no messages."""
        packs: dict[int, list[Contact]] = {}
        addresses: list[Contact] = []
        for contact in item.contacts:
            if contact.person in native:
                pack = native[contact.person]
                packs.setdefault(pack, []).append(contact)
                self.record(item.person, contact.person, self.writer.via(pack), pack)
            elif not item.messages:
                continue  # only a message would carry it: due until they allow messages
            elif contact.subject is None or not self.channel.collections:
                addresses.append(contact)
                via = "bridge" if contact.subject is None else "message"
                self.record(item.person, contact.person, via)
        return packs, addresses

    def announce(
        self,
        item: Due,
        packs: dict[int, list[Contact]],
        addresses: list[Contact],
        issue_csv: Callable[[Session, int], str] | None,
    ) -> None:
        """The person's message: their packs and addresses, after the packs are written."""
        channel, writer = self.channel, self.writer
        csv = None
        if addresses and issue_csv is not None and channel.csv_link is not None:
            csv = channel.csv_link(issue_csv(self.session, item.person))
        texts = suggestions.compose(
            lang=item.lang,
            first=item.first,
            packs=[
                (channel.collection_url(c), len(members), writer.via(c) == "shared")
                for c, members in sorted(packs.items(), key=lambda p: writer.via(p[0]))
            ],
            addresses=addresses,
            csv_link=csv,
            network=channel.network,
            room=channel.text_limit - len(item.handle) - 2,
        )
        after = writer.last_write_of(packs)
        # Named by what it announces: a resumed run may announce more to the same person.
        told = sorted(c.person for cs in (addresses, *packs.values()) for c in cs)
        digest = hashlib.sha256(repr(told).encode()).hexdigest()[:12]
        for part, words in enumerate(texts):
            outbox.queue(
                self.session,
                key=f"suggest:{channel.network}:{self.run_id}:{item.person}:{digest}:{part}",
                network=channel.network,
                action=_message_to(item, words),
                person_id=item.person,
                after=after,
                cost=channel.message_cost,
                not_before=writer.spend(channel.message_cost),
            )
            self.passed.actions += 1
        self.passed.people += 1
        self.passed.delivered += len(addresses) + sum(len(m) for m in packs.values())

    def done(self) -> Passed:
        self.passed.actions += self.writer.actions
        self.passed.points += self.writer.points
        return self.passed


def _message_to(item: Due, words: str) -> Reply | DirectMessage:
    """A reply in the person's own thread with the bot, privately when they wrote privately
    there; a new private conversation when they never wrote from this account."""
    thread = item.thread
    if not thread:
        return DirectMessage(Recipient(item.subject, item.handle), words, item.lang)
    return Reply(
        to_post=str(thread.get("post", "")),
        to=Recipient(item.subject, item.handle),
        text=words,
        lang=item.lang,
        direct=bool(thread.get("direct", True)),
        context=dict(thread.get("context") or {}),
    )


def _record(
    session: Session,
    person: int,
    contact: int,
    network: str,
    via: str,
    run_id: int,
    collection: int | None = None,
) -> None:
    session.add(
        Delivery(
            person_id=person,
            contact_id=contact,
            network=network,
            via=via,
            collection_id=collection,
            run_id=run_id,
        )
    )


class _Writer:
    """Plans and queues a pass's pack writes, chained (each after the one before) and paced
    under the hourly budget."""

    def __init__(self, session: Session, channel: Channel, run_id: int, now: datetime) -> None:
        self._session, self._channel, self._run_id, self._now = session, channel, run_id, now
        self._last: dict[int, tuple[int, str]] = {}
        """Collection -> (chain position, key) of its last write this pass."""
        self._chain: str | None = _last_chained(session, channel.network, now)
        self._position = 0
        self._planned_before = _planned_from(session, channel.network, now)
        """Points planned from the current hour on, before this pass."""
        self._shared: set[int] = set()
        self.actions = 0
        self.points = 0

    def via(self, collection: int) -> str:
        return "shared" if collection in self._shared else "list"

    def packs(self, batch: list[Due]) -> tuple[dict[int, dict[int, int]], int]:
        needs = {d.person: [c.person for c in d.contacts if c.subject is not None] for d in batch}
        subjects = {c.person: c.subject for d in batch for c in d.contacts if c.subject}
        existing = _packs(self._session, self._channel.network, list(needs))
        self._shared = {p.id for p in existing if p.owner is None}
        budget = self._channel.budget
        points = (
            budget_left(self._session, self._channel.network, budget, self._now)
            if budget is not None
            else 10**9
        )
        demand = self._channel.demand
        if demand is None:
            demand = shared_demand(self._session, self._channel.network)
        plan = planner.plan(needs, existing, points, demand=demand)
        ids = {}
        for planned in plan.writes():
            ids[planned.id] = self._write(planned, subjects)
        self._shared |= {ids[p.id] for p in plan.packs.values() if p.owner is None and p.id in ids}
        reach = {
            person: {contact: ids.get(pack, pack) for contact, pack in contacts.items()}
            for person, contacts in plan.reach.items()
        }
        return reach, plan.deferred

    def _write(self, planned: planner.Planned, subjects: dict[int, str]) -> int:
        session = self._session
        if planned.existing:
            collection = session.get_one(Collection, planned.id)
        else:
            collection = Collection(
                network=self._channel.network, person_id=planned.owner, part=planned.part
            )
            session.add(collection)
            session.flush()
        assert collection.id is not None  # noqa: S101  (flushed)
        members = []
        for contact in planned.added:
            subject = subjects.get(contact) or _subject_of(session, contact, self._channel)
            seq = collection.members
            collection.members += 1
            session.add(
                CollectionMember(
                    collection_id=collection.id, contact_id=contact, seq=seq, subject=subject
                )
            )
            members.append(Member(seq, subject))
        session.add(collection)
        lang = _owner_lang(session, planned.owner)
        name, description = suggestions.pack_name(lang, planned.owner is None, collection.part)
        create = not planned.existing
        per_write = planner.CREATE_COST
        room = suggestions.BATCH_WRITES - (2 if create else 0)
        chunks = [members[i : i + room] for i in range(0, len(members), room)] or [[]]
        for index, chunk in enumerate(chunks):
            first = create and index == 0
            start = chunk[0].seq if chunk else "new"
            key = f"collection:{self._channel.network}:{collection.id}:{start}"
            cost = per_write * (len(chunk) + (2 if first else 0))
            outbox.queue(
                session,
                key=key,
                network=self._channel.network,
                action=WriteCollection(
                    collection=collection.id,
                    create=first,
                    name=name,
                    description=description,
                    lang=lang,
                    members=chunk,
                ),
                person_id=planned.owner,
                after=self._chain,
                cost=cost,
                not_before=self.spend(cost),
            )
            self._chain = key
            self._position += 1
            self._last[collection.id] = (self._position, key)
            self.actions += 1
        return collection.id

    def spend(self, cost: int) -> datetime:
        """Count ``cost`` against the budget; when it may be sent."""
        when = self._paced(cost)
        self.points += cost
        return when

    def _paced(self, cost: int) -> datetime:
        """When a write of ``cost`` may go: the hour whose share it fits in."""
        budget = self._channel.budget
        if budget is None:
            return self._now
        hourly = int(budget.per_hour * (1 - budget.reserve))
        spent = self._planned_before + self.points + cost
        hours = max(0, spent - 1) // max(hourly, 1)
        return self._now + timedelta(hours=hours)

    def last_write_of(self, packs: Iterable[int]) -> str | None:
        """The key of the last write (in chain order) among these collections' this pass."""
        written = [self._last[c] for c in packs if c in self._last]
        return max(written)[1] if written else None


def _planned_from(session: Session, network: str, now: datetime) -> int:
    """Points planned from the start of the current hour on."""
    return int(
        session.exec(
            select(func.coalesce(func.sum(OutboundAction.cost), 0)).where(
                OutboundAction.network == network,
                col(OutboundAction.not_before) > now - timedelta(hours=1),
            )
        ).one()
    )


def _last_chained(session: Session, network: str, now: datetime) -> str | None:
    """The last collection write not done yet: a new pass's writes come after it."""
    del now
    row = session.exec(
        select(OutboundAction.idempotency_key)
        .where(
            OutboundAction.network == network,
            OutboundAction.kind == WriteCollection.kind,
            OutboundAction.status != "done",
        )
        .order_by(col(OutboundAction.id).desc())
        .limit(1)
    ).first()
    return row


def _subject_of(session: Session, person: int, channel: Channel) -> str:
    identity = session.exec(
        select(Identity)
        .where(Identity.person_id == person, Identity.network == channel.network)
        .order_by(col(Identity.id))
    ).first()
    assert identity is not None  # noqa: S101  (planned from a due contact)
    return identity.subject


def _owner_lang(session: Session, owner: int | None) -> Lang:
    if owner is None:
        return Lang.FR
    person = session.get_one(Person, owner)
    return Lang(person.locale) if person.locale in tuple(Lang) else Lang.FR


def _packs(session: Session, network: str, people: list[int]) -> list[planner.Pack]:
    """The shared packs, and the own packs of ``people``, on ``network``."""
    rows = list(
        session.exec(
            select(Collection).where(
                Collection.network == network,
                col(Collection.person_id).is_(None) | col(Collection.person_id).in_(people),
            )
        )
    )
    members: dict[int, set[int]] = {}
    ids = [r.id for r in rows if r.id is not None]
    for collection_id, contact in session.execute(
        select(CollectionMember.collection_id, CollectionMember.contact_id).where(
            col(CollectionMember.collection_id).in_(ids)
        )
    ):
        members.setdefault(int(collection_id), set()).add(int(contact))
    return [
        planner.Pack(r.id, r.person_id, frozenset(members.get(r.id, ())))
        for r in rows
        if r.id is not None
    ]


def shared_demand(session: Session, network: str) -> dict[int, int]:
    """How many people each contact is due to on ``network`` (there, natively), for the
    accounts wanted by at least :data:`planner.SHARED_MIN` people."""
    rows = session.execute(
        text(_due(_DEMAND)),
        {"network": network, "least": planner.SHARED_MIN},
    )
    return {int(c): int(n) for c, n in rows}


def withdraw(session: Session, person_id: int, *, own: bool) -> list[Outbound]:
    """Take a person out of every pack the bot keeps (they turned being found off, or are
    forgotten), and with ``own`` delete their own packs too; return the deletions to queue.
    What was delivered of them through packs is forgotten: if they may be found again, they
    are delivered again."""
    deletions: list[Outbound] = []
    places = session.exec(
        select(CollectionMember, Collection)
        .join(Collection, col(Collection.id) == col(CollectionMember.collection_id))
        .where(CollectionMember.contact_id == person_id)
    )
    for member, collection in places:
        deletions.append(_withdrawal(collection, [member.seq], drop=False))
        session.delete(member)
    if own:
        for collection in session.exec(select(Collection).where(Collection.person_id == person_id)):
            deletions.append(_withdrawal(collection, list(range(collection.members)), drop=True))
            session.delete(collection)
    session.execute(
        delete(Delivery).where(
            col(Delivery.contact_id) == person_id, col(Delivery.via).in_(["list", "shared"])
        )
    )
    return deletions


def _withdrawal(collection: Collection, seqs: list[int], *, drop: bool) -> Outbound:
    assert collection.id is not None  # noqa: S101  (stored)
    what = "all" if drop else ",".join(map(str, seqs))
    return Outbound(
        key=f"{WithdrawMembers.kind}:{collection.network}:{collection.id}:{what}",
        network=collection.network,
        action=WithdrawMembers(collection.id, seqs, drop),
    )


def following_list(session: Session, person_id: int) -> list[str]:
    """The addresses to follow on Mastodon of everyone delivered to a person there (by
    message, or through the bridge), oldest delivery first: their following list to import."""
    delivered = session.exec(
        select(Delivery.contact_id)
        .where(
            Delivery.person_id == person_id,
            Delivery.network == Network.MASTODON,
            col(Delivery.via).in_(["message", "bridge"]),
        )
        .order_by(col(Delivery.delivered_at), col(Delivery.contact_id))
    ).all()
    accounts = _accounts(session, set(delivered))
    addresses = []
    for contact in delivered:
        found = _as_contact(contact, accounts.get(contact, {}), Network.MASTODON, set())
        if found is not None:
            addresses.append(found.address)
    return addresses


# --- runs ---------------------------------------------------------------------------------


def start_run(engine: Engine, key: str, kind: RunKind) -> ReconnectRun | None:
    """The run ``key``: recorded now, or the unfinished one to resume; ``None`` when it
    finished already (a run is never made twice)."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        run = session.exec(select(ReconnectRun).where(ReconnectRun.key == key)).one_or_none()
        if run is None:
            run = ReconnectRun(key=key, kind=kind)
            session.add(run)
            session.flush()
            return run
        return None if run.finished_at is not None else run


def finish_run(engine: Engine, run_id: int) -> None:
    """Record that a run is done."""
    with Session(engine) as session, session.begin():
        run = session.get_one(ReconnectRun, run_id)
        run.finished_at = utcnow()
        session.add(run)


def count_found(engine: Engine, run_id: int, found: int) -> None:
    """Record what a run's matching found."""
    with Session(engine) as session, session.begin():
        run = session.get_one(ReconnectRun, run_id)
        run.found += found
        session.add(run)


def news(engine: Engine) -> bool:
    """Whether matches were found since the last run finished (someone linked or uploaded).
    (What a run misses while it runs is due still: the next run of any kind delivers it.)"""
    with Session(engine) as session:
        last = session.exec(select(func.max(ReconnectRun.finished_at))).one()
        query = select(XMatch.follower_id)
        if last is not None:
            query = query.where(col(XMatch.found_at) >= last)
        return session.exec(query.limit(1)).first() is not None


def count_pass(session: Session, run_id: int, passed: Passed) -> None:
    """Add a pass's figures to its run, in the pass's transaction."""
    run = session.get_one(ReconnectRun, run_id)
    run.delivered += passed.delivered
    run.actions += passed.actions
    run.points += passed.points
    run.deferred += passed.deferred
    session.add(run)


def unfinished(engine: Engine) -> list[ReconnectRun]:
    """Runs a stop interrupted, oldest first."""
    with Session(engine, expire_on_commit=False) as session:
        return list(
            session.exec(
                select(ReconnectRun)
                .where(col(ReconnectRun.finished_at).is_(None))
                .order_by(col(ReconnectRun.id))
            )
        )


def cutover_done(engine: Engine) -> bool:
    """Whether the cutover's run has finished."""
    with Session(engine) as session:
        run = session.exec(
            select(ReconnectRun).where(ReconnectRun.key == RunKind.CUTOVER.value)
        ).one_or_none()
        return run is not None and run.finished_at is not None


def last_rematch(engine: Engine) -> datetime | None:
    """When the last scheduled re-match (or the cutover) started."""
    with Session(engine) as session:
        return session.exec(
            select(func.max(ReconnectRun.started_at)).where(
                col(ReconnectRun.kind).in_([RunKind.CUTOVER, RunKind.REMATCH])
            )
        ).one()


# --- what operators see -------------------------------------------------------------------


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
    session: Session, network: str, budget: WriteBudget, now: datetime
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
        "left_today": budget_left(session, network, budget, now),
    }


def waiting(session: Session, network: str) -> dict[str, int]:
    """Pairs due on a network and how many people they are for."""
    row = session.execute(text(_due(_WAITING)), {"network": network}).one()
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
    accounts = _accounts(session, set(relations))
    return [
        {
            "person": contact,
            "accounts": {n: i.handle for n, i in accounts.get(contact, {}).items()},
            "relation": related,
            "delivered": deliveries.get(contact, []),
        }
        for contact, related in relations.items()
    ]
