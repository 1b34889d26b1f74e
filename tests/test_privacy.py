"""A person's say over their data, through the core: settings, stop, and being forgotten
(checked in the database, and in what the bot deletes of what it published)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session, select

from shared import clock
from shared.actions import Delete
from shared.archive_import import import_archive
from shared.bot import privacy
from shared.clock import utcnow
from shared.db.models import (
    Consent,
    FollowEdge,
    Identity,
    InboundPost,
    LinkProof,
    OutboundAction,
    Person,
    XIdentity,
)
from shared.vocabulary import ActionStatus
from tests.archives import make_archive
from tests.core_world import ALICE_B, ALICE_M, MALLORY_M, World, to_post

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine


@pytest.fixture
def world(engine: Engine) -> World:
    return World(engine)


def linked_alice(world: World) -> None:
    world.say(ALICE_M, to_post(world.say(ALICE_B, "link alice@masto.test")))


def test_settings_are_shown_and_changed_in_both_languages(world: World, engine: Engine) -> None:
    assert world.say(ALICE_B, "settings") == (
        "Your settings: messages yes, follow for you no, reconnect both, found yes, "
        "directory no, attestation no. To change one, for example: “settings messages yes”."
    )
    assert world.say(ALICE_B, "settings messages yes") == "Noted: messages yes."
    assert world.say(ALICE_B, "réglages suivre OUI", languages=("fr",)) == (
        "C'est noté : suivre pour vous oui."
    )
    assert world.say(ALICE_B, "reglages reconnecter abonnés", languages=("fr",)) == (
        "C'est noté : reconnecter abonnés."
    )
    assert world.say(ALICE_B, "settings directory maybe").startswith("I don't know that setting")
    assert world.say(ALICE_B, "settings").startswith(
        "Your settings: messages yes, follow for you yes, reconnect followers, found yes, "
        "directory no"
    )
    with Session(engine) as session:
        consents = {c.purpose: c.granted for c in session.exec(select(Consent))}
    assert consents == {"suggestions_by_message": True, "follows_on_behalf": True}


def test_stop_means_no_more_messages(world: World, engine: Engine) -> None:
    world.say(ALICE_B, "settings messages yes")
    assert world.say(ALICE_B, "stop").startswith("Noted: I'll only write to you to answer you.")
    with Session(engine) as session:
        person = session.exec(select(Person)).one()
        consent = session.exec(select(Consent)).one()
    assert person.stopped
    assert (consent.purpose, consent.granted) == ("suggestions_by_message", False)
    world.say(ALICE_B, "settings messages yes")
    with Session(engine) as session:
        assert not session.exec(select(Person)).one().stopped, "messages yes starts again"


def test_forget_erases_the_person_after_a_confirmation(
    world: World, engine: Engine, tmp_path: Path
) -> None:
    linked_alice(world)
    world.say(ALICE_B, "settings attestation yes")
    # Her X archive too: an imported follow graph owned by her.
    import_archive(engine, make_archive(tmp_path / "x.zip", [11, 12, 13], [14]))
    with Session(engine) as session, session.begin():
        person_id = session.exec(select(Identity.person_id)).first()
        assert person_id is not None
        for x in session.exec(select(XIdentity)):
            old = x.person_id
            x.person_id = person_id
            session.add(x)
        session.delete(session.get_one(Person, old))
    from shared.reconnection import matching

    matching.run_requested(engine)
    asked = world.say(ALICE_B, "forget")
    assert asked.startswith("I will erase everything I know about you")
    with Session(engine) as session:  # her matches go while the erasure is pending
        assert session.get_one(Person, person_id).match_requested_at is not None
    assert identities(engine), "nothing is erased before the confirmation"
    published = {a.remote_ref for a in actions(engine) if a.remote_ref}
    assert len(published) == 6, "4 answers, a confirmation and the attestation"
    assert any(ref.startswith("fake:attest:") for ref in published)
    done = world.say(ALICE_M, "forget confirm")
    assert done == "Done: I have forgotten you, and I'm deleting what I published about you."

    with Session(engine) as session:
        for model in (Person, Identity, LinkProof, Consent, XIdentity, FollowEdge):
            assert list(session.exec(select(model))) == [], model.__name__
        authors = set(session.exec(select(InboundPost.author)))
    assert authors == {"forgotten"}
    # Everything the bot published about her is deleted, on each network.
    deleted = {
        o.action.ref
        for adapter in (world.bluesky, world.mastodon)
        for o in adapter.sent.values()
        if isinstance(o.action, Delete)
    }
    assert deleted == published
    # What remains of the last answer names nobody.
    remaining = [a for a in actions(engine) if a.kind == "reply"]
    assert [(a.status, a.payload, a.remote_ref) for a in remaining] == [
        (ActionStatus.DONE, {}, None)
    ]


def test_forget_needs_a_recent_request(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    linked_alice(world)
    assert world.say(ALICE_B, "oublier confirmer", languages=("fr",)) == (
        "Pour être oublié, écrivez d'abord « oublier »."
    )
    world.say(ALICE_B, "forget")
    later = utcnow() + timedelta(minutes=11)
    monkeypatch.setattr("shared.service.utcnow", lambda: later)
    assert world.say(ALICE_B, "forget confirm") == "To be forgotten, first write “forget”."
    assert identities(world.engine)


def test_a_forget_never_confirmed_lapses_and_the_person_is_matched_again(
    world: World, engine: Engine
) -> None:
    linked_alice(world)
    world.say(ALICE_B, "forget")
    with Session(engine) as session, session.begin():
        person = session.exec(select(Person)).one()
        assert person.forget_requested_at is not None, "matched with nobody meanwhile"
        person.match_requested_at = None
    assert privacy.lapse_forget_requests(engine) == 0, "she may confirm for ten minutes"
    later = utcnow() + timedelta(minutes=11)
    with clock.simulated(lambda: later):
        assert privacy.lapse_forget_requests(engine) == 1
    with Session(engine) as session:
        person = session.exec(select(Person)).one()
    assert person.forget_requested_at is None, "she changed her mind: nothing stays excluded"
    assert person.match_requested_at is not None, "her matches are found again"


def test_forget_from_a_stranger_keeps_nothing_and_touches_nobody(world: World) -> None:
    linked_alice(world)
    assert world.say(MALLORY_M, "forget") == "I keep nothing about you."
    assert world.say(MALLORY_M, "forget confirm") == "I keep nothing about you."
    assert len(identities(world.engine)) == 2


def actions(engine: Engine) -> list[OutboundAction]:
    with Session(engine) as session:
        return list(session.exec(select(OutboundAction)))


def identities(engine: Engine) -> list[Identity]:
    with Session(engine) as session:
        return list(session.exec(select(Identity)))


def test_what_only_served_once_is_pruned_in_time(world: World, engine: Engine) -> None:
    from shared import retention
    from shared.db.models import LinkRequest

    to_post(world.say(ALICE_B, "link alice@masto.test"))
    world.say(ALICE_M, "link x")  # no public URL here: no token; a request and posts remain
    world.say(MALLORY_M, "help")  # a stranger: the answer is about nobody the service keeps
    with Session(engine) as session:
        assert len(list(session.exec(select(InboundPost)))) == 3
        assert len(list(session.exec(select(LinkRequest)))) == 1
    assert retention.prune(engine) == retention.Pruned(0, 0, 0, 0)
    assert [a.payload for a in actions(engine)] == [{}] * 3, "what was said is forgotten once sent"
    later = utcnow() + retention.INBOUND_KEPT + timedelta(seconds=1)
    assert retention.prune(engine, now=later) == retention.Pruned(3, 1, 0, 1)
    assert identities(engine), "people and their links stay"
    kept = actions(engine)
    assert len(kept) == 2 and all(a.person_id and a.remote_ref for a in kept), (
        "the bot's posts about Alice stay, for erasure on request"
    )
