"""Several processes on one database, each in its roles: one active bots process per
network, the others waiting and taking over when it dies, no post answered twice; a
scheduled job run by one process at a time; the all-in-one service never beside them."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session, select

from shared import lease, roles
from shared.bot.handlers import default_registry
from shared.db.models import InboundPost, OutboundAction, ServiceLease
from shared.protocol import Author, IncomingPost
from shared.service import Service
from shared.vocabulary import Network, Role
from tests.fakes import FakeAdapter, RefusedAdapter

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Engine

WAIT_SEC = 10.0
BOTS = frozenset({Role.BOTS})


def mention(post_id: str) -> IncomingPost:
    return IncomingPost(
        network=Network.MASTODON, post_id=post_id,
        author=Author("https://fake.test/users/alice", "alice@fake.test"), text="help",
        reply_context={"status_id": post_id},
    )  # fmt: skip


def answered(engine: Engine) -> list[str]:
    """The posts handled, and the answers queued (one per post handled)."""
    with Session(engine) as session:
        posts = sorted(p.post_id for p in session.exec(select(InboundPost)))
        queued = len(session.exec(select(OutboundAction)).all())
    assert queued == len(posts), "one answer per post, never two"
    return posts


async def until(done: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT_SEC
    while not done():
        assert time.monotonic() < deadline, f"not in {WAIT_SEC:g} s: {what}"
        await asyncio.sleep(0.05)


def crash(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process dies as under SIGKILL: its tasks end, its leases stay behind (held by a
    process of another host, so that nothing proves it gone: they must expire)."""
    monkeypatch.setattr(lease, "release", lambda *_: None)
    for task in service._tasks:
        task.cancel()


def test_a_waiting_bots_process_takes_over_and_nothing_is_answered_twice(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(roles, "SEAT_TTL", timedelta(seconds=0.6))
    monkeypatch.setattr(lease, "WAIT_POLL_SEC", 0.1)
    monkeypatch.setattr(lease, "holder_name", lambda: f"elsewhere pid 1, {time.monotonic_ns()}")
    first, second = FakeAdapter(), FakeAdapter()
    both = (first, second)

    async def scenario() -> None:
        one = Service(engine, [first], default_registry(), roles=BOTS)
        other = Service(engine, [second], default_registry(), roles=BOTS)
        await one.start()
        await other.start()
        await until(lambda: one._seats or other._seats, "a bots process takes the seat")
        active, standby = (one, other) if one._seats else (other, one)
        assert not (active._seats and standby._seats), "one active receiver per network"
        waiting = standby.receiving()[Network.MASTODON]
        await until(lambda: waiting.current() == "standby", "its health says it waits")
        assert active.receiving()[Network.MASTODON].current() == "running"
        for adapter in both:  # the network tells whoever asks
            adapter.inbox.put_nowait(mention("before"))
        await until(lambda: answered(engine) == ["before"], "the active process answers")
        crash(active, monkeypatch)
        started = time.monotonic()
        await until(lambda: standby._seats, "the waiting process takes the seat")
        took = time.monotonic() - started
        for adapter in both:
            adapter.inbox.put_nowait(mention("after"))
        await until(lambda: answered(engine) == ["after", "before"], "the new one answers")
        assert standby.receiving()[Network.MASTODON].current() == "running"
        assert took < 0.6 + 1.0, f"taken over {took:.1f} s after the seat expired"
        await standby.stop()
        await active.stop()

    asyncio.run(scenario())
    assert answered(engine) == ["after", "before"], "the post seen by both: answered once"


def test_a_post_in_hand_of_a_bots_process_that_lost_its_seat_is_left_to_the_new_one(
    engine: Engine,
) -> None:
    adapter = FakeAdapter()

    async def scenario() -> None:
        late = Service(engine, [adapter], default_registry(), roles=BOTS)
        await late.start()
        await until(lambda: late._seats, "it takes the seat")
        seat = late._seats[Network.MASTODON]
        with Session(engine) as session, session.begin():  # frozen past it; taken over
            found = session.get_one(ServiceLease, seat.name)
            found.holder, found.fence = "elsewhere pid 1, x", seat.fence + 1
        with pytest.raises(lease.LeaseLostError):
            await late.receive(mention("in-hand"))
        await late.stop()

    asyncio.run(scenario())
    assert answered(engine) == []


def test_a_job_runs_in_one_process_at_a_time(engine: Engine) -> None:
    async def scenario() -> None:
        async with roles.job(engine, "reconnect") as mine:
            assert mine
            async with roles.job(engine, "reconnect") as theirs:
                assert not theirs, "another process skips this turn"
            async with roles.job(engine, "prune") as other_job:
                assert other_job, "another job is another lease"
        async with roles.job(engine, "reconnect") as next_turn:
            assert next_turn, "released when done"

    asyncio.run(scenario())


def test_the_all_in_one_service_and_role_processes_never_share_a_database(
    engine: Engine,
) -> None:
    async def scenario() -> None:
        worker = Service(engine, [FakeAdapter()], default_registry(), roles=frozenset({Role.WORK}))
        await worker.start()
        with pytest.raises(lease.LeaseHeldError, match="processes in roles run"):
            await Service(engine, [FakeAdapter()], default_registry()).start()
        await worker.stop()
        alone = Service(engine, [FakeAdapter()], default_registry())
        await alone.start()
        with pytest.raises(lease.LeaseHeldError, match="all-in-one"):
            await Service(engine, [FakeAdapter()], default_registry(), roles=BOTS).start()
        await alone.stop()

    asyncio.run(scenario())


def test_a_bots_process_refused_for_good_says_so_and_leaves_the_seat(engine: Engine) -> None:
    """A revoked token does not heal: the process says "stopped" and stops taking the seat
    again and again; a work process says its loops run elsewhere."""
    refused = RefusedAdapter(permanent=True)

    async def scenario() -> None:
        bots = Service(engine, [refused], default_registry(), roles=BOTS)
        work = Service(engine, [FakeAdapter()], default_registry(), roles=frozenset({Role.WORK}))
        await bots.start()
        await work.start()
        state = bots.receiving()[Network.MASTODON]
        await until(lambda: state.current() == "stopped", "the loop stops for good")
        await until(lambda: not roles.live(engine, "bots:"), "the seat is left to others")
        await asyncio.sleep(0.3)
        assert refused.attempts == 1, "no taking the seat again to fail again"
        assert state.reason == "the token is refused"
        assert work.receiving()[Network.MASTODON].current() == "elsewhere"
        await bots.stop()
        await work.stop()

    asyncio.run(scenario())
