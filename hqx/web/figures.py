"""The movement's figures as the public pages show them: counted at most once every
:data:`FRESH_SEC` (a busy page never recounts millions of matches for each visitor), and
drawn over time."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from sqlmodel import Session

from shared.clock import utcnow
from shared.portal import stats

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

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
    """The last count, and its one refresh: a visitor never waits for a count but the very
    first (the figures are counted once the portal starts, then again in the background when
    a visitor finds them older than :data:`FRESH_SEC`, while they read the last ones)."""

    counted: Counted | None = None
    at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    refreshing: asyncio.Task[None] | None = None
    """The count under way, owned here: :meth:`close` ends it."""

    async def get(self, engine: Engine) -> Counted:
        if self.counted is None:
            if self.refreshing is not None and not self.refreshing.done():
                await asyncio.shield(self.refreshing)  # the count started with the portal
            async with self.lock:  # the first visitors wait for one count together
                if self.counted is None:
                    await self._count(engine)
        assert self.counted is not None  # noqa: S101  (counted just above)
        if time.monotonic() - self.at > FRESH_SEC:
            self.refresh(engine)
        return self.counted

    def refresh(self, engine: Engine) -> None:
        """Count again in the background, unless a count is under way."""
        if self.refreshing is None or self.refreshing.done():
            self.refreshing = asyncio.create_task(self._count(engine), name="figures")

    async def _count(self, engine: Engine) -> None:
        try:
            self.counted = await asyncio.to_thread(_count, engine)
            self.at = time.monotonic()
        except Exception:
            if self.counted is None:
                raise
            log.exception("counting the figures failed: the last ones are shown")

    async def close(self) -> None:
        if self.refreshing is not None:
            self.refreshing.cancel()
            await asyncio.gather(self.refreshing, return_exceptions=True)


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


LABEL_GAP = 14.0
"""The least distance between two lines' end labels, in SVG units (a 12-unit font)."""


def label_heights(ends: dict[str, float]) -> dict[str, float]:
    """Where each line's end label goes: by its line's end, pushed down just enough that
    no two labels overlap when lines end close together."""
    placed: dict[str, float] = {}
    last = float("-inf")
    for name, height in sorted(ends.items(), key=lambda item: item[1]):
        last = max(height, last + LABEL_GAP)
        placed[name] = last
    return placed
