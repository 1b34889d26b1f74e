"""Reconnection runs as the database records them: started once, resumed after a stop,
finished, counted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func
from sqlmodel import Session, col, select

from shared.clock import utcnow
from shared.db.models import ReconnectRun, XMatch
from shared.vocabulary import RunKind

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.engine import Engine

    from shared.reconnection.delivery import Passed


def start_run(engine: Engine, key: str, kind: RunKind) -> ReconnectRun | None:
    """The run ``key``: recorded now, or the unfinished one to resume; ``None`` when it
    finished already (a run is never made twice)."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        run = session.exec(select(ReconnectRun).where(ReconnectRun.key == key)).one_or_none()
        if run is None:
            run = ReconnectRun(key=key, kind=kind)
            session.add(run)
            session.flush()
            return run
        return None if run.finished_at is not None else run


def finish_run(engine: Engine, run_id: int) -> None:
    """Record that a run is done."""
    with Session(engine) as session, session.begin():
        run = session.get_one(ReconnectRun, run_id)
        run.finished_at = utcnow()
        session.add(run)


def count_found(engine: Engine, run_id: int, found: int) -> None:
    """Record what a run's matching found."""
    with Session(engine) as session, session.begin():
        run = session.get_one(ReconnectRun, run_id)
        run.found += found
        session.add(run)


def news(engine: Engine) -> bool:
    """Whether matches were found since the last run finished (someone linked or uploaded).
    (What a run misses while it runs is due still: the next run of any kind delivers it.)"""
    with Session(engine) as session:
        last = session.exec(select(func.max(ReconnectRun.finished_at))).one()
        query = select(XMatch.follower_id)
        if last is not None:
            query = query.where(col(XMatch.found_at) >= last)
        return session.exec(query.limit(1)).first() is not None


def count_pass(session: Session, run_id: int, passed: Passed) -> None:
    """Add a pass's figures to its run, in the pass's transaction."""
    run = session.get_one(ReconnectRun, run_id)
    run.delivered += passed.delivered
    run.actions += passed.actions
    run.points += passed.points
    run.deferred += passed.deferred
    session.add(run)


def unfinished(engine: Engine) -> list[ReconnectRun]:
    """Runs a stop interrupted, oldest first."""
    with Session(engine, expire_on_commit=False) as session:
        return list(
            session.exec(
                select(ReconnectRun)
                .where(col(ReconnectRun.finished_at).is_(None))
                .order_by(col(ReconnectRun.id))
            )
        )


def cutover_done(engine: Engine) -> bool:
    """Whether the cutover's run has finished."""
    with Session(engine) as session:
        run = session.exec(
            select(ReconnectRun).where(ReconnectRun.key == RunKind.CUTOVER.value)
        ).one_or_none()
        return run is not None and run.finished_at is not None


def last_rematch(engine: Engine) -> datetime | None:
    """When the last scheduled re-match (or the cutover) started."""
    with Session(engine) as session:
        return session.exec(
            select(func.max(ReconnectRun.started_at)).where(
                col(ReconnectRun.kind).in_([RunKind.CUTOVER, RunKind.REMATCH])
            )
        ).one()
