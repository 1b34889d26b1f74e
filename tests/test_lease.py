"""One service per database: a second start refuses while the first lives; a dead holder's
lease is taken over once expired; recovery leaves a live process's sends alone."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from shared import lease, outbox
from shared.actions import Recipient, Reply
from shared.db.models import ActionStatus, OutboundAction, ServiceLease, utcnow
from shared.handlers import default_registry
from shared.lease import LeaseHeldError
from shared.service import Service
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
            network="mastodon",
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
