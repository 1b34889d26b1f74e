"""The portal's pages: home; the one-time archive upload (streamed into the imports' folder
within the size and pace bounds, then imported in its turn for the person the link was given
to); and "Sign in with X" from the same link."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import aiohttp_jinja2
from aiohttp import BodyPartReader, web
from sqlmodel import Session

from hqx import x_signin
from hqx.state import ENGINE, IMPORTS, SERVICE, SETTINGS, X_SIGNIN
from hqx.web import page_proof
from hqx.web.imports import StagingFullError
from hqx.web.page_proof import PageProof, Proof
from hqx.web.space import onward
from hqx.web.texts import LANGUAGES, TEXTS, context, language_of
from shared.archive_import import import_archive
from shared.bot import notices
from shared.db.models import Identity
from shared.errors import HqxError
from shared.identity import attestation, xtrust
from shared.portal import uploads
from shared.reconnection import reports, suggestions
from shared.xarchive.reader import summarize_archive

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable
    from pathlib import Path

    from sqlalchemy.engine import Engine

    from shared.config import UploadLimits

T = TypeVar("T")

UPLOAD_CHUNK_BYTES = 1024 * 1024
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


@routes.get("/")
async def _home(request: web.Request) -> web.Response:
    bots = [(a.network.value.capitalize(), a.bot_handle) for a in request.app[SERVICE].adapters]
    return aiohttp_jinja2.render_template("home.html", request, context(request, bots=bots))


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
    _reattest(app, [person_id, *(n.person_id for n in done.notices)], trigger)
    return theirs


def _reattest(app: web.Application, person_ids: list[int], trigger: str) -> None:
    """Rewrite (or withdraw) the attestations of people whose X accounts changed standing."""
    service = app[SERVICE]
    env = service.environment()
    with Session(app[ENGINE]) as session, session.begin():
        service.queue(session, attestation.after_x_change(session, person_ids,
                                                          trigger=trigger, env=env))  # fmt: skip
    service.wake_delivery()


@routes.post(uploads.UPLOAD_PATH + "{token}")
async def _upload(request: web.Request) -> web.Response:
    """The archive, streamed to the imports' folder within the size and pace bounds, read
    (in its turn) and kept for its person to confirm: off to the page showing what it holds.
    The link is only used once they confirm; a refused archive leaves it as it was."""
    engine, settings, imports = request.app[ENGINE], request.app[SETTINGS], request.app[IMPORTS]
    token = request.match_info["token"]
    try:
        person_id = await asyncio.to_thread(uploads.check, engine, token)
    except uploads.UploadLinkError as e:
        return _page(request, [str(e)], status=410)
    with imports.workspace() as folder:
        try:
            await _receive_file(request, folder / "archive.zip", settings.upload_limits)
            summary = await imports.run(
                summarize_archive, folder / "archive.zip", imports.archive_limits, spill_dir=folder
            )
            key = imports.stage(token, person_id, folder, summary)
        except StagingFullError as e:
            response = _page(request, [f"Archive refusée / refused: {e}"], status=503)
            response.headers["Retry-After"] = "300"
            return response
        except (HqxError, ValueError) as e:
            return _page(request, [f"Archive refusée / refused: {e}"], status=_status(e))
    # Where the page said which language to speak, the next one speaks it too.
    lang = f"?lang={request.query['lang']}" if request.query.get("lang") in LANGUAGES else ""
    raise web.HTTPSeeOther(f"{uploads.UPLOAD_PATH}{token}/archive/{key}{lang}")


@routes.get(uploads.UPLOAD_PATH + "{token}/archive/{key}")
async def _waiting(request: web.Request) -> web.Response:
    """What the uploaded archive holds, and the buttons to import it or not."""
    token, key = request.match_info["token"], request.match_info["key"]
    staged = request.app[IMPORTS].waiting(token, key)
    if staged is None:
        return _page(request, [TEXTS[language_of(request)]["upload_gone"]], status=410)
    return aiohttp_jinja2.render_template(
        "upload_check.html", request, context(request, summary=staged.summary)
    )


@routes.post(uploads.UPLOAD_PATH + "{token}/archive/{key}")
async def _confirm(request: web.Request) -> web.Response:
    """Import the archive that waits (its person confirmed what it holds), or drop it. An
    archive refused for whose it is uses the link up; one refused otherwise gives it back."""
    engine, settings, imports = request.app[ENGINE], request.app[SETTINGS], request.app[IMPORTS]
    token, key = request.match_info["token"], request.match_info["key"]
    form = await request.post()
    texts = TEXTS[language_of(request)]
    with imports.taken(token, key) as staged:
        if staged is None:
            return _page(request, [texts["upload_gone"]], status=410)
        if form.get("action") != "import":
            return _page(request, [texts["upload_dropped"]])
        try:
            person_id = await asyncio.to_thread(uploads.claim, engine, token)
        except uploads.UploadLinkError as e:
            return _page(request, [str(e)], status=410)
        try:
            result = await imports.run(
                import_archive,
                engine,
                staged.path,
                imports.archive_limits,
                for_person=person_id,
                notify_on=settings.message_networks,
                spill_dir=staged.folder,
            )
        except (xtrust.ClaimRefusedError, xtrust.ClaimDisputedError) as e:
            # The link stays used: one link must not probe who holds which X account.
            if isinstance(e, xtrust.ClaimDisputedError):  # the holder's attestation drops it
                for notice in e.notices:
                    trigger = f"disputed:{notice.event}"
                    await asyncio.to_thread(_reattest, request.app, [notice.person_id], trigger)
            return _page(request, [f"Archive refusée / refused: {e}"], status=409)
        except (HqxError, ValueError) as e:
            await asyncio.to_thread(uploads.release, engine, token)
            return _page(request, [f"Archive refusée / refused: {e}"], status=_status(e))
    summary = result.summary
    signin = _offer(request, token)
    return _page(
        request,
        [
            f"Archive importée / imported: @{summary.username}",
            f"{summary.followers:,} abonnés / followers, "
            f"{summary.following:,} abonnements / following.",
        ],
        signin=signin,
    )


class UploadTooLargeError(HqxError):
    """The upload is larger than the service takes."""


class UploadTooSlowError(HqxError):
    """The upload stalled, or came too slowly to be anything but an attack."""


def _status(error: Exception) -> int:
    if isinstance(error, UploadTooLargeError):
        return 413
    return 408 if isinstance(error, UploadTooSlowError) else 400


async def _receive_file(request: web.Request, path: Path, limits: UploadLimits) -> None:
    """Write the uploaded file (a multipart ``archive`` field, or the raw body) to ``path``,
    refusing it as soon as it passes the size bound, stalls for the read timeout, or comes
    slower than the minimum rate (once it has had the read timeout to get going)."""
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def within(step: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(limits.read_timeout_sec):  # cancellable, unlike wait_for
                return await step
        except TimeoutError:
            raise UploadTooSlowError(
                f"nothing came for {limits.read_timeout_sec:g} s: the upload stalled"
            ) from None

    chunks: AsyncIterator[bytes]
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        part = await within(reader.next())
        while part is not None and getattr(part, "name", None) != "archive":
            part = await within(reader.next())
        if part is None or not isinstance(part, BodyPartReader):
            raise HqxError("the form holds no 'archive' file")
        chunks = _part_chunks(part)
    else:
        chunks = request.content.iter_chunked(UPLOAD_CHUNK_BYTES)
    written = 0
    with path.open("wb") as out:
        while (chunk := await within(anext(chunks, b""))) != b"":
            written += len(chunk)
            if written > limits.max_bytes:
                raise UploadTooLargeError(
                    f"the file is larger than {limits.max_bytes:,} bytes: send a zip of only "
                    "data/account.js and the data/follower*.js and data/following*.js files"
                )
            elapsed = loop.time() - started
            if elapsed > limits.read_timeout_sec and written < limits.min_bytes_per_sec * elapsed:
                raise UploadTooSlowError(
                    f"the upload came at {written / elapsed:,.0f} bytes/s, under the "
                    f"{limits.min_bytes_per_sec:,} bytes/s the service waits for"
                )
            await asyncio.to_thread(out.write, chunk)
    if written == 0:
        raise HqxError("the upload is empty")


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(UPLOAD_CHUNK_BYTES):
        yield chunk
