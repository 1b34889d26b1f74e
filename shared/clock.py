"""Moments as the service keeps and writes them: timezone-aware, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware, as every timestamp column stores it."""
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """A date-time as AT Protocol records write it: UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
