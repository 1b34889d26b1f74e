"""An approved outlet's own page in its space (``/me/outlet``): the share button to paste
where X's was, its invitation page, ready-to-post invitations (a text for each network and
an image), and what was counted for it."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import TYPE_CHECKING
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web
from sqlmodel import Session

from hqx.state import ENGINE
from hqx.web.bots import bots
from hqx.web.cards import public_url
from hqx.web.figures import CHART_DAYS, HEIGHT, WIDTH, polylines, top_of
from hqx.web.join import cutover, invitation_card
from hqx.web.space import message, visit_of
from hqx.web.texts import TEXTS, context
from shared.db.models import DirectoryEntry
from shared.portal import directory
from shared.portal.audience import CHARTED, Audience, latest
from shared.vocabulary import Network

if TYPE_CHECKING:
    from shared.portal.directory import Listed

routes = web.RouteTableDef()

CHART_LINES = ("here", "reconnected")
"""The running totals drawn; shares and invitations are in the table."""
POST_LENGTH = {Network.BLUESKY: 300, Network.MASTODON: 500}
"""Each network's post length (Bluesky: graphemes, never fewer than code points)."""


async def _mine(request: web.Request) -> Listed:
    """The signed-in person's approved outlet, or a page saying it is not one."""
    visit = await visit_of(request)

    def read() -> Listed | None:
        with Session(request.app[ENGINE]) as session:
            entry = session.get(DirectoryEntry, visit.person)
            if entry is None or entry.approved_at is None:
                return None
            return directory.listing(session, entry)

    outlet = await asyncio.to_thread(read)
    if outlet is None:
        lang = str(context(request)["lang"])
        raise web.HTTPNotFound(text=TEXTS[lang]["outlet_not_listed"])
    return outlet


async def _audience(request: web.Request, outlet: Listed) -> Audience:
    def read() -> Audience:
        with Session(request.app[ENGINE]) as session:
            return latest(session, outlet.person)

    return await asyncio.to_thread(read)


def snippet(public: str, slug: str, lang: str) -> str:
    """The share button an outlet pastes where X's was: plain HTML and CSS, no script, no
    tracking; its pages' templates put each article's address and title in place of
    ``ARTICLE_URL`` and ``ARTICLE_TITLE`` (URL-encoded), as they did for X's button."""
    label = TEXTS[lang]["share_title"]
    return (
        f'<a class="hqx-share" href="{public}/share?o={slug}&amp;url=ARTICLE_URL&amp;'
        f'text=ARTICLE_TITLE&amp;lang={lang}" target="_blank" rel="noopener">{label}</a>\n'
        "<style>.hqx-share{display:inline-block;padding:.45em 1em;border-radius:.4em;"
        "background:#0b3d91;color:#fff;font:600 15px/1.4 system-ui,sans-serif;"
        "text-decoration:none}.hqx-share:hover,.hqx-share:focus{background:#072a66;"
        "color:#fff;outline:2px solid #072a66;outline-offset:2px}</style>"
    )


def invitation(request: web.Request, outlet: Listed, network: Network) -> str:
    """A ready-to-post invitation for ``network``, within its post length."""
    lang = str(context(request)["lang"])
    words = TEXTS[lang]
    bot = next((b for b in bots(request) if b.network == network), None)
    link = f"{public_url(request)}/join/{outlet.slug}"
    values = {
        "bot": bot.handle if bot is not None else "HelloQuitteX",
        "day": cutover(request)["cutover_day"],
        "link": link,
    }
    opening = words["invitation_opening"].format(name=outlet.name)
    text = words["invitation_post"].format(opening=opening, **values)
    if len(text) > POST_LENGTH[network]:  # a long name: the name goes, the rest stays
        text = words["invitation_post"].format(opening=words["invitation_we"], **values)
    return text


@routes.get("/me/outlet")
async def _outlet(request: web.Request) -> web.Response:
    outlet = await _mine(request)
    seen = await _audience(request, outlet)
    lang = str(context(request)["lang"])
    drawn = seen.days[-CHART_DAYS:]
    values = context(request) | {
        "outlet": outlet,
        "audience": seen,
        "counts": seen.counted,
        "snippet": snippet(public_url(request), outlet.slug, lang),
        "join": f"{public_url(request)}/join/{outlet.slug}?lang={lang}",
        "networks": list(POST_LENGTH),
        "lines": polylines(drawn, CHART_LINES) if drawn else {},
        "top": top_of(drawn, CHART_LINES),
        "drawn": drawn,
        "colours": {"here": "#0b4f9c", "reconnected": "#1d7a3a"},
        "width": WIDTH,
        "height": HEIGHT,
    }
    return aiohttp_jinja2.render_template("outlet.html", request, values)


@routes.get("/me/outlet/audience.csv")
async def _audience_csv(request: web.Request) -> web.Response:
    """The daily counts, one line a day: a spreadsheet's, not a person's."""
    outlet = await _mine(request)
    seen = await _audience(request, outlet)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["day", *CHARTED])
    for day in seen.days:
        writer.writerow([day.day.isoformat(), *(day.totals[name] for name in CHARTED)])
    return web.Response(
        text=out.getvalue(), content_type="text/csv", charset="utf-8",
        headers=_attachment(f"audience-{outlet.slug}.csv"),
    )  # fmt: skip


@routes.get("/me/outlet/invitation-{network}.txt")
async def _invitation_text(request: web.Request) -> web.Response:
    outlet = await _mine(request)
    try:
        network = Network(request.match_info["network"])
    except ValueError:
        return message(request, f"no invitation for {request.match_info['network']!r}", 404)
    if network not in POST_LENGTH:
        return message(request, f"no invitation for {network.value!r}", 404)
    return web.Response(
        text=invitation(request, outlet, network),
        content_type="text/plain",
        charset="utf-8",
        headers=_attachment(f"invitation-{outlet.slug}-{network.value}.txt"),
    )


@routes.get("/me/outlet/invitation.png")
async def _invitation_image(request: web.Request) -> web.Response:
    outlet = await _mine(request)
    png = await asyncio.to_thread(invitation_card, request, outlet, bots(request))
    return web.Response(
        body=png, content_type="image/png", headers=_attachment(f"invitation-{outlet.slug}.png")
    )


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "Cache-Control": "no-store"}  # fmt: skip
