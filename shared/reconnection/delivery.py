"""The delivery pass: a batch of due contacts, in one transaction, recorded and turned into
the outbound actions that carry them (follows made for a person, packs written under the
write budget, the messages announcing them). A crash before the commit leaves everything
due; after it the outbox sends each action once.

A pair (person, contact) is delivered once per network where the person has an account:
the contact in one of the bot's packs (where the network's bot keeps collections), in a
message with their address, or by their Bridgy Fed address when the contact is only on the
other network."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from shared import outbox
from shared.actions import (
    DirectMessage,
    Member,
    Recipient,
    Reply,
    WriteCollection,
)
from shared.bot.messages import Lang
from shared.db.models import (
    Collection,
    CollectionMember,
    Delivery,
    Identity,
    OutboundAction,
    Person,
    ReconnectRun,
)
from shared.reconnection import budget, planner, suggestions
from shared.reconnection import follows as follows_made
from shared.reconnection.waiting import waiting
from shared.vocabulary import Network, Via

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from shared.protocol import Pace, WriteBudget
    from shared.reconnection.due import Due
    from shared.reconnection.suggestions import Contact


@dataclass(frozen=True, slots=True)
class Channel:
    """What a pass needs of the network's bot."""

    network: Network
    collections: bool
    """The bot keeps packs there (Bluesky)."""
    text_limit: int
    collection_url: Callable[[int], str | None]
    budget: WriteBudget | None
    messages: bool = True
    """The bot can write privately to someone who never wrote to it there."""
    message_cost: int = 0
    """What a message costs of the write budget."""
    follow_pace: tuple[Pace, ...] = ()
    """How many follows a person may be given there (none: no follows made there)."""
    csv_link: Callable[[str], str] | None = None
    """The link to a one-time token's following list (``None``: no web portal)."""
    space: bool = False
    """People have a space on the web portal, which lists all their contacts."""
    demand: dict[int, int] | None = None
    """How many people each account is due to there (``Waiting.demand``), counted once a
    run: shared packs are planned from it, whatever batch is being delivered."""
    reserved: int = 0
    """Points the packs leave for the messages of the people after this batch: a message
    announcing shared packs reaches dozens of pairs for the price of one pack item, so the
    first batches' packs must not spend the day's budget before all are told."""


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
        self.recorded: list[dict[str, object]] = []
        """The pairs delivered, as rows (thousands a pass: written in one statement)."""

    def record(self, person: int, contact: int, via: Via, collection: int | None = None) -> None:
        """A pair delivered, written with the others when the pass is done."""
        self.recorded.append(
            {"person_id": person, "contact_id": contact, "network": self.channel.network,
             "via": via, "collection_id": collection, "run_id": self.run_id,
             "delivered_at": self.now}
        )  # fmt: skip

    def set_apart(self, item: Due, followed: frozenset[str]) -> None:
        """Contacts the person follows there already, and those they get on another of their
        networks: recorded, nothing sent."""
        kept = [c for c in item.contacts if c.subject is None or c.subject not in followed]
        if len(kept) < len(item.contacts):
            for contact in item.contacts:
                if contact.subject is not None and contact.subject in followed:
                    self.record(item.person, contact.person, Via.FOLLOWS)
        for elsewhere in item.elsewhere:
            self.record(item.person, elsewhere, Via.ELSEWHERE)
        item.contacts = kept

    def follow_for(self, item: Due) -> None:
        """Follows made as the person, where they granted it: those contacts are done."""
        followable = [c for c in item.contacts if c.subject]
        made = follows_made.follow_for(
            self.session, network=self.channel.network, person_id=item.person,
            subject=item.subject, contacts=followable, now=self.now,
            pace=self.channel.follow_pace,
        )  # fmt: skip
        for contact in made:
            self.record(item.person, contact, follows_made.FOLLOWED)
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
                via = Via.BRIDGE if contact.subject is None else Via.MESSAGE
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
                suggestions.PackLink(
                    channel.collection_url(c), len(members), writer.via(c) == Via.SHARED
                )
                for c, members in sorted(packs.items(), key=lambda p: writer.via(p[0]))
            ],
            addresses=addresses,
            csv_link=csv,
            space=channel.space,
            network=channel.network,
            room=channel.text_limit - len(item.handle) - 2,
        )
        after = writer.last_write_of(packs)
        # Named by what it announces: a resumed run may announce more to the same person.
        told = sorted(c.person for cs in (addresses, *packs.values()) for c in cs)
        digest = hashlib.sha256(repr(told).encode()).hexdigest()[:12]
        for part, words in enumerate(texts):
            writer.queued.append(
                outbox.Queued(
                    key=f"suggest:{channel.network}:{self.run_id}:{item.person}:{digest}:{part}",
                    network=channel.network,
                    action=_message_to(item, words),
                    person_id=item.person,
                    after=after,
                    cost=channel.message_cost,
                    not_before=writer.spend(channel.message_cost),
                )
            )
            self.passed.actions += 1
        self.passed.people += 1
        self.passed.delivered += len(addresses) + sum(len(m) for m in packs.values())

    def done(self) -> Passed:
        """Write what the pass queued (in order: each write before what announces it) and
        the pairs it delivered."""
        outbox.queue_many(self.session, self.writer.queued)
        if self.recorded:
            self.session.flush()  # the collections the rows name
            table = Delivery.__table__  # type: ignore[attr-defined]
            self.session.connection().execute(table.insert(), self.recorded)
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
        to_post=thread.post,
        to=Recipient(item.subject, item.handle),
        text=words,
        lang=item.lang,
        direct=thread.direct,
        context=dict(thread.context),
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
        self._planned_before = budget.planned_from(session, channel.network, now)
        """Points planned from the current hour on, before this pass."""
        self._shared: set[int] = set()
        self.queued: list[outbox.Queued] = []
        """The pass's writes and messages, queued together when it is done."""
        self.actions = 0
        self.points = 0

    def via(self, collection: int) -> Via:
        return Via.SHARED if collection in self._shared else Via.LIST

    def packs(self, batch: list[Due]) -> tuple[dict[int, dict[int, int]], int]:
        needs = {d.person: [c.person for c in d.contacts if c.subject is not None] for d in batch}
        subjects = {c.person: c.subject for d in batch for c in d.contacts if c.subject}
        existing = _packs(self._session, self._channel.network, list(needs))
        self._shared = {p.id for p in existing if p.owner is None}
        points = 10**9
        if self._channel.budget is not None:
            points = budget.left(
                self._session, self._channel.network, self._channel.budget, self._now
            )
        demand = self._channel.demand
        if demand is None:
            demand = waiting(self._session, self._channel.network).demand
        keep = min(self._channel.reserved, points)
        plan = planner.plan(needs, existing, points, demand=demand, keep=keep)
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
            self.queued.append(
                outbox.Queued(
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
        """When a write of ``cost`` may go: the hour whose share it fits in, and past a
        day's share, the next day's hours (what a pass writes beyond its packs, the
        messages announcing them, must not spend tomorrow's budget today)."""
        allowance = self._channel.budget
        if allowance is None:
            return self._now
        hourly = budget.hourly(allowance)
        hours_a_day = max(budget.daily(allowance) // hourly, 1)
        spent = self._planned_before + self.points + cost
        hour = max(0, spent - 1) // hourly
        day, hour = divmod(hour, hours_a_day)
        return self._now + timedelta(days=day, hours=hour)

    def last_write_of(self, packs: Iterable[int]) -> str | None:
        """The key of the last write (in chain order) among these collections' this pass."""
        written = [self._last[c] for c in packs if c in self._last]
        return max(written)[1] if written else None


def _last_chained(session: Session, network: Network, now: datetime) -> str | None:
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


def _packs(session: Session, network: Network, people: list[int]) -> list[planner.Pack]:
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
