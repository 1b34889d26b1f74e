"""A person's own space on the portal: reached from a one-time link the bot sends privately,
then a short session in a sealed cookie. They see their accounts, their contacts found and
awaited, their packs; change their settings; take their data away; erase everything; sign
out here or everywhere.

Every form carries the session's own anti-forgery token; the session names the person and
their sessions' generation, so "sign out everywhere" ends every cookie already given.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp_jinja2
from aiohttp import web
from sqlmodel import Session

from hqx.state import ENGINE, SERVICE, SETTINGS
from hqx.web import page_proof
from hqx.web.page_proof import PageProof
from hqx.web.texts import TEXTS, context
from shared import sealed
from shared.bot import privacy
from shared.db.models import Identity, Person
from shared.portal import directory, export, uploads
from shared.portal.space import Space, space_of
from shared.vocabulary import DirectoryStatus, Network, Reconnect

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from shared.bot.commands import Outbound
    from shared.service import Service

COOKIE = "hqx_space"
SESSION_SEC = 12 * 3600
"""How long a session lasts: a day's use, not a standing key to someone's data."""
_PURPOSE = "portal-session"
SIGNIN_PAGE = PageProof("hqx_signin_page", uploads.SPACE_PATH, "space-signin")
"""The sign-in page's own proof: another site's form cannot sign a browser in."""
routes = web.RouteTableDef()


@dataclass(frozen=True, slots=True)
class Visit:
    """A signed-in request: whose, and the token its forms must send back."""

    person: int
    csrf: str


def _key(request: web.Request) -> str | None:
    return request.app[SETTINGS].secret_key


def message(
    request: web.Request, line: str, status: int = 200, more: tuple[str, ...] = ()
) -> web.Response:
    values = context(request) | {"lines": [line, *more]}
    return aiohttp_jinja2.render_template("message.html", request, values, status=status)


def unreachable(request: web.Request) -> web.Response:
    """A person's server could not be asked: our sentence, never what it answered (the log
    has that)."""
    return message(request, TEXTS[_lang(request)]["server_unreachable"], 502)


def _closed(request: web.Request) -> web.Response:
    """No secret key, no sessions: the space is closed on this service."""
    return message(request, TEXTS[context(request)["lang"]]["space_closed"], 404)


def linked_account(engine: Engine, person_id: int, network: Network) -> Identity | None:
    """The person's (first) account on ``network``, as linked here."""
    with Session(engine) as session:
        mine = Identity.of_person(session, person_id)
    return next((i for i in mine if i.network == network), None)


def onward(request: web.Request, url: str, server: str, why: str = "consent") -> web.Response:
    """A page that takes the person on to ``url`` on their own server (``why``: to consent
    there, or to share): a form's answer may not redirect off the portal (``form-action
    'self'``, which browsers apply to redirects), a page's refresh may."""
    values = context(request) | {"url": url, "server": server, "why": why}
    response = aiohttp_jinja2.render_template("onward.html", request, values)
    response.headers["Cache-Control"] = "no-store"
    return response


def redirect(request: web.Request, path: str) -> web.Response:
    """See ``path``, in the language of this page."""
    sep = "&" if "?" in path else "?"
    return web.Response(status=303, headers={"Location": f"{path}{sep}lang={_lang(request)}"})


def _lang(request: web.Request) -> str:
    return str(context(request)["lang"])


def _cookie(request: web.Request, response: web.StreamResponse, value: str) -> None:
    public = request.app[SETTINGS].public_url or ""
    response.set_cookie(
        COOKIE,
        value,
        max_age=SESSION_SEC,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=public.startswith("https://"),
    )


def _open(engine: Engine, key: str, cookie: str | None) -> Visit | None:
    """The visit a session cookie opens: sealed by this key, unexpired, of the person's
    current generation of sessions."""
    opened = sealed.unseal(key, _PURPOSE, cookie) if cookie else None
    if opened is None:
        return None
    data = json.loads(opened)
    if data["until"] < time.time():
        return None
    with Session(engine) as session:
        person = session.get(Person, data["person"])
        if person is None or person.sessions != data["generation"]:
            return None
    return Visit(int(data["person"]), str(data["csrf"]))


