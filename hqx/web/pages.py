"""The portal's pages: home; the one-time archive upload (streamed into the imports' folder
within the size and pace bounds, then imported in its turn for the person the link was given
to); and "Sign in with X" from the same link."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp_jinja2
from aiohttp import web
from sqlmodel import Session

from hqx import x_signin
from hqx.state import ENGINE, IMPORTS, SERVICE, SETTINGS, X_SIGNIN
from hqx.to_the_end import on_thread_to_the_end
from hqx.web import page_proof
from hqx.web.page_proof import PageProof, Proof
from hqx.web.receiving import receive_file, status_of
from hqx.web.space import onward
from hqx.web.texts import LANGUAGES, TEXTS, context, language_of
from shared.bot import notices
from shared.db.models import Identity
from shared.errors import HqxError
from shared.identity import xtrust
from shared.portal import uploads
from shared.portal.upload_queue import QueueFullError, UploadGoneError
from shared.reconnection import reports, suggestions
from shared.vocabulary import UploadState

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


WAIT_REFRESH_SEC = 2
"""How often the page of an archive being read or imported looks again."""
routes = web.RouteTableDef()


def _page(
    request: web.Request, lines: list[str], status: int = 200, signin: Offer | None = None
) -> web.Response:
    response = aiohttp_jinja2.render_template(
        "message.html", request, context(request, lines=lines, signin=signin)
    )
    response.set_status(status)
    if signin is not None:
        signin.keep(request, response)
    return response


X_PAGE = PageProof(x_signin.PAGE_COOKIE, "/x/", "x-signin-page", samesite="Lax")
"""The link page's proof for "Sign in with X" (``Lax``: its nonce comes back on X's redirect
to the callback, where the flow checks it; never with another site's form)."""


@dataclass(frozen=True, slots=True)
class Offer:
    """ "Sign in with X" as a link's page offers it: a form to this link's path, with the
    proof of this page in this browser."""

    action: str
    proof: Proof

    def keep(self, request: web.Request, response: web.StreamResponse) -> None:
        X_PAGE.keep(request, response, self.proof)


def _offer(request: web.Request, token: str) -> Offer | None:
    """The sign-in form for ``token``'s page, where the operator configured X."""
    if X_SIGNIN not in request.app:
        return None
    return Offer(uploads.SIGNIN_PATH + token, X_PAGE.offer(request, token))


async def _signin_still_open(request: web.Request, token: str) -> int | None:
    """The person of a link that an upload used, while "Sign in with X" is open on it."""
    if X_SIGNIN not in request.app:
        return None
    try:
        return await asyncio.to_thread(uploads.check, request.app[ENGINE], token, used_ok=True)
    except uploads.UploadLinkError:
        return None


def _owner(engine: Engine, person_id: int) -> list[tuple[str, str]]:
    """Whose a link is, as its page says first: their accounts on the networks."""
    with Session(engine) as session:
        return [(i.network.capitalize(), i.handle) for i in Identity.of_person(session, person_id)]


@routes.get(uploads.UPLOAD_PATH + "{token}")
async def _upload_page(request: web.Request) -> web.Response:
    """Whose link it is, first; then the upload form and "Sign in with X"."""
    engine, token = request.app[ENGINE], request.match_info["token"]
    try:
        person_id = await asyncio.to_thread(uploads.check, engine, token)
        used = False
    except uploads.UploadLinkError as e:
        # Used for an archive already: "Sign in with X" stays open on it until it expires.
        still = await _signin_still_open(request, token)
        if still is None:
            return _page(request, [str(e)], status=410)
        person_id, used = still, True
    owner = await asyncio.to_thread(_owner, engine, person_id)
    signin = _offer(request, token)
    response = aiohttp_jinja2.render_template(
        "upload.html", request, context(request, signin=signin, owner=owner, used=used)
    )
    if signin is not None:
        signin.keep(request, response)
    return response


@routes.get(uploads.FOLLOWING_PATH + "{token}")
async def _following_page(request: web.Request) -> web.Response:
    """What the list holds, and a button to download it: a link preview (servers fetch the
    links in statuses) only reads this page, it never uses the link."""
    engine = request.app[ENGINE]
    try:
        person = await asyncio.to_thread(
            uploads.check, engine, request.match_info["token"], purpose=uploads.FOLLOWING
        )
    except uploads.UploadLinkError as e:
        return _page(request, [str(e)], status=410)
    count = len(await asyncio.to_thread(_following, engine, person))
    return aiohttp_jinja2.render_template("following.html", request, context(request, count=count))


