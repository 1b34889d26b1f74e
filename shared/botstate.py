"""Small values a bot keeps across restarts (watermarks, cursors, its session), by key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import Session

from shared.clock import utcnow
from shared.db.models import BotState

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def load(engine: Engine, key: str) -> str | None:
    """The value stored under ``key``, or ``None``."""
    with Session(engine) as session:
        state = session.get(BotState, key)
        return None if state is None else state.value


def save(engine: Engine, key: str, value: str) -> None:
    """Store ``value`` under ``key``, replacing what was there."""
    with Session(engine) as session, session.begin():
        state = session.get(BotState, key)
        if state is None:
            session.add(BotState(key=key, value=value))
        else:
            state.value, state.updated_at = value, utcnow()
            session.add(state)
