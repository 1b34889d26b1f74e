"""OAuth 2.0 of the Mastodon-API test server, as Mastodon documents and serves it (app
registration shaped like the recorded ``POST /api/v1/apps``; the token like the recorded
``POST /oauth/token``): apps registered with their redirect URIs and scopes; the
authorization code, bound to its client, redirect URI, scopes and PKCE challenge (S256),
single use; tokens that carry their scopes; revocation.

A browser session stands in for the server's sign-in page: :meth:`OAuthServer.sign_in`
says who is signed in, and ``/oauth/authorize`` then approves at once (as a person
pressing "Authorize" would), or answers 401 when nobody is.

Every endpoint the service's grants use asks the scope real servers ask (any one of them):
``verify_credentials`` ``read:accounts`` (or ``profile``), search ``read:search``, a lookup
with a token ``read:accounts``, a follow ``write:follows``; ``read`` and ``write`` include
theirs. Sources: Mastodon's ``Api::V1::Accounts::CredentialsController``,
``Api::V2::SearchController``, ``Api::V1::AccountsController``; GoToSocial's
``internal/api/client/accounts/accountverify.go``, ``lookup.go``, ``follow.go`` and
``internal/api/client/search/searchget.go`` (the same scopes on both).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from testworld.mastodon.server import Account

# Mastodon's scopes, and what the broad ones include (docs: "OAuth scopes").
_INCLUDES = {
    "read": {"read:follows", "read:accounts", "read:search"},
    "write": {"write:follows"},
}
_INCLUDES["follow"] = {"read:follows", "write:follows"}
VAPID_KEY = (
    "BJGht7R8h9FMwI4oZFyjwGx9_RmR0ylu5_XEVifgiVXM7h8XNEf8zbi4kc_52DVHv_TBinj7TY_Ahl_A6NmkEuI="
)


def _error(status: type[web.HTTPException], error: str, description: str) -> web.HTTPException:
    body = f'{{"error":"{error}","error_description":"{description}"}}'
    return status(text=body, content_type="application/json")


@dataclass
class App:
    id: str
    name: str
    website: str | None
    redirect_uris: list[str]
    scopes: list[str]
    client_id: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))


@dataclass
class Grant:
    account: Account
    scopes: set[str]
    client_id: str


@dataclass
class _Code:
    grant: Grant
    redirect_uri: str
    challenge: str | None


class OAuthServer:
    """The OAuth state of one test server: its apps, codes and tokens."""

    def __init__(self, form: Callable[[web.Request], Awaitable[dict[str, Any]]]) -> None:
        self._form = form
        self.apps: dict[str, App] = {}
        self.tokens: dict[str, Grant] = {}
        self._codes: dict[str, _Code] = {}
        self.signed_in: Account | None = None
        self.authorized = 0
        """How many times a person pressed "Authorize"."""

    def sign_in(self, account: Account | None) -> None:
        """Who the browser session is signed in as (``None``: nobody)."""
        self.signed_in = account

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/v1/apps", self._register),
            web.get("/oauth/authorize", self._authorize),
            web.post("/oauth/token", self._token),
            web.post("/oauth/revoke", self._revoke),
        ]

    def allows(self, token: str, *scopes: str) -> bool | None:
        """Whether an OAuth token carries one of ``scopes`` (``None``: not one of these
        tokens)."""
        grant = self.tokens.get(token)
        if grant is None:
            return None
        return any(
            scope == s or scope in _INCLUDES.get(s, ()) for s in grant.scopes for scope in scopes
        )

    async def _register(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        uris = form.get("redirect_uris", "")
        redirect_uris = uris if isinstance(uris, list) else str(uris).split()
        if not form.get("client_name") or not redirect_uris:
            raise _error(web.HTTPUnprocessableEntity, "Validation failed", "name and redirect")
        scopes = str(form.get("scopes", "read")).split()
        app = App(str(len(self.apps) + 1), str(form["client_name"]), form.get("website"),
                  redirect_uris, scopes)  # fmt: skip
        self.apps[app.client_id] = app
        return web.json_response(
            {
                "id": app.id,
                "name": app.name,
                "website": app.website,
                "scopes": app.scopes,
                "redirect_uris": app.redirect_uris,
                "vapid_key": VAPID_KEY,
                "redirect_uri": "\n".join(app.redirect_uris),
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "client_secret_expires_at": 0,
            }
        )

    async def _authorize(self, request: web.Request) -> web.Response:
        query = request.query
        app = self.apps.get(query.get("client_id", ""))
        if app is None or query.get("response_type") != "code":
            raise _error(web.HTTPBadRequest, "invalid_client", "unknown client")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in app.redirect_uris:
            raise _error(web.HTTPBadRequest, "invalid_redirect_uri", "not registered")
        scopes = set(query.get("scope", "read").split())
        if not scopes <= set(app.scopes):
            raise _error(web.HTTPBadRequest, "invalid_scope", "not the app's")
        method = query.get("code_challenge_method")
        if "code_challenge" in query and method != "S256":
            raise _error(web.HTTPBadRequest, "invalid_request", "only S256")
        if self.signed_in is None:
            raise web.HTTPUnauthorized(text="sign in to authorize", content_type="text/html")
        self.authorized += 1
        code = secrets.token_urlsafe(32)
        grant = Grant(self.signed_in, scopes, app.client_id)
        self._codes[code] = _Code(grant, redirect_uri, query.get("code_challenge"))
        answer = {"code": code} | ({"state": query["state"]} if "state" in query else {})
        raise web.HTTPFound(f"{redirect_uri}?{urlencode(answer)}")

    async def _token(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        app = self.apps.get(str(form.get("client_id", "")))
        if app is None or form.get("client_secret") != app.client_secret:
            raise _error(web.HTTPUnauthorized, "invalid_client", "client authentication failed")
        if form.get("grant_type") != "authorization_code":
            raise _error(web.HTTPBadRequest, "unsupported_grant_type", "codes only here")
        code = self._codes.pop(str(form.get("code", "")), None)  # single use
        if code is None or code.grant.client_id != app.client_id:
            raise _error(web.HTTPBadRequest, "invalid_grant", "unknown or used code")
        if form.get("redirect_uri") != code.redirect_uri:
            raise _error(web.HTTPBadRequest, "invalid_grant", "another redirect URI")
        if (
            code.challenge is not None
            and _s256(str(form.get("code_verifier", ""))) != code.challenge
        ):
            raise _error(web.HTTPBadRequest, "invalid_grant", "the PKCE verifier does not match")
        token = secrets.token_urlsafe(32)
        self.tokens[token] = code.grant
        return web.json_response(
            {
                "access_token": token,
                "token_type": "Bearer",
                "scope": " ".join(sorted(code.grant.scopes)),
                "created_at": int(datetime.now(UTC).timestamp()),
            }
        )

    async def _revoke(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        app = self.apps.get(str(form.get("client_id", "")))
        if app is None or form.get("client_secret") != app.client_secret:
            raise _error(web.HTTPForbidden, "unauthorized_client", "not this token's client")
        grant = self.tokens.get(str(form.get("token", "")))
        if grant is not None and grant.client_id == app.client_id:
            del self.tokens[str(form["token"])]
        return web.json_response({})

    def account_of(self, token: str) -> Account | None:
        grant = self.tokens.get(token)
        return None if grant is None else grant.account


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
