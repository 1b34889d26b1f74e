"""Follows on a person's behalf, Bluesky: from their space, AT Protocol OAuth on their own
PDS's authorization server (:mod:`bsky_service.oauth`: PAR, PKCE, DPoP), or an app password
they choose instead. Either way the grant must act as the account linked here, is sealed at
rest, revocable from the same page (their server is told), and connecting grants the consent
``follows_on_behalf``. The service's client metadata document is served here too.

The flow (state, PKCE verifier, DPoP key, the server's nonce) travels in a sealed cookie
bound to the session's person.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web
from sqlmodel import Session

from bsky_service import acting, oauth
from bsky_service.identity import IdentityError
from hqx.state import DIDS, ENGINE, OUTBOUND, SERVICE, SETTINGS
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
from shared.bot import privacy
from shared.db.models import Person
from shared.reconnection import grants
from shared.vocabulary import Network, Purpose

log = logging.getLogger(__name__)


class NotTheirsError(oauth.OAuthError):
    """The grant acts as another account than the one linked here (a sentence of ours)."""


APP_PASSWORD_SCOPE = "app-password"  # noqa: S105  (what a grant records, no secret)
FLOW = Flow("hqx_bsky_flow", "bluesky-follow-flow", oauth.CALLBACK_PATH)
routes = web.RouteTableDef()


@routes.get(oauth.METADATA_PATH)
async def _client_metadata(request: web.Request) -> web.Response:
    """What authorization servers read of the service, as a client (its id is this address)."""
    public_url = request.app[SETTINGS].public_url
    if public_url is None:
        raise web.HTTPNotFound
    return web.json_response(
        oauth.client_metadata(public_url, request.app[SETTINGS].secret_key),
        headers={"Cache-Control": "max-age=3600"},
    )


def _client(request: web.Request) -> oauth.Client:
    settings = request.app[SETTINGS]
    return oauth.client_for(settings.public_url or "", settings.secret_key)


@routes.post("/me/follows/bluesky")
async def _connect(request: web.Request) -> web.StreamResponse:
    """Ask the person's authorization server for a grant (PAR), then on to it."""
    visit = await visit_of(request)
    await form_of(request, visit)
    account = await asyncio.to_thread(
        linked_account, request.app[ENGINE], visit.person, Network.BLUESKY
    )
    if account is None:
        return message(request, "no Bluesky account is linked to you here", 400)
    http = request.app[OUTBOUND]
    try:
        pds = await request.app[DIDS].pds(account.subject)
        server = await oauth.discover(http, pds)
        started = await oauth.start(http, _client(request), server, account.handle)
    except (oauth.OAuthError, IdentityError) as e:
        log.warning("starting a Bluesky grant for %s: %s", account.subject, e)
        return unreachable(request)
    response = onward(request, started.url, server.issuer)
    FLOW.keep(request, response, visit, pds=pds, state=started.state,
              verifier=started.verifier, issuer=started.issuer, dpop=started.dpop,
              nonces=started.nonces)  # fmt: skip
    return response


@routes.get(oauth.CALLBACK_PATH)
async def _callback(request: web.Request) -> web.StreamResponse:
    """Back from the authorization server: the code traded for tokens bound to our key."""
    visit = await visit_of(request)
    flow = FLOW.opened(request, visit)
    query = request.query
    if flow is None:
        return message(request, "this authorization is not the one started here: start again", 400)
    if query.get("iss", flow["issuer"]) != flow["issuer"]:
        return message(request, "the answer comes from another server than the one asked", 400)
    if "code" not in query:
        return message(request, "the server gave no authorization (declined?)", 400)
    try:
        await _grant(request, visit.person, flow, query["code"])
    except NotTheirsError as e:
        return message(request, str(e), 400)
    except oauth.OAuthError as e:
        log.warning("finishing a Bluesky grant at %s: %s", flow["issuer"], e)
        return unreachable(request)
    return FLOW.done(flow)


async def _grant(request: web.Request, person_id: int, flow: dict[str, Any], code: str) -> None:
    started = oauth.Started("", flow["state"], flow["verifier"], flow["issuer"], flow["dpop"],
                            flow["nonces"])  # fmt: skip
    http = request.app[OUTBOUND]
    server = await oauth.discover(http, flow["pds"])
    if server.issuer != flow["issuer"]:
        raise oauth.OAuthError("the PDS changed authorization servers: start again")
    grant = await oauth.finish(http, _client(request), server, started, code, flow["pds"])
    account = await asyncio.to_thread(
        linked_account, request.app[ENGINE], person_id, Network.BLUESKY
    )
    if account is None or grant.did != account.subject:
        try:
            await oauth.revoke(http, grant, _client(request).key)
        except oauth.OAuthError as e:  # it is not kept here whatever its server says
            log.warning("revoking a grant for another account at %s: %s", grant.issuer, e)
        raise NotTheirsError("that is not the Bluesky account linked here: sign in as it")
    await asyncio.to_thread(_keep, request, person_id, grant, oauth.SCOPE)


@routes.post("/me/follows/bluesky/password")
async def _app_password(request: web.Request) -> web.StreamResponse:
    """The fallback the person chose: a session opened with an app password of theirs."""
    visit = await visit_of(request)
    form = await form_of(request, visit)
    password = str(form.get("app_password", "")).strip()
    if not 0 < len(password) <= 100:
        return message(request, "an app password is 1 to 100 characters", 400)
    account = await asyncio.to_thread(
        linked_account, request.app[ENGINE], visit.person, Network.BLUESKY
    )
    if account is None:
        return message(request, "no Bluesky account is linked to you here", 400)
    http = request.app[OUTBOUND]
    try:
        pds = await request.app[DIDS].pds(account.subject)
        grant = await acting.sign_in(http, pds, account.subject, password)
        if acting.full_access(grant):
            with contextlib.suppress(oauth.OAuthError):  # never kept here, whatever it says
                await acting.end(http, grant)
            return message(request, "that is the account password, not an app password: "
                           "create an app password and use it here", 400)  # fmt: skip
    except acting.RefusedPasswordError as e:
        return message(request, str(e), 400)
    except (oauth.OAuthError, acting.ActingError, IdentityError) as e:
        log.warning("opening a Bluesky session for %s: %s", account.subject, e)
        return unreachable(request)
    await asyncio.to_thread(_keep, request, visit.person, grant, APP_PASSWORD_SCOPE)
    return redirect(request, "/me?saved=1")


def _keep(request: web.Request, person_id: int, grant: oauth.Grant, scope: str) -> None:
    """Keep the grant, sealed, and the consent it expresses."""
    key = request.app[SETTINGS].require_secret_key()
    environment = request.app[SERVICE].environment()
    with Session(request.app[ENGINE]) as session, session.begin():
        grants.grant(
            session, key, person_id=person_id, network=Network.BLUESKY,
            acting_as=grants.Token(grant.pds, grant.dumps(), grant.did), scope=scope,
        )  # fmt: skip
        person = session.get_one(Person, person_id)
        privacy.set_consent(session, person, Purpose.FOLLOWS_ON_BEHALF, True,
                            trigger=f"grant:{person_id}", env=environment)  # fmt: skip
