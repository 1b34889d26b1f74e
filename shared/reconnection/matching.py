"""Finding people's former X contacts among the people of the service.

An X follow is stored from whichever archive saw it: Alice's archive lists whom she followed
and who followed her, and Bob's lists Alice if they were connected, even if Alice never
uploaded one. Each edge is turned into one fact, *follower → followee*, stored once when
both ends are X accounts of two people who can be matched (linked, not stopped nor
forgotten, the X account undisputed): the followee is then a contact of the follower
(``FOLLOWING``) and the follower one of the followee (``FOLLOWER``). Matches are facts
about the graph; what a person asked to get back (``reconnect``) and what was already
delivered are applied when delivering.

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

from shared.clock import utcnow
from shared.db.models import Person

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


MATCH_BATCH = 10_000
"""People whose matches one transaction of a full match recomputes."""


class Relation(IntEnum):
    """What a contact was to a person on X."""

    FOLLOWER = 1
    """The contact followed the person."""
    FOLLOWING = 2
    """The person followed the contact."""


@dataclass(frozen=True, slots=True)
class Matched:
    """What a matching run changed, in follows between two people (each is a contact of
    both: a following of one, a follower of the other)."""

    found: int
    """Matches that did not exist before."""
    gone: int
    """Matches that no longer hold (an account unlinked, a person stopped)."""
    total: int
    """Matches of the people concerned, after the run."""


# Set-based, in the database, the same SQL on SQLite and PostgreSQL: who can be matched is
# materialised once (an indexed temporary table), the edges a run answers for are joined to
# it on both ends, and the difference with the stored matches is applied with two
# statements. Each follow is one pair, follower -> followee, stored once.
_MATCHABLE = """
CREATE TEMPORARY TABLE hqx_matchable (xid BIGINT PRIMARY KEY, pid BIGINT NOT NULL)
"""
# Who can be matched: the one home of the rule (x: an X account, p: its person).
_CAN_BE_MATCHED = """
p.stopped = false AND p.forget_requested_at IS NULL
  AND EXISTS (SELECT 1 FROM identity i WHERE i.person_id = p.id)
  AND NOT EXISTS (SELECT 1 FROM x_claim c WHERE c.x_account_id = x.x_account_id)
"""
_FILL_MATCHABLE = """
INSERT INTO hqx_matchable (xid, pid)
SELECT x.x_account_id, x.person_id FROM x_identity x JOIN person p ON p.id = x.person_id
WHERE {can_be_matched}
"""
_FRESH = """
CREATE TEMPORARY TABLE hqx_fresh (
    follower BIGINT NOT NULL, followee BIGINT NOT NULL, PRIMARY KEY (follower, followee))
"""
# The pairs of the edges whose {end} (owner or other) account is one of the run's, in the
# directions listed: direction 2 (FOLLOWING) says the owner follows the other, direction 1
# (FOLLOWER) the reverse. A follow seen from both archives is one pair (the key).
_PAIRS = """
SELECT CASE WHEN e.direction = 2 THEN a.pid ELSE b.pid END,
       CASE WHEN e.direction = 2 THEN b.pid ELSE a.pid END
FROM follow_edge e
JOIN hqx_matchable a ON a.xid = e.owner_x_id
JOIN hqx_matchable b ON b.xid = e.other_x_id
WHERE e.{end}_x_id IN ({mine}) AND e.direction IN ({directions}) AND a.pid <> b.pid
"""
_FILL_FRESH = """
INSERT INTO hqx_fresh (follower, followee) {owned} UNION ALL {other} ORDER BY 1, 2
ON CONFLICT (follower, followee) DO NOTHING
"""
_TEMPORARY = ("hqx_matchable", "hqx_fresh")
# What is new is what the primary key does not already hold: no anti-join to plan (one
# planned from statistics that say x_match is empty would scan it for every row).
_FOUND = """
INSERT INTO x_match (follower_id, followee_id, found_at)
SELECT f.follower, f.followee, :now FROM hqx_fresh f WHERE true
ON CONFLICT (follower_id, followee_id) DO NOTHING
"""
_GONE = """
DELETE FROM x_match
WHERE follower_id BETWEEN :low AND :high AND NOT EXISTS (SELECT 1 FROM hqx_fresh f
                  WHERE f.follower = x_match.follower_id AND f.followee = x_match.followee_id)
