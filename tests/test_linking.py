"""Linking accounts through the core, with two fake networks, on SQLite and PostgreSQL: the
protocol of challenge codes, and every way to cheat it that the bot must refuse."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session, select

from shared.bot.handlers import default_registry
from shared.db.models import LinkProof, Person
from shared.identity import challenge
from shared.service import THROTTLE_POSTS, Service
from shared.vocabulary import Network
from tests.core_world import (
    ALICE_B,
    ALICE_M,
    KEY,
    MALLORY_B,
    MALLORY_M,
    World,
    code_in,
    to_post,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@pytest.fixture
def world(engine: Engine) -> World:
    return World(engine)


def test_link_from_bluesky_then_prove_on_mastodon(world: World) -> None:
    answer = world.say(ALICE_B, "link alice@masto.test")
    assert answer.startswith("To prove @alice@masto.test is yours, post this from it as it is")
    assert to_post(answer).startswith(
        "@helloquittex@fake.test I link this account to alice.test (Bluesky): HQX-"
    )
    done = world.say(ALICE_M, to_post(answer))
    assert done == "Done: @alice.test (Bluesky) and @alice@masto.test (Mastodon) are now linked."
    persons = world.persons()
    assert persons["alice.test"] == persons["alice@masto.test"]
    # Confirmed on the other network too, in the request's thread.
    [(network, confirmation)] = world.confirmations()
    assert network == "bluesky"
    assert confirmation.to.subject == ALICE_B.subject
    assert confirmation.text == done
    assert world.say(ALICE_B, "status") == (
        "Linked accounts: @alice.test (Bluesky, proven), @alice@masto.test (Mastodon, proven)."
    )


def test_link_from_mastodon_in_french_then_prove_on_bluesky(world: World) -> None:
    answer = world.say(ALICE_M, "lier alice.test", languages=("fr",))
    assert answer.startswith("Pour prouver que @alice.test est à vous")
    assert to_post(answer).startswith(
        "@helloquittex.fake.test je relie ce compte à alice@masto.test (Mastodon) : HQX-"
    )
    done = world.say(ALICE_B, to_post(answer), languages=("fr",))
    assert done == "C'est fait : @alice@masto.test (Mastodon) et @alice.test (Bluesky) sont reliés."
    assert world.say(ALICE_M, "statut", languages=("fr",)).startswith("Comptes reliés : ")


def test_linking_a_third_time_finds_it_done(world: World) -> None:
    world.say(ALICE_M, to_post(world.say(ALICE_B, "link alice@masto.test")))
    assert world.say(ALICE_B, "link alice@masto.test") == (
        "@alice@masto.test is already linked to this account."
    )


def test_asking_for_help_stores_nobody(world: World) -> None:
    world.say(ALICE_B, "help")
    world.say(ALICE_M, "status")
    assert world.persons() == {}


def test_two_persons_who_asked_from_each_side_become_one(world: World, engine: Engine) -> None:
    from_bluesky = to_post(world.say(ALICE_B, "link alice@masto.test"))
    world.say(ALICE_M, "link alice.test")
    assert len(set(world.persons().values())) == 2
    world.say(ALICE_M, from_bluesky)
    assert len(set(world.persons().values())) == 1
    with Session(engine) as session:
        assert len(list(session.exec(select(Person)))) == 1, "the other person is merged away"


def test_someone_else_posting_your_code_links_nothing(world: World) -> None:
    code = to_post(world.say(ALICE_B, "link alice@masto.test"))
    assert world.say(MALLORY_M, code).startswith("This code isn't valid for this account")
    assert "mallory@masto.test" not in world.persons(), "a failed proof stores nobody"
    # ...and the code still works for Alice afterwards.
    assert world.say(ALICE_M, code).startswith("Done:")


def test_a_code_for_another_account_links_nothing(world: World) -> None:
    meant_for_mallory = to_post(world.say(MALLORY_B, "link mallory@masto.test"))
    assert world.say(ALICE_M, meant_for_mallory).startswith("This code isn't valid")
    assert "alice@masto.test" not in world.persons()


def test_an_expired_code_links_nothing(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    code = to_post(world.say(ALICE_B, "link alice@masto.test"))
    later = challenge.read(code_in(code)).expires_at + timedelta(seconds=1)
    monkeypatch.setattr("shared.service.utcnow", lambda: later)
    assert world.say(ALICE_M, code) == "This code has expired: ask for a new one with “link”."
    assert world.persons()["alice.test"] != world.persons().get("alice@masto.test")


def test_a_tampered_code_links_nothing(world: World) -> None:
    code = to_post(world.say(ALICE_B, "link alice@masto.test"))
    last = "0" if code[-1] != "0" else "2"
    answer = world.say(ALICE_M, code[:-1] + last)
    assert answer.startswith(("This code isn't valid", "This code is incomplete"))
    assert world.persons()["alice.test"] != world.persons().get("alice@masto.test")


def test_a_code_is_accepted_once(world: World, engine: Engine) -> None:
    code = to_post(world.say(ALICE_B, "link alice@masto.test"))
    assert world.say(ALICE_M, code).startswith("Done:")
    assert world.say(ALICE_M, f"again {code}") == (
        "This code was already used: ask for a new one with “link”."
    )
    with Session(engine) as session:
        assert len(list(session.exec(select(LinkProof)))) == 1


def test_an_edited_post_proves_nothing(world: World) -> None:
    code = to_post(world.say(ALICE_B, "link alice@masto.test"))
    answer = world.say(ALICE_M, code, edited=True)
    assert answer == "An edited post proves nothing: post the code in a new post."
    assert world.say(ALICE_M, code).startswith("Done:"), "a new post still can"


@pytest.mark.parametrize(
    "named",
    ["ALICE@masto.test", "alice@MASTO.test", "\u0430lice@masto.test", "alice@masto.test\u200b"],
    ids=["case", "domain-case", "cyrillic-a", "zero-width"],
)
def test_look_alike_handles_name_the_real_account_or_nobody(world: World, named: str) -> None:
    answer = world.say(ALICE_B, f"link {named}")
    if "To prove" in answer:  # case differences name the same account, found by the network
        assert world.say(ALICE_M, to_post(answer)).startswith("Done:")
    else:
        assert answer.startswith(("I can't find", "I don't recognise")), answer
    # Whatever was named, a look-alike account cannot use a code meant for Alice.
    code = to_post(world.say(MALLORY_B, "link mallory@masto.test"))
    assert world.say(ALICE_M, code).startswith("This code isn't valid")


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("link", "Tell me which account to link, for example:"),
        ("link bonjour", "I don't recognise “bonjour” as a Bluesky or Mastodon account."),
        ("link mallory.test", "@mallory.test is on this same network: name your account"),
        ("link nobody@masto.test", "I can't find @nobody@masto.test on Mastodon."),
        ("link x", "This service does not take X archives."),
    ],
)
def test_link_requests_that_cannot_be_served_say_why(world: World, text: str, answer: str) -> None:
    assert world.say(ALICE_B, text).startswith(answer)


def test_without_a_bot_on_the_other_network_linking_says_so(engine: Engine) -> None:
    lonely = World(engine)
    lonely.service = Service(engine, [lonely.bluesky], default_registry(), KEY)
    assert lonely.say(ALICE_B, "link alice@masto.test") == (
        "This service has no bot on Mastodon: I can't check an account there."
    )


def test_a_flood_gets_one_polite_answer_then_silence(world: World) -> None:
    answers = [world.say(ALICE_M, f"help {n}") for n in range(THROTTLE_POSTS + 3)]
    assert all(
        a.startswith("I didn't understand") or a.startswith("Hello!")
        for a in answers[:THROTTLE_POSTS]
    )
    assert answers[THROTTLE_POSTS].startswith("You're writing to me a lot")
    assert answers[THROTTLE_POSTS + 1 :] == ["", ""]
    # Others are not held back by one person's flood.
    assert world.say(MALLORY_M, "help").startswith("Hello!")


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("unlink", "Tell me which account to unlink, for example:"),
        ("unlink bob@masto.test", "@bob@masto.test is not linked to this account."),
        ("unlink alice.test", "That is the account writing to me: unlink it from another"),
    ],
)
def test_unlinking_what_cannot_be_unlinked_says_why(world: World, text: str, answer: str) -> None:
    world.say(ALICE_M, to_post(world.say(ALICE_B, "link alice@masto.test")))
    assert world.say(ALICE_B, text).startswith(answer)
    assert len(set(world.persons().values())) == 1


def test_an_unlinked_account_can_be_linked_again(world: World) -> None:
    world.say(ALICE_M, to_post(world.say(ALICE_B, "link alice@masto.test")))
    assert world.say(ALICE_M, "délier alice.test", languages=("fr",)) == (
        "C'est fait : @alice.test n'est plus relié."
    )
    assert "alice.test" not in world.persons()
    world.say(ALICE_M, to_post(world.say(ALICE_B, "link alice@masto.test")))
    persons = world.persons()
    assert persons["alice.test"] == persons["alice@masto.test"]


def test_linking_while_the_other_network_is_down_says_so(world: World) -> None:
    from shared.errors import HqxError

    async def down(_handle: str) -> None:
        raise HqxError("Mastodon: cannot look up @alice@masto.test: 502")

    world.mastodon.resolve = down  # type: ignore[method-assign,assignment]
    assert world.say(ALICE_B, "link alice@masto.test") == (
        "I can't reach Mastodon right now: please try again later."
    )


def test_an_account_stored_under_its_profile_url_is_rekeyed_to_its_actor_id(
    world: World, engine: Engine
) -> None:
    """Earlier versions stored a Mastodon account without ``uri`` under its profile URL;
    its next post, which reports both, moves everything to the ActivityPub id."""
    from shared.db.models import Identity
    from shared.identity.accounts import Account
    from shared.protocol import Author

    profile_url = "https://masto.test/@alice"
    before = Author(profile_url, ALICE_M.handle)
    world.mastodon.accounts[ALICE_M.handle] = Account(Network.MASTODON, profile_url, ALICE_M.handle)
    world.say(before, to_post(world.say(ALICE_B, "link alice@masto.test")))
    now = Author(ALICE_M.subject, ALICE_M.handle, former_subjects=(profile_url,))
    assert "alice@masto.test" in world.say(now, "status")
    with Session(engine) as session:
        subjects = {i.network: i.subject for i in session.exec(select(Identity))}
        proof = session.exec(select(LinkProof)).one()
    assert subjects == {"bluesky": ALICE_B.subject, "mastodon": ALICE_M.subject}
    assert proof.subject == ALICE_M.subject
    assert len(world.persons()) == 2 and len(set(world.persons().values())) == 1


def _alice_on_both(world: World) -> None:
    assert world.say(ALICE_M, to_post(world.say(ALICE_B, "link alice@masto.test"))).startswith(
        "Done:"
    )


def test_a_phished_code_posted_without_its_words_links_nothing(world: World) -> None:
    """Mallory asks to link Alice's account and tricks Alice into posting the bare code."""
    _alice_on_both(world)
    phished = code_in(world.say(MALLORY_M, "link alice.test"))
    answer = world.say(ALICE_B, f"@helloquittex {phished}")
    assert answer.startswith("This post doesn't say which account you link this one to")
    persons = world.persons()
    assert persons["alice.test"] == persons["alice@masto.test"] != persons["mallory@masto.test"]
    assert "alice" not in world.say(MALLORY_M, "status")


