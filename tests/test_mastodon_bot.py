"""The Mastodon bot against the Mastodon-API test server, driven by people using Mastodon.py:
it answers when addressed (in thread, privately when asked privately), once, across restarts,
on servers that are not Mastodon, and under rate limits."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlmodel import Session, select

from mastodon_bot.adapter import MastodonAdapter
from mastodon_bot.text import html_to_text
from shared.bot.handlers import default_registry
from shared.db.models import OutboundAction
from shared.service import Service
from shared.stores import Stores
from shared.vocabulary import ActionStatus, Network
from tests.mastodon_world import MastodonWorld as World
from tests.running import Crashes, run_until
from testworld.mastodon.people import create_person
from testworld.mastodon.profiles import GOTOSOCIAL, MASTODON, PROFILES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sqlalchemy.engine import Engine

    from testworld.mastodon.people import MastodonPerson

pytestmark = pytest.mark.integration
WAIT_SEC = 30.0  # a deadline for what must happen; a loaded machine is slow


# People post before the bot's first start in these tests: it is asked to catch up.
CATCH_UP = timedelta(minutes=5)
# A server with less: acct written with the domain, no conversations, no lookup.
SPARSE_SERVER = replace(
    GOTOSOCIAL, name="sparse", acct_with_domain=True, conversations=False, lookup=False
)
# A server whose version string parses as no version (a fork, a development build): the
# bot runs all the same.
NO_VERSION = replace(MASTODON, name="no-version", version="")
SERVERS = [*PROFILES.values(), SPARSE_SERVER, NO_VERSION]


@pytest.fixture(params=SERVERS, ids=[q.name for q in SERVERS])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    running = World(request.param, bot_flagged=False)
    yield running
    running.stop()


def run_bot(world: World, engine: Engine, until: Callable[[], bool]) -> None:
    """Run the service with the Mastodon bot until ``until()`` holds (or fail)."""
    adapter = MastodonAdapter(
        Stores.of(engine, None),
        world.url,
        world.bot.token,
        poll_interval_sec=0.05,
        catch_up=CATCH_UP,
    )
    service = Service(engine, [adapter], default_registry(), delivery_interval_sec=0.1)
    run_until(service, until, WAIT_SEC)


def answers(person: MastodonPerson, status: Any) -> list[Any]:
    return person.answers_to(status)


def test_a_mention_is_answered_in_thread(world: World, db: Engine) -> None:
    status = world.alice_person.post("@helloquittex help")
    run_bot(world, db, lambda: bool(answers(world.alice_person, status)))
    [answer] = answers(world.alice_person, status)
    assert html_to_text(answer.content).startswith("@alice Hello! I'm HelloQuitteX")
    assert answer.visibility == "unlisted", "a public answer stays out of public timelines"
    assert answer.language == "en"
    assert world.server.accounts[world.bot.id].bot, "the account is marked as a bot"


def test_a_direct_message_gets_a_direct_answer_in_its_language(world: World, db: Engine) -> None:
    status = world.alice_person.client.status_post(
        "@helloquittex aide", visibility="direct", language="fr"
    )
    run_bot(world, db, lambda: bool(answers(world.alice_person, status)))
    [answer] = answers(world.alice_person, status)
    assert answer.visibility == "direct"
    assert answer.language == "fr"
    assert "Bonjour ! Je suis HelloQuitteX" in html_to_text(answer.content)


def test_only_posts_addressed_to_the_bot_are_answered(world: World, db: Engine) -> None:
    bob = create_person(world.server, world.url, "bob")
    world.alice_person.post("Nice weather today")
    world.alice_person.post("@bob hello there")
    addressed = bob.post("@helloquittex hi")
    run_bot(world, db, lambda: bool(answers(bob, addressed)))
    assert len(world.bot_statuses()) == 1


def test_a_restart_answers_what_came_meanwhile_and_nothing_twice(world: World, db: Engine) -> None:
    first = world.alice_person.post("@helloquittex help")
    run_bot(world, db, lambda: bool(answers(world.alice_person, first)))
    second = world.alice_person.post("@helloquittex help again")  # while the bot is stopped
    run_bot(world, db, lambda: bool(answers(world.alice_person, second)))
    assert len(answers(world.alice_person, first)) == 1
    assert len(answers(world.alice_person, second)) == 1
    assert len(world.bot_statuses()) == 2


def test_a_backlog_longer_than_a_page_is_answered_in_full(world: World, db: Engine) -> None:
    people = [create_person(world.server, world.url, f"reader{n}") for n in range(45)]
    asked = [person.post(f"@helloquittex help {n}") for n, person in enumerate(people)]
    run_bot(world, db, lambda: len(world.bot_statuses()) >= len(asked))
    answered = [s.in_reply_to.id for s in world.bot_statuses() if s.in_reply_to]
    assert sorted(answered) == sorted(str(status.id) for status in asked)


def test_a_rate_limit_delays_the_answer_until_the_reset(world: World, db: Engine) -> None:
    status = world.alice_person.post("@helloquittex help")
    world.server.refuse_statuses = 1  # the bot's first answer hits the limit
    world.server.rate_limit_reset_in = timedelta(seconds=1)
    run_bot(world, db, lambda: bool(answers(world.alice_person, status)))
    with Session(db) as session:
        [action] = session.exec(select(OutboundAction))
    assert (action.status, action.attempts) == (ActionStatus.DONE, 2)
    assert action.updated_at.replace(tzinfo=UTC) >= world.server.rate_limit_reset - timedelta(
        seconds=1
    )
    assert len(answers(world.alice_person, status)) == 1


def test_polling_slows_down_when_the_budget_runs_low(world: World, db: Engine) -> None:
    adapter = MastodonAdapter(Stores.of(db, None), world.url, world.bot.token)
    assert adapter.pause_sec() == 10.0
    adapter._api.ratelimit_remaining = 10
    reset: float
    reset = datetime.now(UTC).timestamp() + 200
    adapter._api.ratelimit_reset = reset  # type: ignore[assignment]
    assert 19.0 < adapter.pause_sec() <= 20.0
    adapter._api.ratelimit_remaining = 0
    assert 199.0 < adapter.pause_sec() <= 200.0


@pytest.mark.parametrize(
    ("hours_ago", "key_fails"), [(0, False), (2, False), (0, True)],
    ids=["within-the-hour", "key-forgotten", "repeated-key-fails"],
)  # fmt: skip
def test_an_interrupted_answer_is_not_sent_twice(
    world: World, db: Engine, hours_ago: float, key_fails: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sent, then a crash before it was recorded: the retry finds it, whether the server
    keeps Idempotency-Key (Mastodon, Akkoma), ignores it (GoToSocial), forgot it (an hour
    later) or answers a repeated key with a 500 (a Mastodon bug)."""
    crashes = Crashes(monkeypatch)
    status = world.alice_person.post("@helloquittex help")
    run_bot(world, db, lambda: bool(answers(world.alice_person, status)))
    crashes.after_sending(db, created_at=datetime.now(UTC) - timedelta(hours=hours_ago))
    if hours_ago:
        world.server._idempotency.clear()  # the server forgot the key after an hour
    world.server.repeated_key_fails = key_fails

    def recorded() -> bool:
        with Session(db) as session:
            return session.exec(select(OutboundAction)).one().status == ActionStatus.DONE

    run_bot(world, db, recorded)
    assert len(answers(world.alice_person, status)) == 1
    assert len(world.bot_statuses()) == 1


