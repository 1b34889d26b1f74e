"""Matching former X contacts, on SQLite and PostgreSQL: both directions, the watch list
that keeps matching as people join, and everyone who must never be matched."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session

from shared.archive_import import import_archive
from shared.db.models import Identity, Person
from shared.identity import xtrust
from shared.reconnection import matching
from shared.reconnection.matching import Relation
from shared.vocabulary import Network
from tests.archives import make_archive

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine

ALICE_X, BOB_X, CAROL_X, DAVE_X, ERIN_X = 100, 200, 300, 400, 500


def join(engine: Engine, name: str, x_id: int | None = None) -> int:
    """A person with a Mastodon account, and an X account if given (no archive)."""
    with Session(engine) as session, session.begin():
        person = Person()
        session.add(person)
        session.flush()
        assert person.id is not None
        session.add(
            Identity(
                person_id=person.id,
                network=Network.MASTODON,
                subject=f"https://m.test/users/{name}",
                handle=f"{name}@m.test",
            )
        )
        if x_id is not None:
            xtrust.claim(session, person.id, x_id, f"{name}_x")
        return person.id


def upload(engine: Engine, tmp: Path, person: int, x_id: int, followers: list[int],
           following: list[int]) -> None:  # fmt: skip
    path = make_archive(tmp / f"{x_id}.zip", followers, following, account_id=x_id,
                        username=f"u{x_id}")  # fmt: skip
    import_archive(engine, path, for_person=person)


def of(engine: Engine, person: int) -> list[tuple[int, Relation]]:
    with Session(engine) as session:
        return sorted(matching.matches_of(session, person))


@pytest.fixture
def people(engine: Engine, tmp_path: Path) -> dict[str, int]:
    """Alice uploaded: Bob and Dave followed her, she followed Carol. Bob uploaded: he
    followed Erin, who never uploaded. Dave is not on the service yet."""
    joining = (("alice", ALICE_X), ("bob", BOB_X), ("carol", CAROL_X), ("erin", ERIN_X))
    found = {name: join(engine, name, x) for name, x in joining}
    upload(engine, tmp_path, found["alice"], ALICE_X, [BOB_X, DAVE_X], [CAROL_X])
    upload(engine, tmp_path, found["bob"], BOB_X, [], [ALICE_X, ERIN_X])
    return found


def test_contacts_are_found_both_ways_from_any_archive(
    engine: Engine, people: dict[str, int]
) -> None:
    run = matching.match_all(engine)
    alice, bob, carol, erin = (people[n] for n in ("alice", "bob", "carol", "erin"))
    assert of(engine, alice) == sorted([(bob, Relation.FOLLOWER), (carol, Relation.FOLLOWING)])
    assert of(engine, bob) == sorted([(alice, Relation.FOLLOWING), (erin, Relation.FOLLOWING)])
    assert of(engine, carol) == [(alice, Relation.FOLLOWER)], "found without an archive"
    assert of(engine, erin) == [(bob, Relation.FOLLOWER)], "found from Bob's archive alone"
    assert (run.found, run.gone, run.total) == (3, 0, 3), "counted in follows"
    assert matching.match_all(engine) == matching.Matched(0, 0, 3), "a second run finds nothing"


def test_someone_joining_later_is_matched_alone_and_both_sides_learn_it(
    engine: Engine, people: dict[str, int]
) -> None:
    matching.match_all(engine)
    dave = join(engine, "dave", DAVE_X)  # Alice's archive had him on her watch list
    run = matching.match_person(engine, dave)
    assert (run.found, run.gone) == (1, 0), "one follow: Dave followed Alice"
    assert of(engine, dave) == [(people["alice"], Relation.FOLLOWING)]
    assert (dave, Relation.FOLLOWER) in of(engine, people["alice"])
    assert matching.match_all(engine).found == 0, "the incremental run missed nothing"


def test_nobody_stopped_disputed_or_matched_with_themself(
    engine: Engine, people: dict[str, int], tmp_path: Path
) -> None:
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    with Session(engine) as session, session.begin():
        person = session.get(Person, carol)
        assert person is not None
        person.stopped = True  # Carol said "stop"
        session.add(person)
        xtrust.claim(session, alice, 600, "alice_second")  # Alice's second X account
    upload(engine, tmp_path, alice, 600, [ALICE_X], [])  # ...followed her first one
    mallory = join(engine, "mallory")
    with pytest.raises(xtrust.ClaimDisputedError):  # Bob's X account is now disputed
        upload(engine, tmp_path, mallory, BOB_X, [ALICE_X], [])
    matching.match_all(engine)
    assert of(engine, alice) == [], "not Carol (stopped), not Bob (disputed), not herself"
    assert of(engine, carol) == [] and of(engine, bob) == []
    assert of(engine, people["erin"]) == [], "Bob's disputed archive finds nobody"


def test_a_contact_who_leaves_is_unmatched(engine: Engine, people: dict[str, int]) -> None:
    matching.match_all(engine)
    with Session(engine) as session, session.begin():
        person = session.get(Person, people["carol"])
        assert person is not None
        session.delete(person)  # forgotten
    assert of(engine, people["alice"]) == [(people["bob"], Relation.FOLLOWER)]
    assert matching.match_person(engine, people["alice"]).gone == 0, "the cascade did it"


def test_every_change_asks_for_a_rematch_that_survives_a_restart(
    engine: Engine, people: dict[str, int]
) -> None:
    """Uploads, claims and the like only ask (in their own transaction); the scheduled run
    does the work later, so nothing is lost if the service stops in between."""
    assert matching.run_requested(engine) == 4, "the four who claimed or uploaded"
    assert matching.run_requested(engine) == 0
    alice = people["alice"]
    assert of(engine, people["carol"]) == [(alice, Relation.FOLLOWER)]
    dave = join(engine, "dave", DAVE_X)  # asks by claiming his X account
    assert matching.run_requested(engine) == 1
    assert (dave, Relation.FOLLOWER) in of(engine, alice), "Alice's watch list found him"


def test_the_service_runs_what_was_asked(engine: Engine, people: dict[str, int]) -> None:
    import asyncio

    from shared.bot.handlers import default_registry
    from shared.service import Service

    service = Service(engine, [], default_registry())
    assert asyncio.run(service.match_requested()) == 4
    assert of(engine, people["erin"]) == [(people["bob"], Relation.FOLLOWER)]


def test_a_full_match_in_small_ranges_finds_the_same(
    engine: Engine, people: dict[str, int]
) -> None:
    run = matching.match_all(engine, people_per_transaction=1)
    alice, bob, carol, erin = (people[n] for n in ("alice", "bob", "carol", "erin"))
    assert of(engine, alice) == sorted([(bob, Relation.FOLLOWER), (carol, Relation.FOLLOWING)])
    assert of(engine, erin) == [(bob, Relation.FOLLOWER)]
    assert (run.found, run.gone, run.total) == (3, 0, 3), "counted in follows"
    assert matching.match_all(engine, people_per_transaction=3) == matching.Matched(0, 0, 3)
    with Session(engine) as session, session.begin():
        session.get_one(Person, carol).stopped = True
    gone = matching.match_all(engine, people_per_transaction=2)
    assert gone == matching.Matched(0, 1, 2), "Alice followed Carol: that match is gone"


def test_the_changes_requests_keep_what_a_full_rebuild_would_find(
    engine: Engine, people: dict[str, int], tmp_path: Path
) -> None:
    """After the cutover only what changed is matched again (a re-match reads no more):
    through joins, uploads, a dispute, unlinking and erasure, the people each change asks
    for leave the matches a full rebuild finds."""
    from shared.bot import privacy
    from shared.identity import linking

    def rebuilt_after_the_requests() -> matching.Matched:
        while matching.run_requested(engine):
            pass
        return matching.match_all(engine)

    assert rebuilt_after_the_requests() == matching.Matched(0, 0, 3)
    dave = join(engine, "dave", DAVE_X)  # on Alice's watch list
    upload(engine, tmp_path, dave, DAVE_X, [CAROL_X], [ALICE_X, ERIN_X])
    assert rebuilt_after_the_requests() == matching.Matched(0, 0, 6)
    mallory = join(engine, "mallory")
    with pytest.raises(xtrust.ClaimDisputedError):  # Bob's X account disputed: unmatched
        upload(engine, tmp_path, mallory, BOB_X, [ALICE_X], [])
    assert rebuilt_after_the_requests() == matching.Matched(0, 0, 4)
    with Session(engine) as session, session.begin():
        assert linking.unlink(session, people["erin"], Network.MASTODON, "erin@m.test")
    assert rebuilt_after_the_requests() == matching.Matched(0, 0, 3)
    with Session(engine) as session, session.begin():
        privacy.erase(session, people["carol"])
    assert rebuilt_after_the_requests() == matching.Matched(0, 0, 1)
    assert of(engine, dave) == [(people["alice"], Relation.FOLLOWING)]
