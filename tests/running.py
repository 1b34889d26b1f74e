"""Runs the service in a test until something a person would see has happened."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from shared.db.models import ActionStatus, OutboundAction, utcnow

if TYPE_CHECKING:
    from collections.abc import Callable

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
