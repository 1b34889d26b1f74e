"""`/metrics` for Prometheus: the outbox, the write budgets, what was received, the leases
held and the receive loops, as the database and the process say at the scrape."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session

from hqx.app import create_app
from hqx.state import SERVICE
from shared import outbox
from shared.actions import Recipient, Reply
from shared.clock import utcnow
from shared.config import Settings
from shared.db.models import InboundPost
from shared.vocabulary import Network

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tests.mastodon_world import MastodonWorld

KEY = "a-test-secret-key-that-is-long-enough-0123"
WAIT_SEC = 20.0
Sample = tuple[str, tuple[tuple[str, str], ...]]


def scraped(text: str) -> dict[Sample, float]:
    """Each sample of an exposition, by its name and labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_say_what_waits_what_was_received_and_what_the_process_holds(
    engine: Engine, database_url: str, mastodon: MastodonWorld
) -> None:
    settings = Settings(
        database_url=database_url, secret_key=KEY,
        mastodon_api_base_url=mastodon.url, mastodon_access_token=mastodon.bot.token,
    )  # fmt: skip
    late = utcnow() - timedelta(minutes=5)
    mastodon.server.refuse_statuses = 1  # the server's rate limit, for the due one,
    mastodon.server.rate_limit_reset = utcnow() + timedelta(hours=1)  # reset in an hour
    with Session(engine) as session, session.begin():
        for n in range(3):
            answer = Reply(f"post-{n}", Recipient("https://m.test/users/a", "a@m.test"),
                           "hello", "en", False, {"status_id": f"post-{n}"})  # fmt: skip
            outbox.queue(session, key=f"metrics:{n}", network=Network.MASTODON, action=answer,
                         not_before=late + timedelta(days=n))  # fmt: skip
        session.add(InboundPost(network=Network.MASTODON, post_id="p1", author="a"))

    async def main() -> str:
        app = create_app(settings)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            deadline = time.monotonic() + WAIT_SEC
            while "running" not in await (await client.get("/healthz")).text():
                assert time.monotonic() < deadline, "the bot did not start"
                await asyncio.sleep(0.05)
            app[SERVICE].wake_delivery()  # the due one meets a 429
            while True:
                response = await client.get("/metrics")
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain; version=")
                text = await response.text()
                if 'hqx_rate_limited_total{network="mastodon"} 1.0' in text:
                    return text
                assert time.monotonic() < deadline, f"no 429 counted: {text}"
                await asyncio.sleep(0.05)

    samples = scraped(asyncio.run(main()))
    mastodon_ = ("network", "mastodon")
    pending = samples[("hqx_outbound_actions", (("kind", "reply"), mastodon_,
                                                ("status", "pending")))]  # fmt: skip
    assert pending >= 2, "the two not due yet wait (the one a 429 held back may be retried)"
    assert samples[("hqx_rate_limited_total", (mastodon_,))] == 1
    assert samples[("hqx_inbound_posts_last_hour", (mastodon_,))] == 1
    assert samples[("hqx_lease_held", (("lease", "service"),))] == 1
    assert samples[("hqx_receiving", (mastodon_, ("state", "running")))] == 1
    assert samples[("hqx_write_budget_left_points", (mastodon_,))] <= 2_400 * 0.8
    assert samples[("hqx_imports", (("outcome", "done"),))] == 0
    assert samples[("hqx_uploads", (("state", "waiting"),))] == 0


def test_metrics_say_how_far_behind_the_bot_reads_and_how_long_matching_takes(
    engine: Engine, database_url: str, mastodon: MastodonWorld
) -> None:
    settings = Settings(
        database_url=database_url, secret_key=KEY,
        mastodon_api_base_url=mastodon.url, mastodon_access_token=mastodon.bot.token,
    )  # fmt: skip

    async def main() -> str:
        app = create_app(settings)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            deadline = time.monotonic() + WAIT_SEC
            while "running" not in await (await client.get("/healthz")).text():
                assert time.monotonic() < deadline, "the bot did not start"
                await asyncio.sleep(0.05)
            await asyncio.to_thread(mastodon.alice_person.post, "@helloquittex help")
            await app[SERVICE].match_requested()  # timed, though nobody asked
            while True:
                text = await (await client.get("/metrics")).text()
                if "hqx_receive_lag_seconds{" in text:
                    return text
                assert time.monotonic() < deadline, f"no lag said: {text}"
                await asyncio.sleep(0.05)

    samples = scraped(asyncio.run(main()))
    assert 0 <= samples[("hqx_receive_lag_seconds", (("network", "mastodon"),))] < WAIT_SEC
    assert samples[("hqx_matching_last_seconds", (("kind", "requested"),))] >= 0
    assert ("hqx_matching_seconds_total", (("kind", "requested"),)) in samples
