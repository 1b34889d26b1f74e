"""The public pages: the movement's figures with their chart over time, and the media
directory."""

from __future__ import annotations

import asyncio

import aiohttp_jinja2
from aiohttp import web
from sqlmodel import Session

from hqx.state import ENGINE, STATS
from hqx.web.figures import COLOURS, HEIGHT, WIDTH, polylines
from hqx.web.texts import context
from shared.portal import directory, stats
from shared.vocabulary import DirectoryStatus

routes = web.RouteTableDef()


@routes.get("/stats")
async def _stats(request: web.Request) -> web.Response:
    counted = await request.app[STATS].get(request.app[ENGINE])
    values = context(
        request,
        figures=counted.figures,
        order=stats.FIGURES,
        lines=polylines(counted.days),
        colours=COLOURS,
        first=counted.days[0].day.isoformat(),
        last=counted.days[-1].day.isoformat(),
        width=WIDTH,
        height=HEIGHT,
    )
    return aiohttp_jinja2.render_template("stats.html", request, values)


@routes.get("/media")
async def _media(request: web.Request) -> web.Response:
    """The media directory: approved outlets, by where they stand with X."""

    def listed() -> list[directory.Listed]:
        with Session(request.app[ENGINE]) as session:
            return directory.entries(session)

    found = await asyncio.to_thread(listed)
    groups = [(s.value, [e for e in found if e.status == s.value]) for s in DirectoryStatus]
    values = context(request, groups=[(s, entries) for s, entries in groups if entries])
    return aiohttp_jinja2.render_template("media.html", request, values)
