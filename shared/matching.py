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

from sqlalchemy import func, select, text, update
from sqlmodel import Session, col

from shared.db.models import Person, XMatch, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


MATCH_BATCH = 5_000
"""People whose matches one transaction of a full match recomputes."""


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


# Set-based, in the database, the same SQL on SQLite and PostgreSQL: who can be matched is
# materialised once (an indexed temporary table), edges are joined to it on both ends, and
# the difference with the stored matches is applied with two statements.
_MATCHABLE = """
CREATE TEMPORARY TABLE hqx_matchable (xid BIGINT PRIMARY KEY, pid BIGINT NOT NULL)
"""
_FILL_MATCHABLE = """
INSERT INTO hqx_matchable (xid, pid)
SELECT x.x_account_id, x.person_id FROM x_identity x JOIN person p ON p.id = x.person_id
WHERE p.stopped = false AND p.forget_requested_at IS NULL
  AND EXISTS (SELECT 1 FROM identity i WHERE i.person_id = p.id)
  AND NOT EXISTS (SELECT 1 FROM x_claim c WHERE c.x_account_id = x.x_account_id)
"""
# A person's run needs only their accounts and those at the other end of their edges: what
# it reads stays proportional to their edges, whatever the number of people.
_ONLY_AROUND = """
  AND (x.x_account_id IN ({mine})
       OR x.x_account_id IN (SELECT other_x_id FROM follow_edge WHERE owner_x_id IN ({mine}))
       OR x.x_account_id IN (SELECT owner_x_id FROM follow_edge WHERE other_x_id IN ({mine})))
"""
_FRESH = """
CREATE TEMPORARY TABLE hqx_fresh (
    person_id BIGINT NOT NULL, contact_id BIGINT NOT NULL, relation SMALLINT NOT NULL,
    PRIMARY KEY (person_id, contact_id, relation))
"""
# One follow edge, as follower -> followee between two people: direction 2 (FOLLOWING) says
# the owner follows the other, direction 1 (FOLLOWER) the reverse.
_PAIRS = """
SELECT CASE WHEN e.direction = 2 THEN a.pid ELSE b.pid END AS follower,
       CASE WHEN e.direction = 2 THEN b.pid ELSE a.pid END AS followee
FROM follow_edge e
JOIN hqx_matchable a ON a.xid = e.owner_x_id
JOIN hqx_matchable b ON b.xid = e.other_x_id
WHERE a.pid <> b.pid
"""
# Relation.FOLLOWING is 2 (the follower followed the contact), Relation.FOLLOWER is 1.
_PAIRS_TABLE = """
CREATE TEMPORARY TABLE hqx_pairs (follower BIGINT NOT NULL, followee BIGINT NOT NULL)
"""
# Each pair once, then a row for each side the run answers for ({follower}/{followee}: a
# condition on that side's person, or true).
_FILL_FRESH = """
INSERT INTO hqx_fresh (person_id, contact_id, relation)
SELECT DISTINCT follower, followee, 2 FROM hqx_pairs WHERE {follower}
UNION
SELECT DISTINCT followee, follower, 1 FROM hqx_pairs WHERE {followee}
"""
_TEMPORARY = ("hqx_matchable", "hqx_pairs", "hqx_fresh")
# What is new is what the primary key does not already hold: no anti-join to plan (one
# planned from statistics that say x_match is empty would scan it for every row).
_FOUND = """
INSERT INTO x_match (person_id, contact_id, relation, found_at)
SELECT f.person_id, f.contact_id, f.relation, :now FROM hqx_fresh f WHERE true
ON CONFLICT (person_id, contact_id, relation) DO NOTHING
"""
_GONE = """
DELETE FROM x_match
WHERE {concerned} NOT EXISTS (SELECT 1 FROM hqx_fresh f WHERE f.person_id = x_match.person_id
                  AND f.contact_id = x_match.contact_id AND f.relation = x_match.relation)
"""