@routes.post(uploads.FOLLOWING_PATH + "{token}")
async def _following_download(request: web.Request) -> web.Response:
    """The following list, in Mastodon's import format; the link is used up."""
    engine = request.app[ENGINE]
    try:
        person = await asyncio.to_thread(
            uploads.claim, engine, request.match_info["token"], uploads.FOLLOWING
        )
    except uploads.UploadLinkError as e:
        return _page(request, [str(e)], status=410)
    addresses = await asyncio.to_thread(_following, engine, person)
    return web.Response(
        text=suggestions.following_csv(addresses),
        content_type="text/csv",
        headers={
            "Content-Disposition": 'attachment; filename="following_accounts.csv"',
            "Cache-Control": "no-store",
        },
    )


def _following(engine: Engine, person: int) -> list[str]:
    with Session(engine) as session:
        return reports.following_list(session, person)


@routes.get(uploads.SIGNIN_PATH + "{token}")
async def _signin_page(request: web.Request) -> web.Response:
    """Nothing starts from a GET (a forwarded link, a preview): back to the link's page,
    which says whose it is."""
    raise web.HTTPSeeOther(uploads.UPLOAD_PATH + request.match_info["token"])


@routes.post(uploads.SIGNIN_PATH + "{token}")
async def _signin(request: web.Request) -> web.Response:
    """Start "Sign in with X" for the person the link is for, from the form of the link's
    own page in this browser: then on to X, with the flow remembered in a sealed cookie."""
    if X_SIGNIN not in request.app:
        raise web.HTTPNotFound
    token, signin = request.match_info["token"], request.app[X_SIGNIN]
    form = await request.post()
    if not X_PAGE.check(request, token, form.get(page_proof.FIELD)):
        return _page(request, [TEXTS[language_of(request)]["signin_not_from_page"]], 403)
    nonce = request.cookies[x_signin.PAGE_COOKIE]
    try:
        person_id = await asyncio.to_thread(uploads.check, request.app[ENGINE], token, used_ok=True)
    except uploads.UploadLinkError as e:
        return _page(request, [str(e)], status=410)
    started = signin.start(person_id, token, nonce)
    response = onward(request, started.url, "X")
    response.set_cookie(
        x_signin.COOKIE,
        started.cookie,
        max_age=x_signin.FLOW_TTL_SEC,
        path=x_signin.CALLBACK_PATH,
        secure=(request.app[SETTINGS].public_url or "").startswith("https:"),
        httponly=True,
        samesite="Lax",  # sent on X's redirect back (a top-level navigation), not otherwise
    )
    return response


@routes.get(x_signin.CALLBACK_PATH)
async def _signin_callback(request: web.Request) -> web.Response:
    """X sends the person back: who they are on X, from X itself, for the person of the link
    the flow started from (still theirs), in the browser that started it."""
    if X_SIGNIN not in request.app:
        raise web.HTTPNotFound
    signin, query, engine = request.app[X_SIGNIN], request.query, request.app[ENGINE]
    texts = TEXTS[language_of(request)]
    try:
        if "error" in query:
            said = query["error"] if query["error"] in x_signin.OAUTH_ERRORS else "an error"
            raise x_signin.XSignInError(f"X says: {said}")
        flow = signin.flow_of(
            request.cookies.get(x_signin.COOKIE),
            query.get("state", ""),
            request.cookies.get(x_signin.PAGE_COOKIE),
        )
        try:
            still = await asyncio.to_thread(uploads.check, engine, flow.link, used_ok=True)
        except uploads.UploadLinkError as e:
            raise x_signin.XSignInError(str(e)) from None
        if still != flow.person_id:
            raise x_signin.XSignInError("this link is no longer the one you started from")
        account = await signin.account(query.get("code", ""), flow.verifier)
    except x_signin.XSignInError as e:
        response = _page(request, [f"X : {e}"], status=400)
    else:
        moved = await asyncio.to_thread(_verified, request.app, flow.person_id, account)
        owner = await asyncio.to_thread(_owner, engine, flow.person_id)
        names = ", ".join(f"{handle} ({network})" for network, handle in owner)
        if moved:
            lines = [f"X ✓ @{account.username}", texts["signin_done"].format(owner=names)]
            response = _page(request, lines)
        else:
            lines = [f"X ✓ @{account.username}", texts["signin_disputed"]]
            response = _page(request, lines, status=409)
    response.del_cookie(x_signin.COOKIE, path=x_signin.CALLBACK_PATH)
    return response


def _verified(app: web.Application, person_id: int, account: x_signin.XAccount) -> bool:
    """Record what X said, tell whoever loses the account (or, held verified by another,
    both of them: it is disputed now), rewrite attestations, at once; whether the account
    is the person's now."""
    settings, env = app[SETTINGS], app[SERVICE].environment()
    with Session(app[ENGINE]) as session, session.begin():
        done = xtrust.verify(session, person_id, account.id, account.username)
        notices.queue(session, done.notices, settings.message_networks)
        theirs = not xtrust.verified_elsewhere(done, person_id)
    trigger = f"x-verified:{account.id}:{env.now.isoformat()}"
    app[SERVICE].reattest([person_id, *(n.person_id for n in done.notices)], trigger)
    return theirs