async def visit_of(request: web.Request) -> Visit:
    """The signed-in visit, or a redirect to the page saying how to sign in."""
    key = _key(request)
    if key is None:
        raise web.HTTPNotFound
    visit = await asyncio.to_thread(_open, request.app[ENGINE], key, request.cookies.get(COOKIE))
    if visit is None:
        raise web.HTTPSeeOther(f"/me/out?lang={_lang(request)}")
    return visit


async def form_of(request: web.Request, visit: Visit) -> dict[str, str]:
    """The posted form, once its anti-forgery token matches the session's."""
    posted = await request.post()
    sent = posted.get("csrf")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, visit.csrf):
        raise web.HTTPForbidden(text="this form is not from your session: reload the page")
    return {name: value for name, value in posted.items() if isinstance(value, str)}


@routes.get(uploads.SPACE_PATH + "{token}")
async def _signin_page(request: web.Request) -> web.Response:
    """A button, not a sign-in: link previews fetch the link, only a person presses it."""
    if _key(request) is None:
        return _closed(request)
    try:
        await asyncio.to_thread(
            uploads.check, request.app[ENGINE], request.match_info["token"], purpose=uploads.SPACE
        )
    except uploads.UploadLinkError as e:
        return message(request, str(e), 410)
    proof = SIGNIN_PAGE.offer(request, request.match_info["token"])
    values = context(request, proof=proof.value)
    response = aiohttp_jinja2.render_template("space_signin.html", request, values)
    SIGNIN_PAGE.keep(request, response, proof)
    return response


@routes.post(uploads.SPACE_PATH + "{token}")
async def _signin(request: web.Request) -> web.StreamResponse:
    key = _key(request)
    if key is None:
        return _closed(request)
    engine, token = request.app[ENGINE], request.match_info["token"]
    form = await request.post()
    if not SIGNIN_PAGE.check(request, token, form.get(page_proof.FIELD)):
        try:  # a link that cannot serve says so first
            await asyncio.to_thread(uploads.check, engine, token, purpose=uploads.SPACE)
        except uploads.UploadLinkError as e:
            return message(request, str(e), 410)
        return message(request, TEXTS[_lang(request)]["space_signin_not_from_page"], 403)
    try:
        person = await asyncio.to_thread(uploads.claim, engine, token, uploads.SPACE)
    except uploads.UploadLinkError as e:
        return message(request, str(e), 410)
    generation = await asyncio.to_thread(_generation, engine, person)
    session = {
        "person": person,
        "generation": generation,
        "until": time.time() + SESSION_SEC,
        "csrf": secrets.token_urlsafe(24),
    }
    response = redirect(request, "/me")
    _cookie(request, response, sealed.seal(key, _PURPOSE, json.dumps(session)))
    return response


def _generation(engine: Engine, person_id: int) -> int:
    with Session(engine) as session:
        return session.get_one(Person, person_id).sessions


@routes.get("/me/out")
async def _signed_out(request: web.Request) -> web.Response:
    """Where a request without a session lands: how to get a sign-in link."""
    if _key(request) is None:
        return _closed(request)
    bots = [(a.network.value.capitalize(), a.bot_handle) for a in request.app[SERVICE].adapters]
    values = context(request) | {"bots": bots}
    return aiohttp_jinja2.render_template("space_out.html", request, values)


@routes.get("/me")
async def _space(request: web.Request) -> web.Response:
    visit = await visit_of(request)
    service = request.app[SERVICE]
    seen = await asyncio.to_thread(_seen, request.app[ENGINE], service, visit.person)
    values = context(request) | {
        "space": seen,
        "csrf": visit.csrf,
        "shown": privacy.SHOWN,
        "choices": [choice.value for choice in Reconnect],
        "statuses": [status.value for status in DirectoryStatus],
        "has_mastodon": any(a["network"] == "mastodon" for a in seen.accounts),
        "has_bluesky": any(a["network"] == "bluesky" for a in seen.accounts),
        "granted": {g.network for g in seen.grants},
        "saved": "saved" in request.query,
    }
    return aiohttp_jinja2.render_template("space.html", request, values)


def _seen(engine: Engine, service: Service, person_id: int) -> Space:
    adapters = {a.network.value: a for a in service.adapters}

    def pack_url(network: Network, collection: int) -> str | None:
        adapter = adapters.get(network)
        return None if adapter is None else adapter.collection_url(collection)

    with Session(engine) as session:
        return space_of(session, person_id, pack_url)


