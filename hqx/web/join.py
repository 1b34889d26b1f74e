"""An outlet's invitation page (``/join/SLUG``, French and English): the outlet, its
accounts as proven here, and a reader's steps (write to the bot, upload the X archive, the
cutover date). Who sets off from it towards the bot is counted for the outlet, per day, as a
number."""

from __future__ import annotations

import asyncio

import aiohttp_jinja2
from aiohttp import web
from sqlmodel import Session

from hqx.state import ENGINE, SETTINGS, SHARE_PACE
from hqx.web import images
from hqx.web.bots import Bot, bots
from hqx.web.cards import drawn, meta, public_url
from hqx.web.clients import client_address
from hqx.web.page_proof import same_origin
from hqx.web.space import message, onward
from hqx.web.texts import TEXTS, context, long_date
from shared.clock import utcnow
from shared.portal import directory, tallies
from shared.vocabulary import Tally

routes = web.RouteTableDef()


async def _outlet(request: web.Request) -> directory.Listed | None:
    """The approved outlet the address names."""

    def find() -> directory.Listed | None:
        with Session(request.app[ENGINE]) as session:
            return directory.listed(session, request.match_info["slug"])

    return await asyncio.to_thread(find)


def _unknown(request: web.Request) -> web.Response:
    return message(request, TEXTS[str(context(request)["lang"])]["join_unknown"], 404)


def cutover(request: web.Request) -> dict[str, object]:
    """The reconnection's date as a page says it: the day, and the days left (0: begun)."""
    at = request.app[SETTINGS].cutover_at
    lang = str(context(request)["lang"])
    left = max((at.date() - utcnow().date()).days, 0) if at > utcnow() else 0
    return {"cutover_day": long_date(at.date(), lang), "cutover_days": left}


def invitation_card(request: web.Request, outlet: directory.Listed, mine: list[Bot]) -> bytes:
    """The outlet's invitation as an image: to post, and its page's link card."""
    words = TEXTS[str(context(request)["lang"])]
    handles = " · ".join(b.handle for b in mine) or "HelloQuitteX"
    steps = [
        words["invitation_step_bot"].format(bots=handles),
        words["invitation_step_archive"],
        words["invitation_step_day"].format(day=cutover(request)["cutover_day"]),
    ]
    title = words["join_title"].format(name=outlet.name)
    return images.card(title, steps, f"{public_url(request)}/join/{outlet.slug}")


@routes.get("/join/{slug}")
async def _join(request: web.Request) -> web.Response:
    outlet = await _outlet(request)
    if outlet is None:
        return _unknown(request)
    lang = str(context(request)["lang"])
    words = TEXTS[lang]
    og = meta(
        request, words["join_title"].format(name=outlet.name),
        words["join_intro"].format(name=outlet.name), f"/join/{outlet.slug}/card.png?lang={lang}",
    )  # fmt: skip
    values = context(request, outlet=outlet, bots=bots(request), og=og, **cutover(request))
    return aiohttp_jinja2.render_template("join.html", request, values)


@routes.get("/join/{slug}/card.png")
async def _card(request: web.Request) -> web.Response:
    outlet = await _outlet(request)
    if outlet is None:
        raise web.HTTPNotFound
    lang = str(context(request)["lang"])
    mine = bots(request)

    async def draw() -> bytes:
        return await asyncio.to_thread(invitation_card, request, outlet, mine)

    return await drawn(request, (f"join/{outlet.slug}", lang), draw)


@routes.post("/join/{slug}/start")
async def _start(request: web.Request) -> web.StreamResponse:
    """A reader sets off towards the bot on a network: counted, then on to write to it."""
    outlet = await _outlet(request)
    if outlet is None:
        return _unknown(request)
    lang = str(context(request)["lang"])
    if not same_origin(request):
        return message(request, TEXTS[lang]["share_elsewhere"], 403)
    form = await request.post()
    bot = next((b for b in bots(request) if b.network.value == form.get("to")), None)
    if bot is None:
        return message(request, TEXTS[lang]["join_no_bot"], 400)
    if not request.app[SHARE_PACE].wait(client_address(request)):
        await asyncio.to_thread(tallies.add, request.app[ENGINE], outlet.person, Tally.INVITATION)
    address = bot.composer(lang)
    if address.startswith("/"):
        raise web.HTTPSeeOther(address)
    return onward(request, address, bot.name, "share")
