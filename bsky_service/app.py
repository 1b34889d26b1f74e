"""The running service: an aiohttp application that serves the web portal and owns, through
its cleanup context, the database engine, both bots and the scheduler (``hqx run``)."""

from __future__ import annotations

import asyncio
import html
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from bsky_service.adapter import BlueskyAdapter
from mastodon_bot.adapter import MastodonAdapter
from shared.config import Settings
from shared.db import migrate
from shared.db.engine import create_sync_engine
from shared.handlers import default_registry
from shared.service import Service

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.engine import Engine

    from shared.protocol import Protocol

log = logging.getLogger(__name__)

DEFAULT_BSKY_PDS_URL = "https://bsky.social"

SETTINGS = web.AppKey("settings", Settings)
SERVICE = web.AppKey("service", Service)


def create_app(settings: Settings) -> web.Application:
    """The application; the service starts with it and stops with it."""
    app = web.Application()
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_service)
    app.add_routes([web.get("/", _home), web.get("/healthz", _health)])
    return app


def build_adapters(settings: Settings, engine: Engine) -> list[Protocol]:
    """One adapter per configured network."""
    adapters: list[Protocol] = []
    if settings.bsky_handle is not None and settings.bsky_app_password is not None:
        adapters.append(
            BlueskyAdapter(
                engine,
                settings.bsky_pds_url or DEFAULT_BSKY_PDS_URL,
                settings.bsky_handle,
                settings.bsky_app_password,
                chat_proxy=settings.bsky_chat_proxy,
            )
        )
    if settings.mastodon_api_base_url is not None and settings.mastodon_access_token is not None:
        adapters.append(
            MastodonAdapter(
                engine,
                settings.mastodon_api_base_url,
                settings.mastodon_access_token,
                poll_interval_sec=settings.mastodon_poll_sec,
            )
        )
    return adapters


async def _service(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = create_sync_engine(settings.database_url)
    try:
        await asyncio.to_thread(migrate.require_current, engine)
        service = Service(
            engine, build_adapters(settings, engine), default_registry(), settings.secret_key
        )
        await service.start()
        app[SERVICE] = service
        try:
            yield
        finally:
            await service.stop()
    finally:
        engine.dispose()


async def _health(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    bots = {adapter.network.value: adapter.bot_handle for adapter in service.adapters}
    return web.json_response({"status": "ok", "bots": bots})


async def _home(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    handles = "".join(
        f"<li>{html.escape(a.network.value.capitalize())} : @{html.escape(a.bot_handle)}</li>"
        for a in service.adapters
    )
    page = f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>HelloQuitteX</title></head>
<body>
<h1>HelloQuitteX</h1>
<p lang="fr">Quittez X sans perdre votre public : mentionnez le bot pour commencer.</p>
<p lang="en">Leave X without losing your audience: mention the bot to start.</p>
<ul>{handles}</ul>
</body></html>"""
    return web.Response(text=page, content_type="text/html")
