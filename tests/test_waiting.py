"""Who is waiting, kept between runs: after each change that can make a contact due, the
kept list (which re-reads only whom the change touched) finds what a whole read finds."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete
from sqlmodel import Session, select

from shared import clock, outbox
from shared.actions import FollowAccount
from shared.archive_import import import_archive
from shared.clock import utcnow
from shared.db.models import Delivery, Identity, OutboundAction, Person
from shared.reconnection import matching, waiting
from shared.vocabulary import Network, Via
from tests.archives import make_archive
from tests.test_reconnect import ALICE_X, BOB_X, CAROL_X, DAVE_X, Net, say

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine

BLUESKY = Network.BLUESKY


def kept_agrees(
    engine: Engine, kept: waiting.Waitlist, hours: Hours | None = None
) -> waiting.Waiting:
    """The kept list, read now, checked against a whole read; then ``hours`` move on."""
    with Session(engine) as session:
        found = kept.read(session, BLUESKY)
        assert found == waiting.waiting(session, BLUESKY)
    if hours is not None:
        hours.later()
    return found


class Hours:
    """A simulated clock that moves on by hours: what changed before a read and its margin
    is not looked for again, so that each change is found by its own sign."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def later(self) -> None:
        self.now += 2 * waiting.CHANGES_MARGIN


def test_a_kept_waiting_list_finds_each_change_that_makes_contacts_due(
    engine: Engine, tmp_path: Path
) -> None:
    hours = Hours()
    with clock.simulated(hours):
        _each_change(engine, tmp_path, hours)


def _each_change(engine: Engine, tmp_path: Path, hours: Hours) -> None:
    net = Net(engine)
    alice = net.person("alice", ALICE_X, "bluesky")
    bob = net.person("bob", BOB_X, "mastodon")
    net.person("carol", CAROL_X, "bluesky")
    archive = make_archive(tmp_path / "a.zip", [], [BOB_X, CAROL_X, DAVE_X], account_id=ALICE_X,
                           username="alice_x")  # fmt: skip
    import_archive(engine, archive, for_person=alice)
    bystanders = [net.person(f"x{n}", 1000 + n, "bluesky") for n in range(12)]
    # (a change touches few of the people, as in a crowd)
    net.run()  # the cutover: everything due is delivered
    kept = waiting.Waitlist()
    hours.later()
    assert kept_agrees(engine, kept, hours).people == []

    dave = net.person("dave", DAVE_X, "bluesky")  # joins: a new match, both ways
    matching.run_requested(engine)
    assert kept_agrees(engine, kept, hours).people == [alice, dave]

    # Alice's archive sent again, now with a follow of someone already here: a new match
    # between two people who did not change.
    again = make_archive(tmp_path / "b.zip", [], [BOB_X, CAROL_X, DAVE_X, 1000],
                         account_id=ALICE_X, username="alice_x")  # fmt: skip
    import_archive(engine, again, for_person=alice)
    matching.run_requested(engine)
    assert kept_agrees(engine, kept, hours).people == sorted([alice, dave, bystanders[0]])

    net.run()
    kept.delivered(BLUESKY, [alice, dave, bystanders[0]])  # as the runner tells it
    assert kept_agrees(engine, kept, hours).people == []

    # Dave is found again after turning it off: Alice is due him again (the contact's side).
    say(net, "dave", "settings found no")
    assert kept_agrees(engine, kept, hours).people == []
    say(net, "dave", "settings found yes")
    assert kept_agrees(engine, kept, hours).people == [alice]

    # Bob, on Mastodon only, links a Bluesky account: Alice, who followed him, is due to him.
    with Session(engine) as session, session.begin():
        session.add(Identity(person_id=bob, network=BLUESKY, subject="did:plc:bob",
                             handle="bob.test"))  # fmt: skip
    assert kept_agrees(engine, kept, hours).people == [alice, bob]

    # A run gives Alice Dave as a follow made for her, which fails: he is due to her again.
    with Session(engine) as session, session.begin():
        session.add(Delivery(person_id=alice, contact_id=dave, network=BLUESKY, via=Via.FOLLOWED))
        follow = FollowAccount(grant=1, account="dave.test", contact=dave, subject="did:plc:dave")
        outbox.queue(session, key="follow:alice:dave", network=BLUESKY, action=follow,
                     person_id=alice)  # fmt: skip
    kept.delivered(BLUESKY, [alice])
    assert kept_agrees(engine, kept, hours).people == [bob]
    with Session(engine) as session:
        action = session.exec(
            select(OutboundAction).where(OutboundAction.idempotency_key == "follow:alice:dave")
        ).one()
    assert action.id is not None
    outbox.mark_failed(engine, action.id, "404: unknown account")
    assert kept_agrees(engine, kept, hours).people == [alice, bob]

    # Alice's own choices: she stops (nothing is due to her, nor of her), starts again, then
    # is erased.
    for stopped, waits in ((True, []), (False, [alice, bob])):
        with Session(engine) as session, session.begin():
            session.get_one(Person, alice).stopped = stopped
        assert kept_agrees(engine, kept, hours).people == waits
    with Session(engine) as session, session.begin():
        session.delete(session.get_one(Person, alice))
    assert kept_agrees(engine, kept, hours).people == []


def test_a_kept_waiting_list_is_read_whole_again_every_week(engine: Engine, tmp_path: Path) -> None:
    """What no change announces (here a delivery deleted by hand) is found by the safety
    net's whole read, a week after the last."""
    net = Net(engine)
    alice = net.alice_follows_carol(tmp_path)
    net.run()
    kept, start = waiting.Waitlist(), utcnow() + waiting.CHANGES_MARGIN  # the matches long found
    now = start
    with clock.simulated(lambda: now):
        with Session(engine) as session:
            assert kept.read(session, BLUESKY).people == []
        with Session(engine) as session, session.begin():
            session.execute(delete(Delivery).where(Delivery.person_id == alice))  # type: ignore[arg-type]
        now = start + timedelta(days=1)
        with Session(engine) as session:
            assert kept.read(session, BLUESKY).people == [], "nothing announced it"
        now = start + waiting.FULL_READ_EVERY
        assert kept_agrees(engine, kept).people == [alice]
