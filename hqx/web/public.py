"""The public pages: the movement's figures with their chart over time, and the media
directory."""

from __future__ import annotations

import asyncio

import aiohttp_jinja2
from aiohttp import web
from sqlmodel import Session

from hqx.state import ENGINE, STATS
from hqx.web.cards import page_meta
from hqx.web.figures import COLOURS, HEIGHT, WIDTH, label_heights, polylines, top_of
from hqx.web.texts import context
from shared.portal import directory, stats
from shared.vocabulary import DirectoryStatus, XButton

routes = web.RouteTableDef()


@routes.get("/stats")
async def _stats(request: web.Request) -> web.Response:
    counted = await request.app[STATS].get(request.app[ENGINE])
    top = top_of(counted.days)
    today = counted.days[-1].totals
    ends = label_heights({name: HEIGHT - today[name] * HEIGHT / top for name in stats.CHARTED})
    values = context(
        request,
        figures=counted.figures,
        order=stats.FIGURES,
        lines=polylines(counted.days),
        ends=ends,
        top=top,
        days=counted.days,
        charted=stats.CHARTED,
        colours=COLOURS,
        first=counted.days[0].day.isoformat(),
        last=counted.days[-1].day.isoformat(),
        width=WIDTH,
        height=HEIGHT,
        og=page_meta(request, "stats", "stats_title", "stats_description"),
    )
    return aiohttp_jinja2.render_template("stats.html", request, values)


SORTS = ("name", "status", "since")
"""How the directory may be ordered: by name, by where each stands with X (those who left
first), by when each joined the directory (the latest first)."""
_STATUS_ORDER = {DirectoryStatus.LEFT: 0, DirectoryStatus.COMMITTED: 1,
                 DirectoryStatus.CONSIDERING: 2}  # fmt: skip


@routes.get("/media")
async def _media(request: web.Request) -> web.Response:
    """The media directory: approved outlets, filtered by where they stand with X and by
    what they say of X's button, sorted as the reader asks (a form, no script)."""

    def listed() -> list[directory.Listed]:
        with Session(request.app[ENGINE]) as session:
            return directory.entries(session)

    found = await asyncio.to_thread(listed)
    status = request.query.get("status", "")
    button = request.query.get("button", "")
    sort = request.query.get("sort", "name")
    shown = [
        e for e in found
        if (status not in {s.value for s in DirectoryStatus} or e.status == status)
        and (button not in {b.value for b in XButton} or e.x_button == button)
    ]  # fmt: skip
    if sort == "status":
        shown.sort(key=lambda e: (_STATUS_ORDER[DirectoryStatus(e.status)], e.name.casefold()))
    elif sort == "since":
        shown.sort(key=lambda e: e.approved_at or e.requested_at, reverse=True)
    else:
        sort = "name"
        shown.sort(key=lambda e: e.name.casefold())
    values = context(
        request, entries=shown, total=len(found), status=status, button=button, sort=sort,
        statuses=[s.value for s in DirectoryStatus], buttons=[b.value for b in XButton],
        sorts=SORTS, og=page_meta(request, "media", "media_title", "media_description"),
    )  # fmt: skip
    return aiohttp_jinja2.render_template("media.html", request, values)