@routes.post("/me/settings")
async def _settings(request: web.Request) -> web.StreamResponse:
    visit = await visit_of(request)
    form = await form_of(request, visit)
    service = request.app[SERVICE]
    await asyncio.to_thread(_apply, request.app[ENGINE], service, visit.person, form)
    service.wake_delivery()
    return redirect(request, "/me?saved=1")


def _apply(engine: Engine, service: Service, person_id: int, form: dict[str, str]) -> None:
    """The settings form, applied as the bot's ``settings`` would: only what changed, with
    what each change publishes or withdraws queued in the same transaction."""
    trigger = f"portal:{person_id}:{secrets.token_hex(8)}"
    with Session(engine) as session, session.begin():
        person = session.get_one(Person, person_id)
        queued: list[Outbound] = []
        choice = form.get("reconnect", person.reconnect)
        if choice in {c.value for c in Reconnect} and choice != person.reconnect:
            privacy.choose_reconnect(session, person, Reconnect(choice))
        findable = form.get("findable") == "yes"
        if findable != person.findable:
            queued += privacy.set_findable(session, person, findable)
        current = privacy.consents(session, person)
        for name, purpose in privacy.SHOWN:
            wanted = form.get(name) == "yes"
            if wanted != current[purpose]:
                queued += privacy.set_consent(
                    session, person, purpose, wanted,
                    trigger=f"{trigger}:{name}", env=service.environment(),
                )  # fmt: skip
        service.queue(session, queued)


@routes.post("/me/directory")
async def _directory(request: web.Request) -> web.StreamResponse:
    """Ask for the organisation to be listed in the media directory, or change its entry."""
    visit = await visit_of(request)
    form = await form_of(request, visit)

    def ask() -> None:
        with Session(request.app[ENGINE]) as session, session.begin():
            directory.ask(
                session, visit.person, form.get("name", ""), form.get("status", ""),
                form.get("x_button", ""),
            )  # fmt: skip

    try:
        await asyncio.to_thread(ask)
    except directory.DirectoryError as e:
        return message(request, str(e), 400)
    return redirect(request, "/me?saved=1")


@routes.get("/me/export")
async def _export(request: web.Request) -> web.Response:
    visit = await visit_of(request)

    def everything() -> dict[str, Any]:
        with Session(request.app[ENGINE]) as session:
            return export.export(session, visit.person)

    data = await asyncio.to_thread(everything)
    return web.json_response(
        data,
        dumps=lambda d: json.dumps(d, ensure_ascii=False, indent=1),
        headers={"Content-Disposition": 'attachment; filename="helloquittex-export.json"'},
    )


@routes.post("/me/erase")
async def _erase(request: web.Request) -> web.StreamResponse:
    """Everything erased, as the bot's ``forget confirm`` does: asked for by ticking the
    box that says so."""
    visit = await visit_of(request)
    form = await form_of(request, visit)
    if form.get("confirm") != "erase":
        return redirect(request, "/me")
    service = request.app[SERVICE]

    def erase() -> None:
        with Session(request.app[ENGINE]) as session, session.begin():
            service.queue(session, privacy.erase(session, visit.person))

    await asyncio.to_thread(erase)
    service.wake_delivery()
    texts = TEXTS[_lang(request)]
    unreached = await service.tell_revocations()
    later = texts["space_erased_grants_later"].format(servers=", ".join(unreached))
    response = message(request, texts["space_erased"], more=(later,) if unreached else ())
    response.del_cookie(COOKIE, path="/")
    return response


@routes.post("/me/signout")
async def _signout(request: web.Request) -> web.StreamResponse:
    visit = await visit_of(request)
    form = await form_of(request, visit)
    if form.get("everywhere") == "yes":
        await asyncio.to_thread(_end_sessions, request.app[ENGINE], visit.person)
    response = redirect(request, "/")
    response.del_cookie(COOKIE, path="/")
    return response


def _end_sessions(engine: Engine, person_id: int) -> None:
    with Session(engine) as session, session.begin():
        person = session.get_one(Person, person_id)
        person.sessions += 1
        session.add(person)
