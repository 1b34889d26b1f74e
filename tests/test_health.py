"""`/healthz`: each configured bot's receive loop and how it receives, and 503 when monitoring
should look (no bot configured, or one stopped for good)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from aiohttp.test_utils import TestClient, TestServer

from hqx.app import create_app
from shared.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tests.mastodon_world import MastodonWorld

KEY = "a-test-secret-key-that-is-long-enough-0123"
WAIT_SEC = 20.0


def test_no_bot_configured_is_down(engine: Engine, database_url: str) -> None:
    async def main() -> tuple[int, Any]:
        app = create_app(Settings(database_url=database_url))
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            response = await client.get("/healthz")
            return response.status, await response.json()

    assert asyncio.run(main()) == (503, {"status": "down", "reason": "no bot is configured"})


def test_a_revoked_token_stops_the_bot_and_healthz_says_so(
    db: Engine, tmp_path: Any, mastodon: MastodonWorld
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        secret_key=KEY,
        mastodon_api_base_url=mastodon.url,
        mastodon_access_token=mastodon.bot.token,
    )

    async def main() -> list[tuple[int, Any]]:
        seen: list[tuple[int, Any]] = []
        async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as client:

            async def health() -> tuple[int, Any]:
                response = await client.get("/healthz")
                return response.status, await response.json()

            deadline = time.monotonic() + WAIT_SEC
            while "streaming" not in str(await health()):
                assert time.monotonic() < deadline, "the bot did not start streaming"
                await asyncio.sleep(0.05)
            seen.append(await health())
            mastodon.server.revoke(mastodon.bot)
            while (await health())[0] != 503:
                assert time.monotonic() < deadline, "healthz did not notice"
                await asyncio.sleep(0.05)
            seen.append(await health())
        return seen

    (ok, up), (down, report) = asyncio.run(main())
    assert ok == 200 and up["status"] == "ok"
    bot = up["bots"]["mastodon"]
    assert (bot["loop"], bot["receiving"]) == ("running", "streaming (websocket)")
    assert down == 503 and report["down"] == ["mastodon"]
    stopped = report["bots"]["mastodon"]
    assert stopped["loop"] == "stopped"
    assert stopped["reason"] == f"Mastodon: {mastodon.url} refuses the access token"