def streaming_bot(world: World, engine: Engine, poll_sec: float) -> tuple[MastodonAdapter, Service]:
    adapter = MastodonAdapter(
        Stores.of(engine, None),
        world.url,
        world.bot.token,
        poll_interval_sec=poll_sec,
        catch_up=CATCH_UP,
    )
    return adapter, Service(engine, [adapter], default_registry(), delivery_interval_sec=0.1)


def test_mentions_arrive_over_the_stream_and_it_reconnects(world: World, db: Engine) -> None:
    # Polling once an hour: after the first poll, only the stream can bring a mention.
    adapter, service = streaming_bot(world, db, poll_sec=3600)
    alice = world.alice_person
    asked: list[Any] = []

    def scene() -> bool:
        connected = adapter.streaming.is_set() and world.server.open_streams == 1
        if not connected or world.server.streams_opened != (1 if len(asked) < 2 else 2):
            return False
        if len(asked) == 0:
            asked.append(alice.post("@helloquittex help"))
        elif len(asked) == 1 and answers(alice, asked[0]):
            world.server.drop_streams()  # the link breaks; the bot reconnects
            asked.append(None)
        elif len(asked) == 2:
            asked[1] = alice.post("@helloquittex help again")
            asked.append("posted after the reconnection")
        return len(asked) == 3 and bool(answers(alice, asked[1]))

    run_until(service, scene, WAIT_SEC)
    assert [len(answers(alice, status)) for status in asked[:2]] == [1, 1]


