"""A 429 from a PDS waits for the window's reset, as its headers tell."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from atproto_client.exceptions import RateLimitExceededError
from atproto_client.request import Response

from bsky_service.adapter import RATE_LIMIT_FALLBACK_SEC, _rate_limited


def too_many(headers: dict[str, str]) -> RateLimitExceededError:
    return RateLimitExceededError(Response(False, 429, b"", headers))


def test_a_rate_limit_retries_at_the_reset_the_pds_gives() -> None:
    reset = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=7)
    error = _rate_limited(
        too_many({"ratelimit-limit": "5000", "ratelimit-reset": str(int(reset.timestamp()))})
    )
    assert error.retry_at == reset
    assert not error.permanent
    assert str(error) == f"Bluesky rate limit until {reset.isoformat()}"


def test_without_a_reset_header_it_waits_a_minute() -> None:
    before = datetime.now(UTC)
    error = _rate_limited(too_many({}))
    assert error.retry_at is not None
    assert error.retry_at - before >= timedelta(seconds=RATE_LIMIT_FALLBACK_SEC - 1)
