"""The web portal: routes (:mod:`.pages`), templates with auto-escaping (``templates/``),
static files (``static/``), in French and English (:mod:`.texts`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp_jinja2
import jinja2
from aiohttp import web

from hqx.state import CARDS, DOORS, ENGINE, SHARE_PACE, SHARES, STATS
from hqx.web import (
    bluesky_follows,
    cards,
    follows,
    headers,
    home,
    images,
    join,
    nodeinfo,
    outlet,
    pages,
    public,
    share,
    space,
    xrpc,
)
from hqx.web.clients import client_address
from hqx.web.limits import Pace
from shared.portal import uploads

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aiohttp.typedefs import Handler

HERE = Path(__file__).resolve().parent


def setup(app: web.Application) -> None:
    """Give ``app`` the portal's templates, static files and routes."""
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"], default=True),
    )
    app.add_routes(home.routes)
    app.add_routes(cards.routes)
    app.add_routes(pages.routes)
    app.add_routes(space.routes)
    app.add_routes(public.routes)
    app.add_routes(share.routes)
    app.add_routes(join.routes)
    app.add_routes(outlet.routes)
    app[SHARES] = nodeinfo.Servers()
    app[CARDS] = images.Cards()
    app[SHARE_PACE] = Pace(requests=share.SHARES_PER_MINUTE, window_sec=60.0)
    app.add_routes(follows.routes)
    app.add_routes(bluesky_follows.routes)
    xrpc.setup(app)
    app.router.add_static("/static/", HERE / "static", name="static")
    app.on_response_prepare.append(headers.security_headers)
    app.middlewares.append(_paced)
    app.cleanup_ctx.append(_figures)


@web.middleware
async def _paced(request: web.Request, handler: Handler) -> web.StreamResponse:
    # A link's own page, where a token could be guessed; what lies beyond needs more secrets.
    door = request.path.startswith(uploads.LINK_PATHS) and request.path.count("/") == 3
    if door and DOORS in request.app:
        wait = request.app[DOORS].wait(client_address(request))
        if wait:
            return web.Response(
                status=429,
                text=f"too many requests: try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )
    return await handler(request)


async def _figures(app: web.Application) -> AsyncIterator[None]:
    """The figures counted as the portal starts (its first visitor finds them ready), and
    their count under way ended when it stops."""
    app[STATS].refresh(app[ENGINE])
    yield
    await app[STATS].close()
