"""The core service, through a recording fake adapter, on SQLite and PostgreSQL: each post is
answered once, sends survive crashes and are never repeated, failures wait or give up."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session, select

from shared import backoff, outbox, service
from shared.actions import FollowAccount, Recipient, Reply
from shared.bot.commands import CommandRegistry
from shared.bot.handlers import default_registry
from shared.db.models import InboundPost, OutboundAction, Person
from shared.protocol import Author, DeliveryError, IncomingPost
from shared.service import Service
from shared.vocabulary import ActionStatus, Network
from tests.fakes import FakeAdapter, RefusedAdapter

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

KEY = "reply:mastodon:111"


def post(
    text: str = "aide", post_id: str = "111", languages: tuple[str, ...] = ("fr",)
) -> IncomingPost:
    return IncomingPost(
        network=Network.MASTODON,
        post_id=post_id,
        author=Author("https://fake.test/users/alice", "alice@fake.test"),
        text=text,
        languages=languages,
        reply_context={"status_id": post_id, "visibility": "public"},
    )


def actions(engine: Engine) -> list[OutboundAction]:
    with Session(engine) as session:
        return list(session.exec(select(OutboundAction)))


def waits_until(action: OutboundAction, moment: datetime) -> bool:
    return abs(action.not_before.replace(tzinfo=UTC) - moment) < timedelta(seconds=1)


def make_due(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        for action in session.exec(select(OutboundAction)):
            action.not_before = datetime.now(UTC) - timedelta(seconds=1)
            session.add(action)


def test_a_post_is_answered_once_however_often_it_arrives(engine: Engine) -> None:
    adapter = FakeAdapter()
    core = Service(engine, [adapter], default_registry())

    async def scenario() -> None:
        for _ in range(3):  # streaming, polling and a restart all deliver it
            await core.receive(post())
            await core.deliver_due()

    asyncio.run(scenario())
    assert adapter.deliveries == [KEY]
    answer = adapter.sent[KEY].action
    assert isinstance(answer, Reply)
    assert answer.lang == "fr"
    assert answer.text.startswith("Bonjour ! Je suis HelloQuitteX")
    assert answer.to == Recipient("https://fake.test/users/alice", "alice@fake.test")
    [action] = actions(engine)
    assert (action.status, action.remote_ref, action.attempts) == ("done", f"fake:{KEY}", 1)
    with Session(engine) as session:
        assert len(list(session.exec(select(InboundPost)))) == 1


def test_an_answer_goes_before_the_follows_queued_ahead_of_it(engine: Engine) -> None:
    """At the cutover thousands of follows are due at once: a mention is still answered in
    the next pass, not hours later behind them."""
    with Session(engine) as session, session.begin():
        crowd = [
            outbox.Queued(f"follow:1:{n}", Network.MASTODON,
                          FollowAccount(1, f"c{n}@m.test", n, f"https://m.test/users/c{n}"))
            for n in range(120)
        ]  # fmt: skip
        assert len(outbox.queue_many(session, crowd)) == 120
    adapter = FakeAdapter()
    core = Service(engine, [adapter], default_registry())

    async def scenario() -> None:
        await core.receive(post())
        await core.deliver_due()  # one pass

    asyncio.run(scenario())
    assert adapter.deliveries[0] == KEY, "the answer first"
    assert adapter.deliveries[1:] == [f"follow:1:{n}" for n in range(len(adapter.deliveries) - 1)]


def test_an_interrupted_send_is_completed_once_after_a_restart(engine: Engine) -> None:
    first = Service(engine, [FakeAdapter()], default_registry())
    asyncio.run(first.receive(post()))
    [queued] = actions(engine)
    assert queued.id is not None
    assert outbox.claim(engine, queued.id) is not None  # the process dies here, mid-send
    assert outbox.claim(engine, queued.id) is None, "a claimed action is not claimed twice"

    adapter = FakeAdapter()
    second = Service(engine, [adapter], default_registry())

    async def restart() -> None:
        await second.start()
        await second.deliver_due()
        await second.stop()

    asyncio.run(restart())
    assert adapter.deliveries == [KEY]
    assert adapter.sent[KEY].attempts == 2, "the adapter is told it is a retry"
    [action] = actions(engine)
    assert action.status == ActionStatus.DONE
    assert adapter.started and adapter.closed


def test_a_rate_limit_waits_for_its_reset(engine: Engine) -> None:
    adapter = FakeAdapter()
    reset = datetime.now(UTC) + timedelta(hours=1)
    adapter.failures = [DeliveryError("429 Too Many Requests", retry_at=reset)]
    core = Service(engine, [adapter], default_registry())

    async def scenario() -> None:
        await core.receive(post())
        await core.deliver_due()
        await core.deliver_due()  # not due yet: nothing is tried

    asyncio.run(scenario())
    [action] = actions(engine)
    assert action.status == ActionStatus.PENDING
    assert action.last_error == "429 Too Many Requests"
    assert waits_until(action, reset)
    assert adapter.deliveries == [KEY]

    make_due(engine)
    asyncio.run(core.deliver_due())
    assert list(adapter.sent) == [KEY]
    assert actions(engine)[0].status == ActionStatus.DONE


def test_a_refused_follow_holds_back_that_persons_other_follows_until_the_reset(
    engine: Engine,
) -> None:
    """Follows are made with each person's own grant, under their own limit: one refused,
    the person's other due follows wait for the reset, untried, while others' go on."""
    with Session(engine) as session, session.begin():
        alice, bob = Person(), Person()
        session.add_all([alice, bob])
        session.flush()
        queued = [
            outbox.Queued(f"follow:{who.id}:{n}", Network.MASTODON,
                          FollowAccount(1, f"c{n}@m.test", n, f"https://m.test/users/c{n}"),
                          person_id=who.id)
            for who, count in ((alice, 4), (bob, 2)) for n in range(count)
        ]  # fmt: skip
        assert len(outbox.queue_many(session, queued)) == 6
        people = (alice.id, bob.id)
    make_due(engine)
    adapter = FakeAdapter()
    reset = datetime.now(UTC) + timedelta(hours=1)
    adapter.failures = [DeliveryError("429 Too Many Requests", retry_at=reset)]
    core = Service(engine, [adapter], default_registry())
    asyncio.run(core.deliver_due())

    alice_keys = [f"follow:{people[0]}:{n}" for n in range(4)]
    assert adapter.deliveries == [alice_keys[0], f"follow:{people[1]}:0", f"follow:{people[1]}:1"]
    waiting = [a for a in actions(engine) if a.person_id == people[0]]
    assert {a.status for a in waiting} == {ActionStatus.PENDING}
    assert all(waits_until(a, reset) for a in waiting)
    assert sorted(a.attempts for a in waiting) == [0, 0, 0, 1], "tried once, not four times"
    asyncio.run(core.deliver_due())
    assert len(adapter.deliveries) == 3, "nothing of hers before the reset"


def test_a_rate_limit_holds_back_the_bots_other_answers_of_that_kind(engine: Engine) -> None:
    adapter = FakeAdapter()
    reset = datetime.now(UTC) + timedelta(hours=1)
    adapter.failures = [DeliveryError("429 Too Many Requests", retry_at=reset)]
    core = Service(engine, [adapter], default_registry())

    async def scenario() -> None:
        await core.receive(post(post_id="111"))
        await core.receive(post(post_id="112"))
        await core.deliver_due()

    asyncio.run(scenario())
    assert adapter.deliveries == [KEY], "the second answer waits for the reset, untried"
    waiting = actions(engine)
    assert [a.status for a in waiting] == [ActionStatus.PENDING] * 2
    assert all(waits_until(a, reset) for a in waiting)


def test_a_refused_action_is_not_retried(engine: Engine) -> None:
    adapter = FakeAdapter()
    adapter.failures = [DeliveryError("422 text too long", permanent=True)]
    core = Service(engine, [adapter], default_registry())

    async def scenario() -> None:
        await core.receive(post())
        await core.deliver_due()
        make_due(engine)
        await core.deliver_due()

    asyncio.run(scenario())
    [action] = actions(engine)
    assert (action.status, action.last_error) == ("failed", "422 text too long")
    assert adapter.deliveries == [KEY]


def test_transient_failures_back_off_then_give_up(engine: Engine) -> None:
    adapter = FakeAdapter()
    adapter.failures = [DeliveryError("502 Bad Gateway")] * outbox.MAX_ATTEMPTS
    core = Service(engine, [adapter], default_registry())
    asyncio.run(core.receive(post()))
    waits = []
    for _ in range(outbox.MAX_ATTEMPTS):
        make_due(engine)
        before = datetime.now(UTC)
        asyncio.run(core.deliver_due())
        waits.append(actions(engine)[0].not_before.replace(tzinfo=UTC) - before)
    [action] = actions(engine)
    assert action.status == ActionStatus.FAILED
    assert action.last_error == f"gave up after {outbox.MAX_ATTEMPTS} attempts: 502 Bad Gateway"
    assert waits[0] < waits[1] < waits[2], "each retry waits longer"
    assert adapter.sent == {}


def test_an_unexpected_error_is_retried_later(engine: Engine) -> None:
    adapter = FakeAdapter()
    adapter.failures = [RuntimeError("the adapter has a bug")]
    core = Service(engine, [adapter], default_registry())
    asyncio.run(core.receive(post()))
    asyncio.run(core.deliver_due())
    [action] = actions(engine)
    assert action.status == ActionStatus.PENDING
    assert "the adapter has a bug" in (action.last_error or "")


def test_a_failing_command_loses_nothing(engine: Engine) -> None:
    broken = CommandRegistry()

    @broken.register("help", fr=("aide",), en=("help",))
    def _fail(_context: object) -> str:
        raise RuntimeError("bug in a command")

    with pytest.raises(RuntimeError, match="bug in a command"):
        asyncio.run(Service(engine, [FakeAdapter()], broken).receive(post()))
    assert actions(engine) == []
    with Session(engine) as session:
        assert list(session.exec(select(InboundPost))) == [], "the post can be handled again"

    adapter = FakeAdapter()
    fixed = Service(engine, [adapter], default_registry())

    async def again() -> None:
        await fixed.receive(post())
        await fixed.deliver_due()

    asyncio.run(again())
    assert list(adapter.sent) == [KEY]


def test_the_running_service_answers_and_survives_a_crashing_receiver(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backoff, "FIRST_SEC", 0.01)
    adapter = FakeAdapter()
    crashes = [RuntimeError("stream broke")]
    receive_forever = adapter.receive_forever

    async def flaky(receive):  # type: ignore[no-untyped-def]
        if crashes:
            raise crashes.pop()
        await receive_forever(receive)

    adapter.receive_forever = flaky  # type: ignore[method-assign]
    core = Service(engine, [adapter], default_registry(), delivery_interval_sec=3600)

    async def scenario() -> None:
        await core.start()
        try:
            adapter.inbox.put_nowait(post("help", "222", ("en",)))
            for _ in range(200):
                if adapter.sent:
                    break
                await asyncio.sleep(0.02)
        finally:
            await core.stop()

    asyncio.run(scenario())
    assert crashes == [], "the receiver crashed once"
    # Delivered right away (the interval is an hour): queuing wakes the delivery job.
    assert list(adapter.sent) == ["reply:mastodon:222"]
    answer = adapter.sent["reply:mastodon:222"].action
    assert isinstance(answer, Reply) and answer.text.startswith("Hello! I'm")
    assert adapter.closed


def test_a_post_that_always_fails_is_set_aside_and_the_rest_goes_on(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    broken = CommandRegistry()

    @broken.register("help", fr=("aide",), en=("help",))
    def _fail(_context: object) -> str:
        raise RuntimeError("a bug this post triggers")

    adapter = FakeAdapter()
    core = Service(engine, [adapter], broken)
    for _ in range(service.POISON_ATTEMPTS - 1):
        with pytest.raises(RuntimeError):
            asyncio.run(core.receive(post("aide", "poison")))
    with caplog.at_level(logging.ERROR):
        asyncio.run(core.receive(post("aide", "poison")))  # set aside: no exception any more
    with Session(engine) as session:
        assert [p.post_id for p in session.exec(select(InboundPost))] == ["poison"]
        [answer] = session.exec(select(OutboundAction)).all()
    ref = re.search(r"référence (\w+)", answer.payload["text"])
    assert ref is not None, "the person is told, with a reference"
    [logged] = [r for r in caplog.records if "set aside" in r.getMessage()]
    assert ref.group(1) in logged.getMessage(), "the log line carries the same reference"
    assert logged.exc_info is not None, "with what went wrong"

    async def next_post() -> None:
        await core.receive(post("what", "after"))
        await core.deliver_due()

    asyncio.run(next_post())
    assert list(adapter.sent) == ["reply:mastodon:poison", "reply:mastodon:after"]


@pytest.mark.parametrize("permanent", [True, False], ids=["permanent", "temporary"])
def test_a_permanent_receive_failure_stops_the_loop_and_is_reported(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, permanent: bool
) -> None:
    monkeypatch.setattr(service, "Backoff", lambda: backoff.Backoff(first_sec=0.01))
    adapter = RefusedAdapter(permanent)
    core = Service(engine, [adapter], default_registry())

    async def scenario() -> None:
        await core.start()
        receiving = next(t for t in core._tasks if t.get_name() == "receive-mastodon")
        try:
            if permanent:
                await asyncio.wait({receiving}, timeout=10)
            else:
                await asyncio.wait_for(adapter.tried_thrice.wait(), 10)
        finally:
            await core.stop()

    asyncio.run(scenario())
    state = core.receiving()[Network.MASTODON]
    if permanent:  # its loop returned: it cannot try again
        assert (adapter.attempts, state.current()) == (1, "stopped"), "not retried forever"
    else:
        assert adapter.attempts >= 3 and state.current() == "failing", "retried with backoff"
    assert state.reason == "the token is refused"


def test_stopping_awaits_the_scheduled_jobs_it_owns(engine: Engine) -> None:
    core = Service(engine, [FakeAdapter()], default_registry())
    events: list[str] = []
    started = asyncio.Event()

    async def slow_job() -> None:
        events.append("started")
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0.05)  # cleaning up takes a moment: stop() waits for it
            events.append("cleaned up")

    async def scenario() -> None:
        await core.start()
        job = asyncio.ensure_future(core._owned(slow_job, "slow")())
        await asyncio.wait_for(started.wait(), 10)
        await core.stop()
        events.append("stopped")
        assert job.done()

    asyncio.run(scenario())
    assert events == ["started", "cleaned up", "stopped"]
