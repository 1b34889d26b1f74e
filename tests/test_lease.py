"""One service per database: a second start refuses while the first lives; a dead holder's
lease is taken over once expired; recovery leaves a live process's sends alone."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from shared import lease, outbox
from shared.actions import Recipient, Reply
from shared.bot.handlers import default_registry
from shared.clock import utcnow
from shared.db.models import InboundPost, OutboundAction, ServiceLease
from shared.lease import LeaseHeldError
from shared.protocol import Author, Delivered, IncomingPost, Outgoing
from shared.sending import Sender
from shared.service import Service
from shared.vocabulary import ActionStatus, Network, Role
from tests.fakes import FakeAdapter

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def _expire(engine: Engine) -> None:
    """The holder died without releasing: its lease runs out."""
    with Session(engine) as session, session.begin():
        session.execute(update(ServiceLease).values(expires_at=utcnow() - timedelta(seconds=1)))


def test_a_second_service_on_the_database_refuses_to_start(engine: Engine) -> None:
    first, second = Service(engine, [FakeAdapter()], default_registry()), FakeAdapter()

    async def scenario() -> None:
        await first.start()
        try:
            with pytest.raises(LeaseHeldError, match=r"another hqx run .* stop it first"):
                await Service(engine, [second], default_registry()).start()
        finally:
            await first.stop()
        again = Service(engine, [FakeAdapter()], default_registry())
        await again.start()  # released at a clean stop: no waiting
        await again.stop()

    asyncio.run(scenario())
    assert not second.started, "the refused service touched no network"


def test_a_dead_holders_lease_is_taken_over_once_expired(engine: Engine) -> None:
    held = lease.acquire(engine)
    with pytest.raises(LeaseHeldError):
        lease.acquire(engine)
    _expire(engine)
    taken = lease.acquire(engine)
    assert not lease.renew(engine, held), "the old holder learns it lost the lease"
    assert lease.renew(engine, taken)


def _queue_one(engine: Engine) -> int:
    with Session(engine) as session, session.begin():
        outbox.queue(
            session,
            key="reply:x",
            network=Network.MASTODON,
            action=Reply(
                "1", Recipient("https://m.test/users/a", "a@m.test"), "hi", "en", False, {}
            ),
        )
    with Session(engine) as session:
        action_id = session.exec(select(OutboundAction.id)).one()
    assert action_id is not None
    return action_id


def test_recovery_touches_only_sends_whose_lease_expired(engine: Engine) -> None:
    action_id = _queue_one(engine)
    sender = lease.acquire(engine)
    assert outbox.claim(engine, action_id, sender.holder) is not None
    assert outbox.recover(engine) == 0, "its sender lives: the send may be under way"
    _expire(engine)
    assert outbox.recover(engine) == 1
    with Session(engine) as session:
        action = session.exec(select(OutboundAction).where(col(OutboundAction.id) == action_id))
        assert action.one().status == ActionStatus.PENDING


def test_the_sends_of_a_process_killed_on_this_host_are_recovered_at_once(
    engine: Engine,
) -> None:
    """A work process killed with a send claimed, restarted at once: its predecessor's
    lease would run a while yet, but that process is provably gone."""
    action_id = _queue_one(engine)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    holder = f"{socket.gethostname()} pid {dead.pid}, deadbeef"
    with Session(engine) as session, session.begin():
        until = utcnow() + timedelta(minutes=1)
        session.add(ServiceLease(name="work:deadbeef", holder=holder, expires_at=until))
    assert outbox.claim(engine, action_id, holder) is not None
    assert outbox.recover(engine) == 1


def test_a_running_work_process_completes_what_a_dead_one_left_claimed(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A work process died elsewhere, with a send claimed, and nobody restarts it: once its
    lease has run out, a running work process sends it, without restarting."""
    monkeypatch.setattr(outbox, "RECOVER_INTERVAL_SEC", 0.2)
    action_id = _queue_one(engine)
    holder = "another-host pid 7, deadbeef"
    with Session(engine) as session, session.begin():
        until = utcnow() + timedelta(seconds=1)
        session.add(ServiceLease(name="work:deadbeef", holder=holder, expires_at=until))
    assert outbox.claim(engine, action_id, holder) is not None
    adapter = FakeAdapter()

    async def scenario() -> None:
        worker = Service(engine, [adapter], default_registry(), roles=frozenset({Role.WORK}))
        await worker.start()
        try:
            await asyncio.sleep(0.5)
            assert adapter.sent == {}, "its lease runs yet: the send may be under way"
            for _ in range(100):  # ten seconds at most
                if adapter.sent:
                    break
                await asyncio.sleep(0.1)
        finally:
            await worker.stop()

    asyncio.run(scenario())
    assert list(adapter.sent) == ["reply:x"], "sent once"


