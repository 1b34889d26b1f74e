"""Runs the service in a test until something a person would see has happened."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from shared import outbox
from shared.clock import utcnow
from shared.db.models import OutboundAction
from shared.vocabulary import ActionStatus

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    import pytest
    from sqlalchemy.engine import Engine

    from shared.service import Service


def run_until(service: Service, until: Callable[[], bool], timeout_sec: float) -> None:
    """Start ``service``, wait until ``until()`` (run in a thread) holds and the outbox is
    idle (nothing due is left unsent: a second answer would have gone out), then stop it.
    Each wait is on a condition, with a deadline."""

    async def scenario() -> None:
        await service.start()
        try:
            deadline = time.monotonic() + timeout_sec
            while not await asyncio.to_thread(until):
                assert time.monotonic() < deadline, "the bot did not do it in time"
                await asyncio.sleep(0.05)
            while not await asyncio.to_thread(idle, service.engine):
                assert time.monotonic() < deadline, "the outbox did not settle in time"
                await asyncio.sleep(0.05)
        finally:
            await service.stop()

    asyncio.run(scenario())


def idle(engine: Engine) -> bool:
    """Whether no outbound action is being sent or due now."""
    with Session(engine) as session:
        busy = session.exec(
            select(func.count())
            .select_from(OutboundAction)
            .where(
                or_(
                    col(OutboundAction.status) == ActionStatus.SENDING,
                    (col(OutboundAction.status) == ActionStatus.PENDING)
                    & (col(OutboundAction.not_before) <= utcnow()),
                )
            )
        ).one()
    return busy == 0


class Crashes:
    """Puts a delivered action back as a crash mid-send would have left it: ``sending``,
    with what it says (the outbox forgets that once it is delivered, so it is kept here)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._payloads: dict[int, dict[str, Any]] = {}
        original = outbox.mark_done

        def remembering(engine: Engine, action_id: int, remote_ref: str) -> OutboundAction:
            with Session(engine) as session:
                self._payloads[action_id] = session.get_one(OutboundAction, action_id).payload
            return original(engine, action_id, remote_ref)

        monkeypatch.setattr(outbox, "mark_done", remembering)

    def after_sending(self, engine: Engine, created_at: datetime | None = None) -> None:
        """The one action was sent, but the process died before recording it."""
        with Session(engine) as session, session.begin():
            [action] = session.exec(select(OutboundAction))
            assert action.id is not None
            action.status, action.payload = ActionStatus.SENDING, self._payloads[action.id]
            if created_at is not None:
                action.created_at = created_at
            session.add(action)

    def all_after_sending(self, engine: Engine) -> int:
        """Every delivered action was sent, but the process died before recording any."""
        with Session(engine) as session, session.begin():
            done = session.exec(
                select(OutboundAction).where(OutboundAction.status == ActionStatus.DONE)
            )
            count = 0
            for action in done:
                assert action.id is not None
                action.status, action.payload = ActionStatus.SENDING, self._payloads[action.id]
                action.claimed_by = None
                session.add(action)
                count += 1
        return count
