"""The running service, wired: an aiohttp application that owns, through its cleanup
context, the database engine, the configured bots and the scheduler, and serves the web
portal (:mod:`hqx.web`) and ``/healthz`` (``hqx run``)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bsky_service.adapter import BlueskyAdapter
from bsky_service.identity import DidDocuments
from hqx import metrics
from hqx import web as portal
from hqx.imports import Imports
from hqx.oembed import OEmbedReader
from hqx.outbound import OutboundClient
from hqx.state import (
    DIDS,
    DOORS,
    ENGINE,
    IMPORTS,
    OUTBOUND,
    SERVICE,
    SETTINGS,
    STATS,
    X_SIGNIN,
)
from hqx.web.access_log import RedactedAccessLogger
from hqx.web.figures import StatsCache
from hqx.web.limits import Pace
from hqx.x_signin import XSignIn
from mastodon_bot.adapter import MastodonAdapter
from shared.bot.commands import Environment
from shared.bot.handlers import default_registry
from shared.clock import iso_utc, utcnow
from shared.db import migrate
from shared.db.engine import create_sync_engine
from shared.service import ALL_ROLES, Service
from shared.stores import Stores
from shared.vocabulary import Network, Role

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.engine import Engine

    from shared.config import Settings
    from shared.outbound import Outbound
    from shared.protocol import Protocol

log = logging.getLogger(__name__)

DEFAULT_BSKY_PDS_URL = "https://bsky.social"
# A receive loop failing this long is reported down (shorter failures are retried quietly).
FAILING_TOO_LONG = timedelta(minutes=5)


def create_app(settings: Settings) -> web.Application:
    """The application; the service starts with it and stops with it."""
    app = web.Application()
    app[SETTINGS] = settings
    app[STATS] = StatsCache()
    app[DOORS] = Pace(requests=settings.links_per_minute, window_sec=60.0)
    app[OUTBOUND] = OutboundClient(settings.outbound_policy())
    app[DIDS] = DidDocuments(app[OUTBOUND], settings.bsky_plc_url)
    app.on_cleanup.append(_close_outbound)
    app.cleanup_ctx.append(_service)
    if settings.x_client_id and settings.public_url and settings.secret_key:
        app[X_SIGNIN] = XSignIn(settings)
        app.on_cleanup.append(_close_x_signin)
    app.add_routes([web.get("/healthz", _health)])
    metrics.setup(app)  # every role's process
    if Role.WEB in settings.roles:  # a work or bots process serves its health only
        portal.setup(app)
    return app


async def _close_outbound(app: web.Application) -> None:
    await app[OUTBOUND].close()


async def _close_x_signin(app: web.Application) -> None:
    await app[X_SIGNIN].close()


def server_options() -> dict[str, Any]:
    """How the application is served (by ``hqx run``, and by the tests as it runs)."""
    return {"access_log_class": RedactedAccessLogger}


def build_adapters(settings: Settings, engine: Engine, outbound: Outbound) -> list[Protocol]:
    """One adapter per configured network; ``outbound``: the service's client for people's
    own servers."""
    adapters: list[Protocol] = []
    stores = Stores.of(engine, settings.secret_key)
    if settings.bsky_handle is not None and settings.bsky_app_password is not None:
        adapters.append(
            BlueskyAdapter(
                stores,
                settings.bsky_pds_url or DEFAULT_BSKY_PDS_URL,
                settings.bsky_handle,
                settings.bsky_app_password,
                poll_interval_sec=settings.bsky_poll_sec,
                chat_proxy=settings.bsky_chat_proxy,
                catch_up=settings.catch_up,
                session_key=settings.secret_key,
                outbound=outbound,
            )
        )
    if settings.mastodon_api_base_url is not None and settings.mastodon_access_token is not None:
        adapters.append(
            MastodonAdapter(
                stores,
                settings.mastodon_api_base_url,
                settings.mastodon_access_token,
                poll_interval_sec=settings.mastodon_poll_sec,
                catch_up=settings.catch_up,
                outbound=outbound,
            )
        )
    return adapters


def offline_environment(settings: Settings) -> Environment:
    """What the core may know of the networks when no service runs (an operator's
    command): the configured bots' handles and what their adapters deliver, read from their
    classes, nothing started."""
    delivers: dict[Network, frozenset[Any]] = {}
    handles: dict[Network, str] = {}
    if settings.bluesky_configured and settings.bsky_handle:
        delivers[Network.BLUESKY] = BlueskyAdapter.delivers
        handles[Network.BLUESKY] = settings.bsky_handle
    if settings.mastodon_configured:
        delivers[Network.MASTODON], handles[Network.MASTODON] = MastodonAdapter.delivers, ""
    return Environment(
        secret_key=settings.secret_key, now=utcnow(), public_url=settings.public_url,
        bot_handles=handles, delivers=delivers, old_keys=settings.old_secret_keys,
    )  # fmt: skip


async def _service(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = create_sync_engine(settings.database_url)
    try:
        await asyncio.to_thread(migrate.require_current, engine)
        service = Service(
            engine,
            build_adapters(settings, engine, app[OUTBOUND]),
            default_registry(),
            settings.secret_key,
            public_url=settings.public_url,
            x_posts=OEmbedReader(settings.x_oembed_url) if settings.x_oembed_url else None,
            old_keys=settings.old_secret_keys,
            reconnection=settings.reconnection,
            roles=settings.roles,
        )
        await service.start(wait=settings.wait_for_lease)
        app[SERVICE] = service
        app[ENGINE] = engine
        imports = app[IMPORTS] = Imports(settings, engine)
        importing = None
        if Role.WORK in settings.roles:
            # The all-in-one service is alone on the uploads folder: a crash's leftovers go.
            alone = settings.roles == ALL_ROLES
            swept = await asyncio.to_thread(imports.queue.prune, alone=alone)
            if swept:
                log.info("removed %d uploads an earlier run left in %s", swept, imports.folder)
            work = imports.forever(lambda: service.holder, service.reattest)
            importing = asyncio.create_task(work, name="imports")
        try:
            yield
        finally:
            if importing is not None:
                importing.cancel()
                await asyncio.gather(importing, return_exceptions=True)
            await asyncio.to_thread(imports.close)
            await service.stop()
    finally:
        engine.dispose()


async def _health(request: web.Request) -> web.Response:
    """Each configured bot's receive loop (running, failing since when, stopped) and how it
    receives; 503 when none is configured, one is stopped, or one has been failing a while,
    so that monitoring notices."""
    service = request.app[SERVICE]
    loops = service.receiving()
    bots: dict[str, dict[str, str]] = {}
    down: list[str] = []
    for adapter in service.adapters:
        network = adapter.network.value
        loop = loops[adapter.network]
        status = loop.current()
        report = {"handle": adapter.bot_handle, "loop": status, "since": iso_utc(loop.since)}
        if status in ("failing", "stopped"):
            report["reason"] = loop.reason
        bots[network] = report | adapter.health()
        failing_long = status == "failing" and utcnow() - loop.since > FAILING_TOO_LONG
        if status == "stopped" or failing_long:
            down.append(network)
    if not bots:
        return web.json_response({"status": "down", "reason": "no bot is configured"}, status=503)
    if down:
        return web.json_response({"status": "down", "down": down, "bots": bots}, status=503)
    return web.json_response({"status": "ok", "bots": bots})
