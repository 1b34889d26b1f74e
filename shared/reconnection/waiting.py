"""Who is waiting on a network (:class:`Waiting`): the people with due contacts, those who
can be given follows, how many people want each account (a shared pack's demand).

:func:`waiting` reads it whole, from every match. A :class:`Waitlist` keeps it between a
process's runs and re-reads only the people for whom a pair may have become due since its
last read: after the cutover a daily run would otherwise read every match of the crowd to
find the few who changed. A due pair can only appear through

- a new match (its ``found_at``),
- a change to what the due filters read of a person, as the one waiting or as the contact
  (``person``: kind, reconnect choice, stop, forget, findable; erasure), or a new account
  on the network,
- a delivery taken back: a follow that failed (:func:`shared.outbox.failed_follows`); a
  withdrawal from packs comes with the contact turning unfindable or being forgotten,
  a change of ``person`` already.

The kept list may hold more than is due (a delivery made by another process; a match
removed): harmless, each batch's due pairs are read again (:func:`due.due`), and the people
a run delivered to are re-read at the next. As a safety net it is read whole again every
:data:`FULL_READ_EVERY`."""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, text

from shared import outbox
from shared.clock import utcnow
from shared.reconnection import planner
from shared.reconnection.due import due_query

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from sqlmodel import Session

    from shared.vocabulary import Network

FULL_READ_EVERY = timedelta(days=7)
"""A kept list is read whole again this often, whatever changed."""
CHANGES_MARGIN = timedelta(hours=1)
"""Changes stamped this long before a read are looked for again after it: a transaction
that stamped its change before the read may have committed after it."""
REREAD_PEOPLE = 500
"""People whose due pairs one statement re-reads."""


@dataclass(frozen=True, slots=True)
class Waiting:
    """Who has contacts due on a network, as a run finds them when it starts."""

    people: list[int]
    """Everyone with a due contact, by id."""
    followable: list[int]
    """Those of them who can be given follows (a grant there, a due contact with an
    account there): once the bot's budget is spent, the rest can be given nothing."""
    demand: dict[int, int]
    """How many people each account is due to there, natively, for the accounts wanted by
    at least :data:`planner.SHARED_MIN` people (a shared pack's demand)."""


# Every due pair once (a follow both ways is one pair).
_DUE_ONCE = "SELECT person_id, contact_id FROM {due} due GROUP BY person_id, contact_id"
_DUE_OF = """
SELECT person_id, contact_id FROM (
  {following} AND m.follower_id IN :people
  UNION ALL {followers} AND m.followee_id IN :people) due
GROUP BY person_id, contact_id
"""
_ON_NETWORK = "SELECT DISTINCT person_id FROM identity WHERE network = :network"
_GRANTED = "SELECT DISTINCT person_id FROM follow_grant WHERE network = :network"
# What the due filters read of each person (as the one waiting, as the contact).
_STATES = "SELECT id, kind, reconnect, stopped, forget_requested_at IS NULL, findable FROM person"
_FOUND_SINCE = "SELECT follower_id, followee_id FROM x_match WHERE found_at >= :since"
_MATCHED_WITH = """
SELECT follower_id FROM x_match WHERE followee_id IN :people
UNION SELECT followee_id FROM x_match WHERE follower_id IN :people
"""


def waiting(session: Session, network: Network) -> Waiting:
    """Who has contacts due on ``network`` (:class:`Waiting`), in one read of the due pairs."""
    return _Kept.read(session, network, utcnow()).waiting(session, network)


@dataclass
class _Kept:
    """One network's due pairs as last read, and what they were read from."""

    read_at: datetime
    full_at: datetime
    states: dict[int, tuple[object, ...]]
    there: set[int]
    pairs: dict[int, array[int]] = field(default_factory=dict)
    """Each waiting person's due contacts."""
    wanted: Counter[int] = field(default_factory=Counter)
    """How many people each contact is due to (anywhere)."""
    stale: set[int] = field(default_factory=set)
    """People a run delivered to since: fewer of their pairs are due."""

    @classmethod
    def read(cls, session: Session, network: Network, now: datetime) -> _Kept:
        """Everything, read whole (what the due filters read first: a change made during
        the read is seen as a change at the next)."""
        kept = cls(now, now, _states(session), _ids(session, _ON_NETWORK, network))
        kept._add(_grouped(session.execute(text(due_query(_DUE_ONCE)), {"network": network})))
        return kept

    def reread(self, session: Session, network: Network, people: set[int]) -> None:
        """``people``'s due pairs read again, in place of what was kept of them."""
        for person in people:
            self._drop(person)
        ordered = sorted(people)
        query = text(due_query(_DUE_OF)).bindparams(bindparam("people", expanding=True))
        for start in range(0, len(ordered), REREAD_PEOPLE):
            chunk = ordered[start : start + REREAD_PEOPLE]
            self._add(_grouped(session.execute(query, {"network": network, "people": chunk})))

    def waiting(self, session: Session, network: Network) -> Waiting:
        there = self.there
        granted = _ids(session, _GRANTED, network)
        people = sorted(self.pairs)
        followable = [p for p in people if p in granted and any(c in there for c in self.pairs[p])]
        demand = {c: n for c, n in self.wanted.items() if n >= planner.SHARED_MIN and c in there}
        return Waiting(people, followable, demand)

    def _add(self, pairs: Iterable[tuple[int, array[int]]]) -> None:
        for person, contacts in pairs:
            self.pairs[person] = contacts
            self.wanted.update(contacts)

    def _drop(self, person: int) -> None:
        contacts = self.pairs.pop(person, None)
        if contacts is not None:
            self.wanted.subtract(contacts)


