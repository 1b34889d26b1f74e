"""Numbers counted for an outlet, per day and per kind (shares from its button, people
setting off from its invitation page): one row a day, added to in one statement, so that
processes counting at once never lose a count. Nothing says who, nor from where."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from shared.clock import utcnow
from shared.db.models import OutletTally

if TYPE_CHECKING:
    from datetime import date

    from sqlalchemy.engine import Engine

    from shared.vocabulary import Tally


def add(engine: Engine, person_id: int, kind: Tally, day: date | None = None) -> None:
    """One more ``kind`` for the outlet on ``day`` (today, in UTC)."""
    dialect = sqlite if engine.dialect.name == "sqlite" else postgresql
    table = OutletTally.__table__  # type: ignore[attr-defined]
    statement = dialect.insert(table).values(
        person_id=person_id, day=day or utcnow().date(), kind=kind.value, count=1
    )
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.person_id, table.c.day, table.c.kind],
        set_={"count": table.c.count + 1},
    )
    with engine.begin() as connection:
        connection.execute(statement)


def daily(session: Session, person_id: int) -> dict[date, dict[Tally, int]]:
    """The outlet's counts, day by day (days with none are absent)."""
    found: dict[date, dict[Tally, int]] = defaultdict(dict)
    rows = session.exec(
        select(OutletTally).where(OutletTally.person_id == person_id).order_by(col(OutletTally.day))
    )
    for row in rows:
        found[row.day][row.kind] = row.count
    return dict(found)


def totals(session: Session, person_id: int) -> dict[Tally, int]:
    """The outlet's counts, all days together."""
    summed: dict[Tally, int] = defaultdict(int)
    for counts in daily(session, person_id).values():
        for kind, count in counts.items():
            summed[kind] += count
    return dict(summed)