def test_a_server_without_streaming_is_polled(db: Engine) -> None:
    world = World(MASTODON.without_streaming(), bot_flagged=False)
    try:
        adapter, service = streaming_bot(world, db, poll_sec=0.05)
        status = world.alice_person.post("@helloquittex help")
        run_until(service, lambda: bool(answers(world.alice_person, status)), WAIT_SEC)
        assert not adapter.streaming.is_set()
        assert len(answers(world.alice_person, status)) == 1
    finally:
        world.stop()


def test_a_first_start_answers_nothing_from_before_it(world: World, db: Engine) -> None:
    # The bot's account is old: people wrote to it before this database existed (an earlier
    # deployment answered them). A first start answers only what comes after it.
    old = [world.alice_person.post(f"@helloquittex help {n}") for n in range(3)]
    adapter = MastodonAdapter(
        Stores.of(db, None), world.url, world.bot.token, poll_interval_sec=0.05
    )
    service = Service(db, [adapter], default_registry(), delivery_interval_sec=0.1)
    new: list[Any] = []

    def scene() -> bool:
        if not new:
            new.append(world.alice_person.post("@helloquittex help, new"))
        return bool(answers(world.alice_person, new[0]))

    run_until(service, scene, WAIT_SEC)
    assert [len(answers(world.alice_person, status)) for status in old] == [0, 0, 0]
    assert len(world.bot_statuses()) == 1
    # A restart on the same database catches up with what came while it was stopped.
    meanwhile = world.alice_person.post("@helloquittex help, meanwhile")
    run_until(service, lambda: bool(answers(world.alice_person, meanwhile)), WAIT_SEC)
    assert [len(answers(world.alice_person, status)) for status in old] == [0, 0, 0]


def test_each_server_streams_the_way_it_can(world: World, db: Engine) -> None:
    adapter, service = streaming_bot(world, db, poll_sec=3600)
    seen: list[dict[str, str]] = []

    def streaming() -> bool:  # what /healthz would say while it runs
        if adapter.streaming.is_set():
            seen.append(adapter.health())
        return bool(seen)

    run_until(service, streaming, WAIT_SEC)
    # WebSocket first, everywhere; GoToSocial advertises wss:// where it serves plain http,
    # so the bot falls back to the API's own address.
    assert seen[0] == {"receiving": "streaming (websocket)"}


def test_a_server_with_server_sent_events_only(db: Engine) -> None:
    world = World(replace(MASTODON, websocket=False), bot_flagged=False)
    try:
        adapter, service = streaming_bot(world, db, poll_sec=3600)
        status: list[Any] = []

        def scene() -> bool:
            if adapter.streaming.is_set() and not status:
                status.append(world.alice_person.post("@helloquittex help"))
            return bool(status) and bool(answers(world.alice_person, status[0]))

        run_until(service, scene, WAIT_SEC)
        assert adapter.health() == {"receiving": "streaming (sse)"}
    finally:
        world.stop()


def test_a_server_that_cannot_stream_is_said_once_and_polled(
    db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    world = World(MASTODON.without_streaming(), bot_flagged=False)
    try:
        adapter, service = streaming_bot(world, db, poll_sec=0.05)
        run_until(service, lambda: adapter.health()["receiving"].startswith("polling"), WAIT_SEC)
        assert adapter.health() == {
            "receiving": "polling every 0.05 s: the server does not stream to us"
        }
        said = [r for r in caplog.records if "no stream" in r.getMessage()]
        assert len(said) == 1, "said once, not at every attempt"
    finally:
        world.stop()


def test_accounts_stored_under_their_profile_url_move_to_their_actor_id(
    world: World, db: Engine
) -> None:
    """Earlier versions stored accounts of servers without ``uri`` under their profile URL;
    the bot moves them to their ActivityPub id (WebFinger) without waiting for a post."""
    from shared.db.models import Identity, Person

    acct = f"alice@{world.server.domain}"
    with Session(db) as session, session.begin():
        person = Person()
        session.add(person)
        session.flush()
        assert person.id is not None
        session.add(
            Identity(
                person_id=person.id,
                network=Network.MASTODON,
                subject=world.server.profile_url(world.alice),
                handle=acct,
            )
        )

    def moved() -> bool:
        with Session(db) as session:
            return session.exec(select(Identity.subject)).one() == world.server.actor_id(
                world.alice
            )

    run_bot(world, db, moved)
