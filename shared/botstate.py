"""Small values a bot keeps across restarts (watermarks, cursors, its session), by key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.dialects import postgresql, sqlite
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
    """Store ``value`` under ``key``, replacing what was there: one statement, so that
    several processes starting at once (each saving its first watermark) never collide."""
    dialect = sqlite if engine.dialect.name == "sqlite" else postgresql
    now = utcnow()
    statement = dialect.insert(BotState).values(key=key, value=value, updated_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[BotState.key], set_={"value": value, "updated_at": now}
    )
    with engine.begin() as connection:
        connection.execute(statement)