@routes.post(uploads.UPLOAD_PATH + "{token}")
async def _upload(request: web.Request) -> web.Response:
    """The archive, streamed into its own folder (of the folder the work processes share)
    within the size and pace bounds, and queued for a work process to read: off to its page,
    which shows what it holds once read. The link is only used once its person confirms."""
    engine, settings, imports = request.app[ENGINE], request.app[SETTINGS], request.app[IMPORTS]
    token = request.match_info["token"]
    try:
        person_id = await asyncio.to_thread(uploads.check, engine, token)
        key, folder = await asyncio.to_thread(imports.queue.open, token, person_id)
    except uploads.UploadLinkError as e:
        return _page(request, [str(e)], status=410)
    except QueueFullError as e:
        response = _page(request, [f"Archive refusée / refused: {e}"], status=503)
        response.headers["Retry-After"] = "300"
        return response
    try:
        await receive_file(request, folder / "archive.zip", settings.upload_limits)
    except BaseException as e:  # nothing of a refused or broken-off upload is kept
        await on_thread_to_the_end(functools.partial(imports.queue.abandon, key))
        if isinstance(e, HqxError):
            return _page(request, [f"Archive refusée / refused: {e}"], status=status_of(e))
        if isinstance(e, FileNotFoundError):  # a newer upload through the link replaced it
            return _page(request, [TEXTS[language_of(request)]["upload_gone"]], status=410)
        raise
    try:
        await asyncio.to_thread(imports.queue.received, key)
    except UploadGoneError:
        return _page(request, [TEXTS[language_of(request)]["upload_gone"]], status=410)
    imports.wake()
    raise web.HTTPSeeOther(_archive_page(request, token, key))


def _archive_page(request: web.Request, token: str, key: str) -> str:
    # Where the page said which language to speak, the next one speaks it too.
    lang = f"?lang={request.query['lang']}" if request.query.get("lang") in LANGUAGES else ""
    return f"{uploads.UPLOAD_PATH}{token}/archive/{key}{lang}"


@routes.get(uploads.UPLOAD_PATH + "{token}/archive/{key}")
async def _archive(request: web.Request) -> web.Response:
    """Where the uploaded archive is: being read or imported (the page looks again every
    few seconds), what it holds with the buttons to import it or not, imported, or why it
    was refused."""
    token, key = request.match_info["token"], request.match_info["key"]
    found = await asyncio.to_thread(request.app[IMPORTS].queue.find, token, key)
    texts = TEXTS[language_of(request)]
    if found is None:
        return _page(request, [texts["upload_gone"]], status=410)
    if found.state in (UploadState.RECEIVING, UploadState.READING, UploadState.IMPORTING):
        reading = found.state != UploadState.IMPORTING
        line = texts["upload_reading" if reading else "upload_importing"]
        return aiohttp_jinja2.render_template(
            "upload_wait.html", request, context(request, line=line, again=WAIT_REFRESH_SEC)
        )
    if found.state == UploadState.WAITING:
        return aiohttp_jinja2.render_template(
            "upload_check.html", request, context(request, summary=found)
        )
    if found.state == UploadState.REFUSED:
        return _page(request, [found.error or ""], status=found.error_status or 400)
    lines = [
        f"Archive importée / imported: @{found.username}",
        f"{found.followers or 0:,} abonnés / followers, "
        f"{found.following or 0:,} abonnements / following.",
    ]
    return _page(request, lines, signin=_offer(request, token))


@routes.post(uploads.UPLOAD_PATH + "{token}/archive/{key}")
async def _confirm(request: web.Request) -> web.Response:
    """Queue the archive that waits for its import (its person confirmed what it holds),
    or drop it. The link is used from here; a work process gives it back if the import
    fails for the archive's sake (not when it is refused for whose it is)."""
    engine, imports = request.app[ENGINE], request.app[IMPORTS]
    token, key = request.match_info["token"], request.match_info["key"]
    form = await request.post()
    texts = TEXTS[language_of(request)]
    if form.get("action") != "import":
        dropped = await asyncio.to_thread(imports.queue.drop, token, key)
        return _page(request, [texts["upload_dropped" if dropped else "upload_gone"]],
                     status=200 if dropped else 410)  # fmt: skip
    if await asyncio.to_thread(imports.queue.find, token, key) is None:
        return _page(request, [texts["upload_gone"]], status=410)
    try:
        await asyncio.to_thread(uploads.claim, engine, token)
    except uploads.UploadLinkError as e:
        return _page(request, [str(e)], status=410)
    if not await asyncio.to_thread(imports.queue.confirm, token, key):
        await asyncio.to_thread(uploads.release, engine, uploads.hashed(token))
        return _page(request, [texts["upload_gone"]], status=410)
    imports.wake()
    raise web.HTTPSeeOther(_archive_page(request, token, key))
