"""The campaign's own pages: the home page (what the movement and the service do, the
steps as they are, the dates, the figures, the media's asks, the data kept, questions) and
the privacy page, in French and English, with no script and nothing asked of another site."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from hqx.state import ENGINE, STATS
from hqx.web.bots import bots
from hqx.web.cards import page_meta
from hqx.web.join import cutover
from hqx.web.texts import context

routes = web.RouteTableDef()

SHOWN = ("people", "archives", "matches", "follows")
"""The figures on the home page (all of them are on ``/stats``)."""


@routes.get("/")
async def _home(request: web.Request) -> web.Response:
    counted = await request.app[STATS].get(request.app[ENGINE])
    values = context(
        request,
        bots=bots(request),
        figures=counted.figures,
        shown=SHOWN,
        og=page_meta(request, "home", "home_lead", "home_description"),
        **cutover(request),
    )
    return aiohttp_jinja2.render_template("home.html", request, values)


@routes.get("/privacy")
async def _privacy(request: web.Request) -> web.Response:
    values = context(request, og=page_meta(request, "privacy", "privacy_title",
                                           "privacy_description"))  # fmt: skip
    return aiohttp_jinja2.render_template("privacy.html", request, values)