def test_a_phished_post_moves_the_posting_account_alone(world: World) -> None:
    """Even with the words posted, Mallory never reaches Alice's other accounts."""
    _alice_on_both(world)
    ready = to_post(world.say(MALLORY_M, "link alice.test"))
    assert "mallory@masto.test (Mastodon)" in ready, "the text names who asked"
    answer = world.say(ALICE_B, ready)
    assert answer.startswith(
        "Done: this account is linked to @mallory@masto.test (Mastodon). Your other accounts "
        "(@alice@masto.test (Mastodon, proven)) stay apart"
    )
    mallory_sees = world.say(MALLORY_M, "status")
    assert "alice.test" in mallory_sees and "alice@masto.test" not in mallory_sees
    assert world.say(MALLORY_M, "unlink alice@masto.test") == (
        "@alice@masto.test is not linked to this account."
    )
    world.say(MALLORY_M, "forget")
    world.say(MALLORY_M, "forget confirm")
    assert "alice@masto.test" in world.persons(), "Mallory's erasure spares Alice's accounts"
    assert world.say(ALICE_M, "join") == (
        "There is nothing to join: no account is waiting for your word."
    ), "the person Alice's account joined is gone"


def test_join_brings_the_accounts_left_apart_on_their_word(world: World) -> None:
    _alice_on_both(world)
    # Alice's other Mastodon account (here "mallory@masto.test") asks for her Bluesky one.
    world.say(ALICE_B, to_post(world.say(MALLORY_M, "link alice.test")))
    assert world.say(MALLORY_B, "join").startswith("There is nothing to join"), "not theirs"
    assert world.say(MALLORY_M, "join").startswith("There is nothing to join"), "not the asker"
    done = world.say(ALICE_M, "réunir", languages=("fr",))
    assert done.startswith("C'est fait : vos comptes sont réunis : ")
    persons = world.persons()
    assert persons["alice.test"] == persons["alice@masto.test"] == persons["mallory@masto.test"]


def test_codes_sharing_a_nonce_all_prove(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The nonce is short; at 100,000 proofs, one code in 170 shared it with an earlier one
    and was refused as used. A code is now known by all it holds, the asker included."""
    monkeypatch.setattr("shared.identity.challenge.secrets.token_bytes", lambda n: b"\x00" * n)
    _alice_on_both(world)
    answer = world.say(MALLORY_M, to_post(world.say(MALLORY_B, "link mallory@masto.test")))
    assert answer.startswith("Done:")
