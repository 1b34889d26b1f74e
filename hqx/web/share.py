"""The share button that replaces X's: ``/share?text=…&url=…&o=OUTLET`` offers Bluesky or
the reader's own server (typed once, remembered in their browser only if they tick it),
then takes them to that network's composer with the post ready. Without script: one form,
two buttons. The reader's server is known by its NodeInfo, read through the guarded client
and kept a while. A share is counted for the outlet of ``o``, per day, and nothing else."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

import aiohttp_jinja2
from aiohttp import web
from sqlmodel import Session

from hqx.state import ENGINE, OUTBOUND, SETTINGS, SHARE_PACE, SHARES
from hqx.web.clients import client_address
from hqx.web.page_proof import same_origin
from hqx.web.space import message, onward
from hqx.web.texts import TEXTS, context
from shared.outbound import OutboundError
from shared.portal import directory, sharing, tallies
from shared.vocabulary import Tally

if TYPE_CHECKING:
    from collections.abc import Mapping


log = logging.getLogger(__name__)
routes = web.RouteTableDef()

COOKIE = "hqx_share_server"
REMEMBER_SEC = 365 * 24 * 3600
SHARES_PER_MINUTE = 10
"""Shares counted per client address and minute: a reader shares a few; past it, a flood
counts nothing and makes the service ask no server it does not know already (readers
behind one busy address still go on to Bluesky and to the servers already asked)."""


def _shared(values: Mapping[str, object]) -> sharing.Shared:
    return sharing.Shared.of(str(values.get("text", "")), str(values.get("url", "")))


def _remembered(request: web.Request) -> str:
    try:
        return sharing.server_origin(request.cookies.get(COOKIE, ""))
    except sharing.ShareError:
        return ""


def _page(
    request: web.Request, shared: sharing.Shared, outlet: str, **more: object
) -> web.Response:
    values = context(request)
    remembered = _remembered(request)
    query = {"text": shared.text, "url": shared.url, "o": outlet, "lang": values["other"]}
    values |= {
        "other_href": "/share?" + urlencode({k: v for k, v in query.items() if v}),
        "shared": shared,
        "outlet": outlet,
        "remembered": remembered,
        "server": more.pop("server", None) or remembered,
        **more,
    }
    status = 400 if more.get("error") else 200
    return aiohttp_jinja2.render_template("share.html", request, values, status=status)


@routes.get("/share")
async def _share(request: web.Request) -> web.Response:
    try:
        shared = _shared(request.query)
    except sharing.ShareError as e:
        return message(request, str(e), 400)
    return _page(request, shared, request.query.get("o", ""))


@routes.post("/share")
async def _go(request: web.Request) -> web.Response:
    """The reader's choice: counted for the outlet, then on to the composer."""
    form = await request.post()
    lang = context(request)["lang"]
    if not same_origin(request):
        return message(request, TEXTS[lang]["share_elsewhere"], 403)
    try:
        shared = _shared(form)
    except sharing.ShareError as e:
        return message(request, str(e), 400)
    outlet, to = str(form.get("o", "")), form.get("to")
    # A flood from one address counts nothing, and asks no unknown server on its word.
    paced = request.app[SHARE_PACE].wait(client_address(request))
    if to == "bluesky":
        await _count(request, outlet, paced)
        return onward(request, sharing.bluesky_intent(shared), "Bluesky", "share")
    typed = str(form.get("server", ""))
    try:
        origin = sharing.server_origin(typed)
        servers = request.app[SHARES]
        if paced and not servers.knows(origin):
            return message(request, TEXTS[lang]["share_paced"].format(seconds=paced), 429)
        server = await servers.of(request.app[OUTBOUND], origin)
    except sharing.ShareError as e:
        return _page(request, shared, outlet, error=str(e), server=typed)
    except OutboundError as e:
        log.warning("share: asking %s for its NodeInfo: %s", typed, e)
        return _page(request, shared, outlet, error=TEXTS[lang]["server_unreachable"], server=typed)
    await _count(request, outlet, paced)
    address = sharing.share_address(server.software, server.origin, shared)
    shown = urlsplit(server.origin).netloc
    if address is None:
        values = context(request) | {"shared": shared, "server": server, "host": shown}
        response = aiohttp_jinja2.render_template("share_copy.html", request, values)
    else:
        response = onward(request, address, shown, "share")
    _remember(request, response, origin if form.get("remember") == "yes" else None)
    return response


async def _count(request: web.Request, slug: str, paced: int) -> None:
    """One share for the outlet of ``slug`` (an approved one; any other counts nothing),
    unless this address has shared more than its pace allows (``paced``: seconds to wait)."""
    if not slug or paced:
        return
    engine = request.app[ENGINE]

    def count() -> None:
        with Session(engine) as session:
            outlet = directory.listed(session, slug)
        if outlet is not None:
            tallies.add(engine, outlet.person, Tally.SHARE)

    await asyncio.to_thread(count)


def _remember(request: web.Request, response: web.StreamResponse, origin: str | None) -> None:
    """Keep the reader's server in their browser, or forget it: their choice, each time."""
    secure = (request.app[SETTINGS].public_url or "").startswith("https:")
    if origin is not None:
        response.set_cookie(COOKIE, origin, path="/share", max_age=REMEMBER_SEC,
                            httponly=True, samesite="Lax", secure=secure)  # fmt: skip
    elif COOKIE in request.cookies:
        response.del_cookie(COOKIE, path="/share")
