"""The movement's figures as the public pages show them: counted at most once every
:data:`FRESH_SEC` (a busy page never recounts millions of matches for each visitor), and
drawn over time."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from sqlmodel import Session

from shared.clock import utcnow
from shared.portal import stats

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy.engine import Engine

FRESH_SEC = 300.0
CHART_DAYS = 90
# The chart's drawing area, in SVG units.
WIDTH, HEIGHT = 600, 200
COLOURS = {
    "people": "#0b4f9c",
    "archives": "#7a3e9d",
    "matches": "#b35900",
    "suggestions": "#1d7a3a",
}


@dataclass(frozen=True, slots=True)
class Counted:
    figures: dict[str, int]
    days: list[stats.Day]


@dataclass(slots=True)
class StatsCache:
    """The last count, and the lock that makes concurrent visitors wait for one count."""

    counted: Counted | None = None
    at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self, engine: Engine) -> Counted:
        async with self.lock:
            if self.counted is None or time.monotonic() - self.at > FRESH_SEC:
                self.counted = await asyncio.to_thread(_count, engine)
                self.at = time.monotonic()
            return self.counted


def _count(engine: Engine) -> Counted:
    with Session(engine) as session:
        today = utcnow().date()
        return Counted(stats.figures(session), stats.history(session, today=today, days=CHART_DAYS))


class Dated(Protocol):
    @property
    def totals(self) -> Mapping[str, int]: ...


def top_of(days: Sequence[Dated], names: Sequence[str] = stats.CHARTED) -> int:
    """The chart's scale: the largest value drawn (1 when there is none)."""
    return max([1] + [day.totals[name] for day in days for name in names])


def polylines(days: Sequence[Dated], names: Sequence[str] = stats.CHARTED) -> dict[str, str]:
    """Each named figure's line, as SVG points, on one scale (:func:`top_of`)."""
    top = top_of(days, names)
    step = WIDTH / max(1, len(days) - 1)
    return {
        name: " ".join(
            f"{n * step:.1f},{HEIGHT - day.totals[name] * HEIGHT / top:.1f}"
            for n, day in enumerate(days)
        )
        for name in names
    }