"""


@dataclass(frozen=True, slots=True)
class _Scope:
    """What one run of a full match recomputes: the follows of people ``low``..``high``
    (the pairs where they are the follower: each pair has one range)."""

    low: int
    high: int

    def pairs(self) -> dict[str, str]:
        """The edges to read: the range's people as followers, owners following (2),
        others followed by (1)."""
        mine = "SELECT x_account_id FROM x_identity WHERE person_id BETWEEN :low AND :high"
        return {
            "owned": _PAIRS.format(end="owner", mine=mine, directions="2"),
            "other": _PAIRS.format(end="other", mine=mine, directions="1"),
        }

    def params(self) -> dict[str, object]:
        return {"low": self.low, "high": self.high}


def _run(session: Session, scope: _Scope) -> Matched:
    """Recompute the matches of ``scope``: only the edges touching its people's X accounts
    are read, and only the stored rows it answers for are compared."""
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    for table in _TEMPORARY:  # a pooled connection may keep them
        connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
    connection.execute(text(_MATCHABLE))
    connection.execute(text(_FRESH))
    params = scope.params()
    connection.execute(text(_FILL_MATCHABLE.format(can_be_matched=_CAN_BE_MATCHED)))
    if postgres:  # temporary tables are never auto-analysed
        connection.execute(text("ANALYZE hqx_matchable"))
    connection.execute(text(_FILL_FRESH.format(**scope.pairs())), params)
    if postgres:
        connection.execute(text("ANALYZE hqx_fresh"))
    found = connection.execute(text(_FOUND), {"now": utcnow()}).rowcount
    gone = connection.execute(text(_GONE), params).rowcount
    [total] = connection.execute(text("SELECT count(*) FROM hqx_fresh")).one()
    for table in _TEMPORARY:
        connection.execute(text(f"DROP TABLE {table}"))
    return Matched(int(found), int(gone), int(total))


# One person's pairs, both ways, read at once: only their X accounts and those at the other
# end of their edges are looked up, so that it costs their edges, whatever the number of
# people (no temporary table: creating one costs more than a newcomer's whole run). Each
# account near them is looked up by its key, one by one (a subquery per account): joined,
# PostgreSQL guessed a thousand of them and read all of x_identity (10 ms of a 12 ms run at
# the campaign's 23 million edges); an account that cannot be matched has no pid, and its
# pairs are dropped by the pair's own test (a.pid <> b.pid).
_AROUND = """
WITH mine AS (SELECT x_account_id AS xid FROM x_identity WHERE person_id = :person),
near AS (
  SELECT xid FROM mine
  UNION SELECT e.other_x_id FROM follow_edge e WHERE e.owner_x_id IN (SELECT xid FROM mine)
  UNION SELECT e.owner_x_id FROM follow_edge e WHERE e.other_x_id IN (SELECT xid FROM mine)),
hqx_matchable AS (
  SELECT n.xid, (SELECT x.person_id FROM x_identity x JOIN person p ON p.id = x.person_id
                 WHERE x.x_account_id = n.xid AND {can_be_matched}) AS pid
  FROM near n)
{owned} UNION {other}
"""
_STORED = """
SELECT follower_id, followee_id FROM x_match WHERE follower_id = :person
UNION ALL SELECT follower_id, followee_id FROM x_match WHERE followee_id = :person
"""


_PERSON_PAIRS = _AROUND.format(
    can_be_matched=_CAN_BE_MATCHED,
    owned=_PAIRS.format(end="owner", mine="SELECT xid FROM mine", directions="1, 2"),
    other=_PAIRS.format(end="other", mine="SELECT xid FROM mine", directions="1, 2"),
)


def _run_person(session: Session, person_id: int) -> Matched:
    """Recompute one person's matches, both ways: their pairs against their stored rows."""
    params = {"person": person_id}
    fresh = {(int(a), int(b)) for a, b in session.execute(text(_PERSON_PAIRS), params)}
    stored = {(int(a), int(b)) for a, b in session.execute(text(_STORED), params)}
    found, gone = sorted(fresh - stored), sorted(stored - fresh)
    connection = session.connection()
    now = utcnow()
    for start in range(0, len(found), PAIRS_PER_STATEMENT):  # one round trip per chunk
        chunk = found[start : start + PAIRS_PER_STATEMENT]
        rows = ", ".join(f"(:a{n}, :b{n}, :now)" for n in range(len(chunk)))
        connection.execute(text(_INSERT_PAIRS.format(rows=rows)), _numbered(chunk, now=now))
    for start in range(0, len(gone), PAIRS_PER_STATEMENT):
        chunk = gone[start : start + PAIRS_PER_STATEMENT]
        rows = ", ".join(f"(:a{n}, :b{n})" for n in range(len(chunk)))
        connection.execute(text(_DELETE_PAIRS.format(rows=rows)), _numbered(chunk))
    return Matched(len(found), len(gone), len(fresh))


PAIRS_PER_STATEMENT = 300
"""Pairs one statement of a person's run writes (SQLite allows 32,766 parameters)."""
_INSERT_PAIRS = """
INSERT INTO x_match (follower_id, followee_id, found_at) VALUES {rows}
ON CONFLICT (follower_id, followee_id) DO NOTHING
"""
_DELETE_PAIRS = "DELETE FROM x_match WHERE (follower_id, followee_id) IN (VALUES {rows})"


def _numbered(pairs: list[tuple[int, int]], **more: object) -> dict[str, object]:
    """The parameters of a chunk of pairs: ``a0``, ``b0``, ``a1``..."""
    params: dict[str, object] = dict(more)
    for n, (a, b) in enumerate(pairs):
        params[f"a{n}"], params[f"b{n}"] = a, b
    return params


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
    if engine.dialect.name == "postgresql" and (found or gone):
        # The statistics of the table just filled (at the cutover it was empty): without
        # them a person's next match could scan the whole table, until autovacuum runs.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE x_match"))
    return Matched(found, gone, total)


def match_person(engine: Engine, person_id: int) -> Matched:
    """Recompute the matches of one person's X accounts, both ways: who they find, and who
    finds them (the people who had them on their watch list)."""
    with Session(engine) as session, session.begin():
        return _run_person(session, person_id)


# A person's contacts, both ways: whom they followed, who followed them.
_CONTACTS = """
SELECT followee_id, 2, found_at FROM x_match WHERE follower_id = :person
UNION ALL SELECT follower_id, 1, found_at FROM x_match WHERE followee_id = :person
ORDER BY 3, 1, 2
"""


def matches_of(session: Session, person_id: int) -> list[tuple[int, Relation]]:
    """A person's matches: (contact person, relation), in the order they were found."""
    rows = session.execute(text(_CONTACTS), {"person": person_id})
    return [(int(contact), Relation(relation)) for contact, relation, _found in rows]


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
