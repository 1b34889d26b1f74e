"""Follows on a person's behalf, Mastodon: from their space, OAuth 2.0's authorization code
with PKCE (S256) on their own server, the service's app registered there the first time
someone of that server connects (``POST /api/v1/apps``, kept), the smallest scopes
(:data:`shared.grants.MASTODON_SCOPES`). The token must act as the account linked here
(``verify_credentials``), is sealed at rest, and revocable from the same page (the server
is told). Connecting is asking: the consent ``follows_on_behalf`` is granted with it.

The flow's state and verifier travel in a sealed cookie bound to the session's person.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from aiohttp import web
from sqlmodel import Session

from hqx.state import ENGINE, SERVICE, SETTINGS
from hqx.web import bluesky_follows
from hqx.web.flows import Flow
from hqx.web.space import form_of, linked_account, message, onward, redirect, visit_of
from shared import grants, privacy
from shared.db.models import Identity, Network, Person, Purpose
from shared.errors import HqxError

log = logging.getLogger(__name__)

CALLBACK = "/me/follows/mastodon/callback"
ANSWER_MAX_BYTES = 64 * 1024
TIMEOUT = aiohttp.ClientTimeout(total=15)
FLOW = Flow("hqx_follow_flow", "mastodon-follow-flow", CALLBACK)
routes = web.RouteTableDef()


class ConnectError(HqxError):
    """The person's server refused or answered what a Mastodon server would not."""


def origin(subject: str) -> str:
    """The server of a Mastodon account, from its ActivityPub id."""
    parts = urlsplit(subject)
    return f"{parts.scheme}://{parts.netloc}"


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def _call(method: str, url: str, **kwargs: Any) -> Any:
    """One request to a person's server; its JSON answer, read within bounds."""
    try:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as http,
            http.request(method, url, **kwargs) as response,
        ):
            body = await response.content.read(ANSWER_MAX_BYTES + 1)
            if len(body) > ANSWER_MAX_BYTES:
                raise ConnectError(f"{url} answered more than {ANSWER_MAX_BYTES} bytes")
            if response.status >= 400:
                raise ConnectError(f"{url} answered {response.status}: {body[:200]!r}")
            return json.loads(body or b"{}")
    except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as e:
        raise ConnectError(f"{url} could not be reached or read: {e}") from e


async def _client(request: web.Request, server: str) -> grants.Client:
    """The service's app on ``server``: kept, or registered now."""
    settings = request.app[SETTINGS]
    key = settings.require_secret_key()
    engine = request.app[ENGINE]

    def kept() -> grants.Client | None:
        with Session(engine) as session:
            return grants.client(session, key, server)

    found = await asyncio.to_thread(kept)
    if found is not None:
        return found
    redirect_uri = f"{(settings.public_url or '').rstrip('/')}{CALLBACK}"
    app = await _call(
        "POST",
        f"{server}/api/v1/apps",
        data={
            "client_name": "HelloQuitteX",
            "redirect_uris": redirect_uri,
            "scopes": grants.MASTODON_SCOPES,
            "website": settings.public_url or "",
        },
    )
    if not isinstance(app, dict) or "client_id" not in app or "client_secret" not in app:
        raise ConnectError(f"{server} registered no app: is it a Mastodon-API server?")
    found = grants.Client(server, str(app["client_id"]), str(app["client_secret"]), redirect_uri)

    def keep() -> None:
        with Session(engine) as session, session.begin():
            grants.keep_client(session, key, found)

    await asyncio.to_thread(keep)
    return found


@routes.post("/me/follows/mastodon")
async def _connect(request: web.Request) -> web.StreamResponse:
    visit = await visit_of(request)
    await form_of(request, visit)
    account = await asyncio.to_thread(
        linked_account, request.app[ENGINE], visit.person, Network.MASTODON
    )
    if account is None:
        return message(request, "no Mastodon account is linked to you here", 400)
    server = origin(account.subject)
    try:
        client = await _client(request, server)
    except ConnectError as e:
        return message(request, str(e), 502)
    verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(24)
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "scope": grants.MASTODON_SCOPES,
        "state": state,
        "code_challenge": _s256(verifier),
        "code_challenge_method": "S256",
    }
    response = onward(request, f"{server}/oauth/authorize?{urlencode(query)}", server)
    FLOW.keep(request, response, visit, state=state, verifier=verifier, server=server)
    return response


