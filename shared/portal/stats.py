"""The movement in figures, for the public pages: how many people, archives, links,
matches, packs, suggestions and follows; and the same day by day. Counts only: nothing
about anyone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import text

if TYPE_CHECKING:
    from sqlmodel import Session

# Each figure: the table it counts, the time column that dates its rows, a condition.
_FIGURES = {
    "people": ("person", "created_at", "true"),
    "archives": ("archive_import", "imported_at", "true"),
    "links": ("link_proof", "verified_at", "true"),
    "matches": ("x_match", "found_at", "true"),
    "packs": ("collection", "created_at", "true"),
    "suggestions": ("delivery", "delivered_at", "via IN ('list', 'shared', 'message', 'bridge')"),
    "follows": ("delivery", "delivered_at", "via = 'followed'"),
}
# The tables, columns and conditions above are constants: never anything from a request.
_COUNT = "SELECT count(*) FROM {table} WHERE {where}"
_BEFORE = "SELECT count(*) FROM {table} WHERE {where} AND {column} < :first"
_PER_DAY = (
    "SELECT {day} AS d, count(*) FROM {table} WHERE {where} AND {column} >= :first GROUP BY d"
)
FIGURES = tuple(_FIGURES)
"""The figures, in the order they are shown."""
CHARTED = ("people", "archives", "matches", "suggestions")
"""The figures drawn over time."""


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    totals: dict[str, int]
    """Each charted figure's running total at the end of the day."""


def figures(session: Session) -> dict[str, int]:
    """Every figure, now."""
    return {
        name: int(session.execute(text(_COUNT.format(table=table, where=where))).scalar_one())
        for name, (table, _column, where) in _FIGURES.items()
    }


def history(session: Session, *, today: date, days: int = 90) -> list[Day]:
    """The charted figures' running totals at the end of each of the last ``days`` days."""
    first = today - timedelta(days=days - 1)
    day = day_of(session)
    running: dict[str, list[int]] = {}
    for name in CHARTED:
        table, column, where = _FIGURES[name]
        before = session.execute(
            text(_BEFORE.format(table=table, where=where, column=column)),
            {"first": first},
        ).scalar_one()
        rows = session.execute(
            text(
                _PER_DAY.format(
                    day=day.format(column=column), table=table, where=where, column=column
                )
            ),
            {"first": first},
        )
        per_day = {date.fromisoformat(str(d)[:10]): int(n) for d, n in rows}
        total, totals = int(before), []
        for offset in range(days):
            total += per_day.get(first + timedelta(days=offset), 0)
            totals.append(total)
        running[name] = totals
    return [
        Day(first + timedelta(days=n), {name: running[name][n] for name in CHARTED})
        for n in range(days)
    ]


def day_of(session: Session) -> str:
    """The calendar day (UTC) of a stored time, as text, in this database's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return "to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    return "substr({column}, 1, 10)"
