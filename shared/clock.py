"""Moments as the service keeps and writes them: timezone-aware, in UTC; and a simulated
clock for the campaign's simulation (``benchmarks/campaign.py``), which replays weeks of
delivery in minutes through the same code."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

_source: Callable[[], datetime] | None = None
"""Where :func:`utcnow` reads the time while a simulation runs (``None``: the real clock)."""


def utcnow() -> datetime:
    """The current time, timezone-aware, as every timestamp column stores it."""
    # A simulation's moments may carry another offset (a cutover at midnight in Paris):
    # turned to UTC, so that those written as text compare as the real ones do.
    return datetime.now(UTC) if _source is None else _source().astimezone(UTC)


@contextlib.contextmanager
def simulated(source: Callable[[], datetime]) -> Iterator[None]:
    """Read the time from ``source`` within the block (one simulation at a time)."""
    global _source  # the process has one clock, as it has one real one
    if _source is not None:
        raise RuntimeError("a simulated clock is already running")
    _source = source
    try:
        yield
    finally:
        _source = None


def iso_utc(moment: datetime) -> str:
    """A date-time as AT Protocol records write it: UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