class Waitlist:
    """Who is waiting on each network, kept between the runs of one process (the
    :class:`~shared.reconnection.runner.Runner`'s)."""

    def __init__(self) -> None:
        self._kept: dict[Network, _Kept] = {}

    def read(self, session: Session, network: Network) -> Waiting:
        """Who is waiting on ``network`` now: the kept list with whoever may have changed
        read again, or everything read whole (the first time, after a bulk change, every
        :data:`FULL_READ_EVERY`)."""
        now = utcnow()
        kept = self._kept.get(network)
        if kept is None or now - kept.full_at >= FULL_READ_EVERY:
            kept = self._kept[network] = _Kept.read(session, network, now)
            return kept.waiting(session, network)
        states, there = _states(session), _ids(session, _ON_NETWORK, network)
        changed = self._changed(session, network, kept, states, there)
        if 2 * len(changed) > len(states):  # as dear as reading everything
            kept = self._kept[network] = _Kept.read(session, network, now)
            return kept.waiting(session, network)
        kept.reread(session, network, changed)
        kept.read_at, kept.states, kept.there = now, states, there
        return kept.waiting(session, network)

    def delivered(self, network: Network, people: Iterable[int]) -> None:
        """A run delivered to ``people`` (or found nothing due for them): read them again."""
        kept = self._kept.get(network)
        if kept is not None:
            kept.stale.update(people)

    @staticmethod
    def _changed(
        session: Session,
        network: Network,
        kept: _Kept,
        states: dict[int, tuple[object, ...]],
        there: set[int],
    ) -> set[int]:
        """The people for whom a pair may have become due since ``kept`` was read."""
        since = kept.read_at - CHANGES_MARGIN
        moved = {p for p, state in states.items() if kept.states.get(p) != state}
        erased = kept.states.keys() - states.keys()
        changed = moved | erased | kept.stale | (there - kept.there)
        kept.stale = set()
        changed |= _matched_with(session, moved)  # the contacts' side of a change
        if erased:  # their matches went with them: who had them is in the kept pairs
            changed.update(
                p for p, contacts in kept.pairs.items() if not erased.isdisjoint(contacts)
            )
        changed |= outbox.failed_follows(session, network, since)
        for follower, followee in session.execute(text(_FOUND_SINCE), {"since": since}):
            changed.update((int(follower), int(followee)))
        return changed


def _grouped(rows: Iterable[Any]) -> Iterator[tuple[int, array[int]]]:
    """Rows (person, contact) as each person's contacts; rows of a person need not follow
    one another."""
    contacts: dict[int, array[int]] = {}
    for person, contact in rows:
        found = contacts.get(person)
        if found is None:
            found = contacts[person] = array("q")
        found.append(contact)
    return iter(contacts.items())


def _states(session: Session) -> dict[int, tuple[object, ...]]:
    return {int(row[0]): tuple(row[1:]) for row in session.execute(text(_STATES))}


def _ids(session: Session, query: str, network: Network) -> set[int]:
    return {int(p) for (p,) in session.execute(text(query), {"network": network})}


def _matched_with(session: Session, people: set[int]) -> set[int]:
    """Everyone matched with one of ``people``, either way."""
    found: set[int] = set()
    ordered = sorted(people)
    query = text(_MATCHED_WITH).bindparams(bindparam("people", expanding=True))
    for start in range(0, len(ordered), REREAD_PEOPLE):
        chunk = ordered[start : start + REREAD_PEOPLE]
        found.update(int(p) for (p,) in session.execute(query, {"people": chunk}))
    return found