def test_a_lease_whose_holder_died_on_this_host_is_taken_at_once(engine: Engine) -> None:
    """A supervisor restarts a killed service at once: a dead process of this host holds
    nothing, however long its lease would still run."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with Session(engine) as session, session.begin():
        holder = f"{socket.gethostname()} pid {dead.pid}, deadbeef"
        until = utcnow() + timedelta(minutes=1)
        session.add(ServiceLease(name=lease.SERVICE, holder=holder, expires_at=until))
    taken = lease.acquire(engine)
    assert lease.renew(engine, taken)
    alive = f"{socket.gethostname()} pid {os.getpid()}, 00000000"
    assert not lease.gone(alive), "a live process keeps its lease"
    assert not lease.gone(f"another-host pid {dead.pid}, 0"), "of another host nothing is proven"


def test_a_pid_another_process_has_taken_since_holds_nothing(engine: Engine) -> None:
    """A restarted container runs as the same pid (1) as the one that died: the lease of
    that earlier process is taken at once; this very process keeps its own."""
    mine = lease.holder_name()
    pid, since = os.getpid(), mine.split(" since ", 1)[1].split(",", 1)[0]
    earlier = f"{socket.gethostname()} pid {pid} since {int(since) - 100}, deadbeef"
    with Session(engine) as session, session.begin():
        until = utcnow() + timedelta(minutes=1)
        session.add(ServiceLease(name=lease.SERVICE, holder=earlier, expires_at=until))
    assert lease.gone(earlier)
    assert not lease.gone(mine), "the same process, started then: alive"
    taken = lease.acquire(engine)
    assert lease.renew(engine, taken)


def test_what_is_written_under_a_lease_taken_over_is_refused(engine: Engine) -> None:
    """A process frozen past its lease's expiry wakes up: another took the lease (one more
    fence); the late one's write is refused in its own transaction, the new holder's goes."""
    late = lease.acquire(engine, "bots:mastodon")
    assert late.fence == 1
    _expire(engine)
    taker = lease.acquire(engine, "bots:mastodon")
    assert taker.fence == 2, "each taking counts one more"
    with Session(engine) as session, session.begin():
        lease.fenced(session, taker)
    with Session(engine) as session, session.begin(), pytest.raises(lease.LeaseLostError):
        lease.fenced(session, late)
    _expire(engine)
    with Session(engine) as session, session.begin(), pytest.raises(lease.LeaseLostError):
        lease.fenced(session, taker)  # expired: its holder was frozen too long


def test_a_service_whose_lease_is_taken_over_stops_and_a_waiting_one_takes_its_place(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lease, "LEASE_TTL", timedelta(seconds=0.6))
    monkeypatch.setattr(lease, "WAIT_POLL_SEC", 0.1)
    first, second = FakeAdapter(), FakeAdapter()

    async def scenario() -> None:
        holder = Service(engine, [first], default_registry())
        await holder.start()
        standby = Service(engine, [second], default_registry())
        waiting = asyncio.create_task(standby.start(wait=True))
        await asyncio.sleep(0.5)
        assert not waiting.done() and not second.started, "it waits its turn"
        # The holder is frozen past its lease, and another takes it over.
        with Session(engine) as session, session.begin():
            session.execute(update(ServiceLease).values(holder="elsewhere pid 1, x"))
        async with asyncio.timeout(5):
            await holder.lease_lost.wait()
        await holder.stop()
        _expire(engine)
        async with asyncio.timeout(5):
            await waiting
        assert second.started, "the waiting service took over"
        await standby.stop()

    asyncio.run(scenario())


def test_a_frozen_service_records_and_answers_nothing_once_its_lease_is_taken(
    engine: Engine,
) -> None:
    """Frozen past its lease (a pause, a cut from the database), a service wakes up with a
    post in hand while another holds the lease: the post is neither recorded nor answered
    by it (its successor will), and it stops."""
    adapter = FakeAdapter()
    post = IncomingPost(
        network=Network.MASTODON, post_id="late-1",
        author=Author("https://fake.test/users/alice", "alice@fake.test"), text="help",
        reply_context={"status_id": "late-1"},
    )  # fmt: skip

    async def scenario() -> None:
        frozen = Service(engine, [adapter], default_registry())
        await frozen.start()
        _expire(engine)
        await asyncio.to_thread(lease.acquire, engine)  # the successor
        with pytest.raises(lease.LeaseLostError):
            await frozen.receive(post)
        assert frozen.lease_lost.is_set(), "it stops"
        await frozen.stop()

    asyncio.run(scenario())
    with Session(engine) as session:
        assert session.exec(select(InboundPost)).all() == [], "left for the successor"
        assert session.exec(select(OutboundAction)).all() == []


def test_a_claim_whose_answer_the_database_lost_is_sent_by_its_own_process(
    engine: Engine,
) -> None:
    """The database went down as it committed a claim: the row says sending, under this
    live process, which never knew. Its periodic recovery puts it back (none else would),
    leaving alone the send under way."""
    action_id = _queue_one(engine)
    holder = lease.acquire(engine).holder
    released_meanwhile: list[int] = []

    class Watched(FakeAdapter):
        async def deliver(self, outgoing: Outgoing) -> Delivered:
            released_meanwhile.append(await sender.release_forgotten())
            return await super().deliver(outgoing)

    adapter = Watched()
    sender = Sender(engine, {Network.MASTODON: adapter}, 1.0, lambda: holder)
    assert outbox.claim(engine, action_id, holder) is not None  # the answer lost

    async def scenario() -> tuple[int, int, int]:
        return (
            await sender.deliver_due(),
            await sender.release_forgotten(),
            await sender.deliver_due(),
        )

    assert asyncio.run(scenario()) == (0, 1, 1), "claimed, forgotten, released, then sent"
    assert released_meanwhile == [0], "the send under way was left alone"
    assert adapter.deliveries == ["reply:x"]


@pytest.mark.parametrize("landed", [False, True], ids=["not-written", "answer-lost"])
def test_an_outcome_the_database_could_not_take_is_recorded_when_it_returns(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, landed: bool
) -> None:
    """The message went out, then the database went down before its outcome was written
    (or wrote it and the answer was lost): the sender waits for the database and records
    it; the message is not sent again."""
    action_id = _queue_one(engine)
    holder = lease.acquire(engine).holder
    real, tries = outbox.mark_done, []

    def down_once(engine: Engine, action_id: int, remote_ref: str) -> OutboundAction:
        tries.append(action_id)
        if len(tries) > 1:
            return real(engine, action_id, remote_ref)
        if landed:
            real(engine, action_id, remote_ref)
        raise OperationalError("UPDATE outbound_action", {}, ConnectionError("server gone"))

    monkeypatch.setattr(outbox, "mark_done", down_once)
    adapter = FakeAdapter()
    sender = Sender(engine, {Network.MASTODON: adapter}, 1.0, lambda: holder)

    async def scenario() -> tuple[int, int, int]:
        return (
            await sender.deliver_due(),
            await sender.release_forgotten(),
            await sender.deliver_due(),
        )

    assert asyncio.run(scenario()) == (1, 0, 0)
    assert len(tries) == (1 if landed else 2), "a landed outcome is not written twice"
    assert adapter.deliveries == ["reply:x"], "sent once"
    with Session(engine) as session:
        assert session.get_one(OutboundAction, action_id).status == ActionStatus.DONE
