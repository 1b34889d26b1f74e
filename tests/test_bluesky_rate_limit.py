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


def test_a_batch_that_would_overdraw_the_window_waits_for_its_reset() -> None:
    import asyncio

    import httpx

    from bsky_service.repo import WriteLimits
    from shared.protocol import DeliveryError

    limits = WriteLimits()
    now = datetime.now(UTC).replace(microsecond=0)
    reset = now + timedelta(minutes=20)
    url = "http://pds.test/xrpc/com.atproto.repo.applyWrites"
    headers = {"ratelimit-remaining": "30", "ratelimit-reset": str(int(reset.timestamp()))}
    response = httpx.Response(200, headers=headers, request=httpx.Request("POST", url))
    asyncio.run(limits.read(response))
    limits.check(30, now)  # what is left is enough
    try:
        limits.check(33, now)
    except DeliveryError as e:
        assert e.retry_at == reset and not e.permanent
    else:
        raise AssertionError("a write past the window's budget went ahead")
    limits.check(33, reset + timedelta(seconds=1))  # a new window: it goes
    reads = httpx.Request("GET", "http://pds.test/xrpc/app.bsky.feed.getTimeline")
    asyncio.run(limits.read(httpx.Response(200, headers={**headers, "ratelimit-remaining": "0"},
                                           request=reads)))  # fmt: skip
    assert limits.remaining == 30, "only the repository's writes count"