@routes.get(CALLBACK)
async def _callback(request: web.Request) -> web.StreamResponse:
    visit = await visit_of(request)
    flow = FLOW.opened(request, visit)
    if flow is None:
        return message(request, "this authorization is not the one started here: start again", 400)
    if "code" not in request.query:
        return message(request, "the server gave no authorization (declined?)", 400)
    try:
        await _grant(request, visit.person, flow, request.query["code"])
    except ConnectError as e:
        return message(request, str(e), 502)
    return FLOW.done(flow)


async def _grant(request: web.Request, person_id: int, flow: dict[str, Any], code: str) -> None:
    """Trade the code for a token, check whose it is, keep it; grant the consent."""
    engine, server = request.app[ENGINE], str(flow["server"])
    environment = request.app[SERVICE].environment()
    key = request.app[SETTINGS].require_secret_key()
    client = await _client(request, server)
    token = await _call(
        "POST",
        f"{server}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "redirect_uri": client.redirect_uri,
            "code_verifier": flow["verifier"],
            "scope": grants.MASTODON_SCOPES,
        },
    )
    access = token.get("access_token") if isinstance(token, dict) else None
    if not isinstance(access, str):
        raise ConnectError(f"{server} gave no access token")
    me = await _call(
        "GET",
        f"{server}/api/v1/accounts/verify_credentials",
        headers={"Authorization": f"Bearer {access}"},
    )
    account = await asyncio.to_thread(linked_account, engine, person_id, Network.MASTODON)
    if account is None or not _same(me, account, server):
        await _tell_revoked(client, access)
        raise ConnectError("that is not the Mastodon account linked here: sign in as it")

    def keep() -> None:
        with Session(engine) as session, session.begin():
            grants.grant(
                session, key, person_id=person_id, network=Network.MASTODON.value,
                acting_as=grants.Token(server, access, account.subject),
                scope=str(token.get("scope", grants.MASTODON_SCOPES)),
            )  # fmt: skip
            person = session.get_one(Person, person_id)
            privacy.set_consent(session, person, Purpose.FOLLOWS_ON_BEHALF, True,
                                trigger=f"grant:{person_id}", env=environment)  # fmt: skip

    await asyncio.to_thread(keep)


def _same(me: Any, account: Identity, server: str) -> bool:
    """Whether the token's account is the one linked here: its ActivityPub id when the
    server says it, else its username at this server."""
    if not isinstance(me, dict):
        return False
    if me.get("uri"):
        return bool(me["uri"] == account.subject)
    host = urlsplit(server).netloc
    return f"{me.get('username', '')}@{host}".casefold() == account.handle.casefold()


async def _tell_revoked(client: grants.Client, token: str) -> None:
    """Tell the server a token is no longer wanted (best effort: it is forgotten here
    whatever the answer)."""
    try:
        await _call(
            "POST",
            f"{client.server}/oauth/revoke",
            data={"client_id": client.client_id, "client_secret": client.client_secret,
                  "token": token},
        )  # fmt: skip
    except ConnectError as e:
        log.warning("revoking a token on %s: %s", client.server, e)


@routes.post(r"/me/follows/{grant:\d+}/revoke")
async def _revoke(request: web.Request) -> web.StreamResponse:
    visit = await visit_of(request)
    await form_of(request, visit)
    key = request.app[SETTINGS].require_secret_key()
    engine = request.app[ENGINE]

    def forget() -> tuple[grants.Token | None, grants.Client | None]:
        with Session(engine) as session, session.begin():
            token = grants.revoke(session, key, visit.person, int(request.match_info["grant"]))
            if token is None:
                return None, None
            return token, grants.client(session, key, token.server)

    token, client = await asyncio.to_thread(forget)
    if token is not None and token.network == Network.BLUESKY.value:
        await bluesky_follows.tell_revoked(token, key)
    elif token is not None and client is not None:
        await _tell_revoked(client, token.token)
    return redirect(request, "/me?saved=1")
