"""Follows on a person's behalf, Mastodon: from their space, OAuth 2.0's authorization code
with PKCE (S256) on their own server, the service's app registered there the first time
someone of that server connects (``POST /api/v1/apps``, kept), the smallest scopes
(:data:`shared.reconnection.grants.MASTODON_SCOPES`). The token must act as the account linked here
(``verify_credentials``), is sealed at rest, and revocable from the same page (the server
is told). Connecting is asking: the consent ``follows_on_behalf`` is granted with it.

The flow's state and verifier travel in a sealed cookie bound to the session's person; the
OAuth client itself is the adapter's (:mod:`mastodon_bot.oauth`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from aiohttp import web
from sqlmodel import Session

from hqx.state import ENGINE, OUTBOUND, SERVICE, SETTINGS
from hqx.web.flows import Flow
from hqx.web.space import (
    form_of,
    linked_account,
    message,
    onward,
    redirect,
    unreachable,
    visit_of,
)
from mastodon_bot import oauth as mastodon_oauth
from shared.bot import privacy
from shared.db.models import Person
from shared.outbound import Outbound, OutboundError
from shared.reconnection import grants
from shared.vocabulary import Network, Purpose

log = logging.getLogger(__name__)

CALLBACK = "/me/follows/mastodon/callback"
ANSWER_MAX_BYTES = 64 * 1024
FLOW = Flow("hqx_follow_flow", "mastodon-follow-flow", CALLBACK)
routes = web.RouteTableDef()


class NotTheirsError(mastodon_oauth.OAuthError):
    """The grant acts as another account than the one linked here (a sentence of ours)."""


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
    found = await mastodon_oauth.register(
        request.app[OUTBOUND], server, redirect_uri, settings.public_url or ""
    )

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
    server = mastodon_oauth.origin(account.subject)
    try:
        client = await _client(request, server)
    except mastodon_oauth.OAuthError as e:
        log.warning("connecting to %s for follows: %s", server, e)
        return unreachable(request)
    verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(24)
    url = mastodon_oauth.authorize_url(client, state, verifier)
    response = onward(request, url, server)
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
    except NotTheirsError as e:
        return message(request, str(e), 400)
    except mastodon_oauth.OAuthError as e:
        log.warning("finishing the grant on %s: %s", flow["server"], e)
        return unreachable(request)
    return FLOW.done(flow)


async def _grant(request: web.Request, person_id: int, flow: dict[str, Any], code: str) -> None:
    """Trade the code for a token, check whose it is, keep it; grant the consent."""
    engine, server = request.app[ENGINE], str(flow["server"])
    environment = request.app[SERVICE].environment()
    key = request.app[SETTINGS].require_secret_key()
    client = await _client(request, server)
    granted = await mastodon_oauth.trade(request.app[OUTBOUND], client, code, flow["verifier"])
    access = granted.access
    account = await asyncio.to_thread(linked_account, engine, person_id, Network.MASTODON)
    if account is None or not mastodon_oauth.acts_as(
        granted, account.subject, account.handle, server
    ):
        await _tell_revoked(request.app[OUTBOUND], client, access)
        raise NotTheirsError("that is not the Mastodon account linked here: sign in as it")

    def keep() -> None:
        with Session(engine) as session, session.begin():
            grants.grant(
                session, key, person_id=person_id, network=Network.MASTODON,
                acting_as=grants.Token(server, access, account.subject),
                scope=granted.scope,
            )  # fmt: skip
            person = session.get_one(Person, person_id)
            privacy.set_consent(session, person, Purpose.FOLLOWS_ON_BEHALF, True,
                                trigger=f"grant:{person_id}", env=environment)  # fmt: skip

    await asyncio.to_thread(keep)


async def _tell_revoked(http: Outbound, client: grants.Client, token: str) -> None:
    """Tell the server a token is no longer wanted (best effort: it is forgotten here
    whatever the answer)."""
    try:
        await mastodon_oauth.revoke(http, client, token)
    except OutboundError as e:
        log.warning("revoking a token on %s: %s", client.server, e)


@routes.post(r"/me/follows/{grant:\d+}/revoke")
async def _revoke(request: web.Request) -> web.StreamResponse:
    """Take a grant back: gone here at once, its server told now (or, when it cannot be
    reached, again later)."""
    visit = await visit_of(request)
    await form_of(request, visit)
    engine, service = request.app[ENGINE], request.app[SERVICE]

    def forget() -> bool:
        with Session(engine) as session, session.begin():
            return grants.revoke(session, visit.person, int(request.match_info["grant"]))

    if await asyncio.to_thread(forget):
        await service.tell_revocations()
    return redirect(request, "/me?saved=1")
