"""Which lists and starter packs to write on Bluesky with a day's write budget.

The objective: the most matched pairs (a person, a former X contact of theirs) made
reachable per point of budget. A pair is reachable once the contact is in a pack whose link
the person is given. Writing costs points (a record created is 3; the bot may spend 5,000
an hour and 35,000 a day), so one item in a person's own pack reaches one pair for 3 points,
while one item in a pack many people share reaches every person who had that account as a
contact. The planner therefore:

1. puts in shared packs, most wanted first, the accounts that at least
   :data:`SHARED_MIN` people still need (3 points reach that many pairs or more);
2. gives each person the shared packs that hold at least :data:`SHARED_FIT` of their
   contacts (no cost: packs written before count too);
3. spends what is left on people's own packs for the rest, largest first (a new pack costs
   two records besides its items), filling each person's last pack before starting a new
   part.

:func:`naive` is the baseline it is measured against (``benchmarks/planner.py``): each
person in turn gets their own pack of everything, until the budget is spent.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import count

PACK_SIZE = 150
"""Accounts a starter pack holds as the Bluesky app shows them."""
CREATE_COST = 3
"""Points a created record costs."""
PACK_COST = 2 * CREATE_COST
"""A new pack: its list and its starter pack record."""
SHARED_MIN = 3
"""A shared pack takes an account only when this many people still need it."""
SHARED_FIT = 10
"""A person is given a shared pack only when it holds this many of their contacts: one
that holds two of them among 150 strangers helps nobody (its "follow all" would harm)."""


@dataclass(frozen=True, slots=True)
class Pack:
    """A pack that exists: a person's own (``owner``) or shared (``owner`` None)."""

    id: int
    owner: int | None
    members: frozenset[int]


@dataclass
class Planned:
    """A pack the plan writes to: an existing one (``existing``), or a new one (its ``id``
    is then negative, a placeholder until it is stored)."""

    id: int
    owner: int | None
    part: int
    existing: bool
    size: int
    """Members before the plan."""
    added: list[int] = field(default_factory=list)

    @property
    def room(self) -> int:
        return PACK_SIZE - self.size - len(self.added)


@dataclass
class Plan:
    """What to write and whom it reaches."""

    packs: dict[int, Planned] = field(default_factory=dict)
    reach: dict[int, dict[int, int]] = field(default_factory=dict)
    """Person -> contact -> the pack that reaches them there."""
    points: int = 0
    deferred: int = 0
    """Pairs left for a later day."""

    @property
    def reached(self) -> int:
        """Pairs this plan makes reachable."""
        return sum(len(contacts) for contacts in self.reach.values())

    def writes(self) -> list[Planned]:
        """The packs with something to write, in id order (new ones last)."""
        return sorted(
            (p for p in self.packs.values() if p.added or not p.existing),
            key=lambda p: (not p.existing, abs(p.id)),
        )


class _Builder:
    def __init__(self, packs: list[Pack], budget: int) -> None:
        self.plan = Plan()
        self.budget = budget
        self._new_ids = count(-1, -1)
        self._shared: list[Planned] = []
        self._own: dict[int, Planned] = {}
        for pack in sorted(packs, key=lambda p: p.id):
            planned = Planned(pack.id, pack.owner, 0, True, len(pack.members))
            self.plan.packs[pack.id] = planned
            if pack.owner is None:
                self._shared.append(planned)
            else:
                parts = sum(1 for p in self.plan.packs.values() if p.owner == pack.owner)
                planned.part = parts
                self._own[pack.owner] = planned  # the last one: it is filled first

    def reach(self, person: int, contact: int, pack: int) -> None:
        self.plan.reach.setdefault(person, {})[contact] = pack

    def add(self, planned: Planned, contact: int) -> None:
        planned.added.append(contact)
        self.budget -= CREATE_COST
        self.plan.points += CREATE_COST

    def _new(self, owner: int | None, part: int) -> Planned | None:
        if self.budget < PACK_COST + CREATE_COST:
            return None
        planned = Planned(next(self._new_ids), owner, part, False, 0)
        self.plan.packs[planned.id] = planned
        self.budget -= PACK_COST
        self.plan.points += PACK_COST
        return planned

    def shared_with_room(self) -> Planned | None:
        last = self._shared[-1] if self._shared else None
        if last is not None and last.room > 0:
            return last
        created = self._new(None, len(self._shared) + 1)
        if created is not None:
            self._shared.append(created)
        return created

    def own_with_room(self, person: int) -> Planned | None:
        last = self._own.get(person)
        if last is not None and last.room > 0:
            return last
        created = self._new(person, last.part + 1 if last else 1)
        if created is not None:
            self._own[person] = created
        return created


def plan(
    needs: dict[int, list[int]],
    packs: list[Pack],
    budget: int,
    demand: dict[int, int] | None = None,
    *,
    keep: int = 0,
) -> Plan:
    """Plan the packs for ``needs`` (person -> contacts not yet reachable, in the order they
    should appear) within ``budget`` points, given the ``packs`` that exist. ``demand``: how
    many people need each account, counted beyond ``needs`` (all who are due, when ``needs``
    is one batch of them); by default, counted in ``needs``. ``keep``: points kept for the
    messages that announce the packs to the people of later batches. People's own packs
    leave all of it: an item there reaches one pair, a message dozens. Shared packs leave
    half the budget at most: they are what the messages announce, an item there reaching
    every person who needs the account."""
    shared_keep = min(keep, budget // 2)
    builder = _Builder(packs, budget - shared_keep)
    in_shared = {m: p.id for p in packs if p.owner is None for m in p.members}
    if demand is None:
        demand = Counter(c for contacts in needs.values() for c in set(contacts))
    _share(builder, demand, in_shared)
    builder.budget -= keep - shared_keep
    remaining: dict[int, list[int]] = {}
    for person, contacts in needs.items():
        fitting = Counter(in_shared[c] for c in contacts if c in in_shared)
        for contact in contacts:
            pack = in_shared.get(contact)
            if pack is not None and fitting[pack] >= SHARED_FIT:
                builder.reach(person, contact, pack)
            else:
                remaining.setdefault(person, []).append(contact)
    largest_first = sorted(remaining.items(), key=lambda item: (-len(item[1]), item[0]))
    for person, contacts in largest_first:
        _own(builder, person, contacts)
    return builder.plan


def _own(builder: _Builder, person: int, contacts: list[int]) -> None:
    """Put ``contacts`` in the person's own packs while the budget lasts; the rest waits."""
    for contact in contacts:
        own = builder.own_with_room(person) if builder.budget >= CREATE_COST else None
        if own is None:
            builder.plan.deferred += 1
            continue
        builder.add(own, contact)
        builder.reach(person, contact, own.id)


def _share(builder: _Builder, demand: dict[int, int], in_shared: dict[int, int]) -> None:
    """Put the most wanted accounts in shared packs while the budget lasts."""
    for contact, wanted in sorted(demand.items(), key=lambda item: (-item[1], item[0])):
        if wanted < SHARED_MIN or builder.budget < CREATE_COST:
            return
        if contact in in_shared:
            continue
        pack = builder.shared_with_room()
        if pack is None:
            return
        builder.add(pack, contact)
        in_shared[contact] = pack.id


def naive(needs: dict[int, list[int]], budget: int, packs: list[Pack] | None = None) -> Plan:
    """The baseline: first come, first served, each person their own pack of everything
    (``packs``: those that exist; a person's last one is filled first)."""
    builder = _Builder(packs or [], budget)
    for person in sorted(needs):
        _own(builder, person, needs[person])
    return builder.plan
