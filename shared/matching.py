"""Finding people's former X contacts among the people of the service.

An X follow is stored from whichever archive saw it: Alice's archive lists whom she followed
and who followed her, and Bob's lists Alice if they were connected, even if Alice never
uploaded one. Each edge is turned into one fact, *follower → followee*, and kept when both
ends are X accounts of two people of the service who can be matched (:func:`_matchable`):
the followee is then a contact of the follower (``FOLLOWING``) and the follower one of the
followee (``FOLLOWER``). Matches are facts about the graph; what a person asked to get back
(``reconnect``) and what was already delivered are applied when delivering.

Unfound contacts need no list of their own: the edges are the watch list. When someone's X
accounts change (an upload, a proof, a dispute settled), :func:`match_person` recomputes only
the pairs touching them, at a cost proportional to their edges, and says which are new.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from sqlalchemy import and_, case, delete, exists, insert, or_, select, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from shared.db.models import (
    Direction,
    FollowEdge,
    Identity,
    Person,
    XClaim,
    XIdentity,
    XMatch,
    utcnow,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.engine import Engine
    from sqlalchemy.sql import Subquery


class Relation(IntEnum):
    """What a contact was to a person on X."""

    FOLLOWER = 1
    """The contact followed the person."""
    FOLLOWING = 2
    """The person followed the contact."""


@dataclass(frozen=True, slots=True)
class Matched:
    """What a matching run changed."""

    found: int
    """Matches that did not exist before."""
    gone: int
    """Matches that no longer hold (an account unlinked, a person stopped)."""
    total: int
    """Matches of the people concerned, after the run."""


def _matchable() -> Subquery:
    """X accounts of people who can be matched: they have an account on a network, have
    not said ``stop`` nor asked to be forgotten, and the X account is not disputed."""
    person, identity, claim = Person, Identity, XClaim
    return (
        select(col(XIdentity.x_account_id).label("xid"), col(XIdentity.person_id).label("pid"))
        .join(person, col(person.id) == col(XIdentity.person_id))
        .where(
            col(person.stopped).is_(False),
            col(person.forget_requested_at).is_(None),
            exists().where(col(identity.person_id) == col(person.id)),
            ~exists().where(col(claim.x_account_id) == col(XIdentity.x_account_id)),
        )
        .subquery("matchable")
    )


def _pairs(session: Session, touching: list[int] | None) -> set[tuple[int, int]]:
    """(follower person, followee person) for every edge between two matchable X accounts
    of two different people; only edges touching the X accounts ``touching``, if given."""
    edge = FollowEdge.__table__  # type: ignore[attr-defined]
    owner, other = aliased(_matchable()), aliased(_matchable())
    follows = edge.c.direction == int(Direction.FOLLOWING)  # the owner follows the other
    query = (
        select(
            case((follows, owner.c.pid), else_=other.c.pid),
            case((follows, other.c.pid), else_=owner.c.pid),
        )
        .select_from(edge)
        .join(owner, owner.c.xid == edge.c.owner_x_id)
        .join(other, other.c.xid == edge.c.other_x_id)
        .where(owner.c.pid != other.c.pid)
    )
    if touching is not None:
        query = query.where(or_(edge.c.owner_x_id.in_(touching), edge.c.other_x_id.in_(touching)))
    return {(int(f), int(g)) for f, g in session.execute(query)}


def _rows(pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int, int]]:
    """Each follow as the two matches it makes: (person, contact, relation)."""
    rows: set[tuple[int, int, int]] = set()
    for follower, followee in pairs:
        rows.add((follower, followee, Relation.FOLLOWING))
        rows.add((followee, follower, Relation.FOLLOWER))
    return rows


def match_all(engine: Engine) -> Matched:
    """Recompute every match (at the cutover, and as a safety net on a schedule)."""
    with Session(engine) as session, session.begin():
        now = set(_rows(_pairs(session, None)))
        before = {
            (int(p), int(c), int(r))
            for p, c, r in session.execute(
                select(XMatch.person_id, XMatch.contact_id, XMatch.relation)  # type: ignore[call-overload]
            )
        }
        _apply(session, now - before, before - now)
    return Matched(len(now - before), len(before - now), len(now))


def match_person(engine: Engine, person_id: int) -> Matched:
    """Recompute the matches of one person's X accounts, both ways: who they find, and who
    finds them (the people who had them on their watch list)."""
    with Session(engine) as session, session.begin():
        mine = list(
            session.execute(
                select(XIdentity.x_account_id).where(XIdentity.person_id == person_id)  # type: ignore[call-overload]
            ).scalars()
        )
        now = _rows(_pairs(session, mine)) if mine else set()
        concerned = or_(col(XMatch.person_id) == person_id, col(XMatch.contact_id) == person_id)
        before = {
            (int(p), int(c), int(r))
            for p, c, r in session.execute(
                select(XMatch.person_id, XMatch.contact_id, XMatch.relation).where(concerned)  # type: ignore[call-overload]
            )
        }
        _apply(session, now - before, before - now)
    return Matched(len(now - before), len(before - now), len(now))


def _apply(
    session: Session, found: set[tuple[int, int, int]], gone: set[tuple[int, int, int]]
) -> None:
    for person, contact, relation in gone:
        session.execute(
            delete(XMatch).where(
                and_(
                    col(XMatch.person_id) == person,
                    col(XMatch.contact_id) == contact,
                    col(XMatch.relation) == relation,
                )
            )
        )
    if found:
        when = utcnow()
        session.execute(
            insert(XMatch),
            [
                {"person_id": p, "contact_id": c, "relation": r, "found_at": when}
                for p, c, r in sorted(found)
            ],
        )


def matches_of(session: Session, person_id: int) -> list[tuple[int, Relation]]:
    """A person's matches: (contact person, relation), in the order they were found."""
    query = (
        select(XMatch.contact_id, XMatch.relation)  # type: ignore[call-overload]
        .where(XMatch.person_id == person_id)
        .order_by(col(XMatch.found_at), col(XMatch.contact_id))
    )
    return [(int(c), Relation(r)) for c, r in session.execute(query)]


def request(session: Session, *person_ids: int) -> None:
    """Ask, in the caller's transaction, for these people's matches to be recomputed (what
    can be matched of them changed): done by :func:`run_requested`, even after a crash."""
    if person_ids:
        session.execute(
            update(Person)
            .where(col(Person.id).in_(sorted(set(person_ids))))
            .values(match_requested_at=utcnow())
        )


def run_requested(engine: Engine, limit: int = 100) -> int:
    """Recompute the matches of people whose request is pending, oldest first; a request
    made again meanwhile stays pending. Return how many people were matched."""
    with Session(engine) as session:
        due = list(
            session.execute(
                select(Person.id, Person.match_requested_at)  # type: ignore[call-overload]
                .where(col(Person.match_requested_at).is_not(None))
                .order_by(col(Person.match_requested_at))
                .limit(limit)
            )
        )
    for person_id, asked in due:
        match_person(engine, person_id)
        with Session(engine) as session, session.begin():
            session.execute(
                update(Person)
                .where(col(Person.id) == person_id, col(Person.match_requested_at) == asked)
                .values(match_requested_at=None)
            )
    return len(due)