@dataclass(frozen=True, slots=True)
class _Scope:
    """What one run recomputes: the matches of people ``low``..``high`` (their own rows), or
    of one ``person`` both ways (theirs, and theirs in others' rows)."""

    low: int = 0
    high: int = 0
    person: int | None = None

    def mine(self) -> str:
        if self.person is not None:
            return "SELECT x_account_id FROM x_identity WHERE person_id = :person"
        return "SELECT x_account_id FROM x_identity WHERE person_id BETWEEN :low AND :high"

    def concerned(self) -> str:
        """The stored rows the run answers for."""
        if self.person is not None:
            return "(person_id = :person OR contact_id = :person) AND"
        return "person_id BETWEEN :low AND :high AND"

    def params(self) -> dict[str, object]:
        if self.person is not None:
            return {"person": self.person}
        return {"low": self.low, "high": self.high}


def _run(session: Session, scope: _Scope) -> Matched:
    """Recompute the matches of ``scope``: only the edges touching its people's X accounts
    are read, and only the stored rows it answers for are compared."""
    connection = session.connection()
    for table in _TEMPORARY:  # a pooled connection may keep them
        connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
    connection.execute(text(_MATCHABLE))
    connection.execute(text(_PAIRS_TABLE))
    connection.execute(text(_FRESH))
    mine, params = scope.mine(), scope.params()
    fill = _FILL_MATCHABLE
    if scope.person is not None:  # only the accounts at the other end of their edges
        fill += _ONLY_AROUND.format(mine=mine)
    connection.execute(text(fill), params)
    if connection.dialect.name == "postgresql":  # temporary tables are never auto-analysed
        connection.execute(text("ANALYZE hqx_matchable"))
    # Two indexed lookups, not one scan for an OR.
    pairs = (
        f"{_PAIRS} AND e.owner_x_id IN ({mine}) UNION ALL {_PAIRS} AND e.other_x_id IN "
        f"({mine}) AND e.owner_x_id NOT IN ({mine})"
    )
    connection.execute(text(f"INSERT INTO hqx_pairs (follower, followee) {pairs}"), params)
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.execute(text("ANALYZE hqx_pairs"))
    sides = {"follower": "1 = 1", "followee": "1 = 1"}
    if scope.person is None:  # a range answers for its people's own rows only
        sides = {side: f"{side} BETWEEN :low AND :high" for side in sides}
    connection.execute(text(_FILL_FRESH.format(**sides)), params)
    if postgres:
        connection.execute(text("ANALYZE hqx_fresh"))
        if scope.person is None:
            # A full match fills x_match a range at a time, faster than autovacuum looks:
            # with statistics saying it is empty, the next range's anti-join would scan
            # all of it for every row.
            connection.execute(text("ANALYZE x_match"))
    found = connection.execute(text(_FOUND), {"now": utcnow()}).rowcount
    gone = connection.execute(text(_GONE.format(concerned=scope.concerned())), params).rowcount
    [total] = connection.execute(text("SELECT count(*) FROM hqx_fresh")).one()
    for table in _TEMPORARY:
        connection.execute(text(f"DROP TABLE {table}"))
    return Matched(int(found), int(gone), int(total))


def match_all(engine: Engine, people_per_transaction: int = MATCH_BATCH) -> Matched:
    """Recompute every match (at the cutover, and as a safety net on a schedule), a range of
    people per transaction: the database is never held for the whole graph (on SQLite the
    bots write between two ranges), and what a range needs stays bounded."""
    with Session(engine) as session:
        low, high = session.execute(select(func.min(Person.id), func.max(Person.id))).one()
    found = gone = total = 0
    if low is None:
        return Matched(0, 0, 0)
    for start in range(int(low), int(high) + 1, people_per_transaction):
        with Session(engine) as session, session.begin():
            done = _run(session, _Scope(start, start + people_per_transaction - 1))
        found, gone, total = found + done.found, gone + done.gone, total + done.total
    return Matched(found, gone, total)


def match_person(engine: Engine, person_id: int) -> Matched:
    """Recompute the matches of one person's X accounts, both ways: who they find, and who
    finds them (the people who had them on their watch list)."""
    with Session(engine) as session, session.begin():
        return _run(session, _Scope(person=person_id))


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
