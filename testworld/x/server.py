"""X's "Sign in with X" endpoints, as X documents them, for tests and the sandbox.

OAuth 2.0 Authorization Code Flow with PKCE
(https://docs.x.com/fundamentals/authentication/oauth-2-0/user-access-token):

- ``GET /i/oauth2/authorize`` (on x.com): ``response_type=code``, ``client_id``,
  ``redirect_uri`` (exactly as registered with the app), ``scope`` (space-separated;
  ``GET /2/users/me`` needs ``tweet.read users.read``), ``state``, ``code_challenge`` and
  ``code_challenge_method`` (``S256`` or ``plain``). The person at the browser approves or
  declines; X redirects to ``redirect_uri`` with ``code`` and ``state``, or with
  ``error=access_denied``. A code is valid for 30 seconds, once.
- ``POST /2/oauth2/token`` (on api.x.com), form-encoded: ``grant_type=authorization_code``,
  ``code``, ``redirect_uri``, ``code_verifier``, and ``client_id`` for a public client; a
  confidential client authenticates with HTTP Basic (client id and secret). The answer:
  ``{"token_type": "bearer", "expires_in": 7200, "access_token": ..., "scope": ...}``.
- ``GET /2/users/me`` with ``Authorization: Bearer``: ``{"data": {"id", "name", "username"}}``
  (ids are strings of digits).
- ``POST /2/oauth2/revoke``: ``token``, ``token_type_hint``; answers ``{"revoked": true}``.

Here one server plays both hosts; who sits at the browser is :attr:`XDouble.at_browser`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from aiohttp import web

CODE_TTL_SEC = 30.0
TOKEN_TTL_SEC = 7200
NEEDED_SCOPES = {"tweet.read", "users.read"}


@dataclass(frozen=True, slots=True)
class XUser:
    """An account on X."""

    id: str
    username: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class XApp:
    """An app registered on X's developer console."""

    client_id: str
    redirect_uri: str
    client_secret: str | None = None
    """Set: a confidential client (HTTP Basic at the token endpoint)."""


@dataclass
class _Grant:
    user: XUser
    app: XApp
    redirect_uri: str
    challenge: str
    method: str
    scope: str
    issued: float = field(default_factory=time.monotonic)


@dataclass
class XDouble:
    """The state of the double: registered apps, who is signed in at the browser (``None``:
    they decline), the grants and tokens handed out."""

    apps: dict[str, XApp] = field(default_factory=dict)
    at_browser: XUser | None = None
    codes: dict[str, _Grant] = field(default_factory=dict)
    tokens: dict[str, XUser] = field(default_factory=dict)
    revoked: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        application = web.Application()
        application.router.add_get("/i/oauth2/authorize", self._authorize)
        application.router.add_post("/2/oauth2/token", self._token)
        application.router.add_get("/2/users/me", self._me)
        application.router.add_post("/2/oauth2/revoke", self._revoke)
        return application

    async def _authorize(self, request: web.Request) -> web.Response:
        query = request.query
        app = self.apps.get(query.get("client_id", ""))
        if app is None or query.get("redirect_uri") != app.redirect_uri:
            # X shows an error page and never redirects to an unregistered address.
            return web.Response(status=400, text="Something went wrong: invalid client")
        state = query.get("state", "")
        scopes = set(query.get("scope", "").split())
        method = query.get("code_challenge_method", "plain")
        well_formed = (
            query.get("response_type") == "code"
            and 0 < len(state) <= 500
            and bool(query.get("code_challenge"))
            and method in ("S256", "plain")
        )
        user = self.at_browser
        if not well_formed:
            return _redirect(app.redirect_uri, error="invalid_request", state=state)
        if not scopes >= NEEDED_SCOPES:
            return _redirect(app.redirect_uri, error="invalid_scope", state=state)
        if user is None:
            return _redirect(app.redirect_uri, error="access_denied", state=state)
        code = secrets.token_urlsafe(48)
        self.codes[code] = _Grant(
            user,
            app,
            app.redirect_uri,
            query["code_challenge"],
            method,
            " ".join(scopes),
        )
        return _redirect(app.redirect_uri, state=state, code=code)

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        app = self._client(request, str(form.get("client_id", "")))
        if app is None:
            return _error(401, "unauthorized_client", "Missing valid authorization header")
        grant = self.codes.pop(str(form.get("code", "")), None)
        fresh = grant is not None and time.monotonic() - grant.issued < CODE_TTL_SEC
        if form.get("grant_type") != "authorization_code" or grant is None or not fresh:
            return _error(
                400, "invalid_request", "Value passed for the authorization code was invalid."
            )
        if grant.app != app or form.get("redirect_uri") != grant.redirect_uri:
            return _error(400, "invalid_request", "Value passed for the redirect uri was invalid.")
        if _challenge(str(form.get("code_verifier", "")), grant.method) != grant.challenge:
            return _error(400, "invalid_request", "Value passed for the code verifier was invalid.")
        token = secrets.token_urlsafe(48)
        self.tokens[token] = grant.user
        return web.json_response(
            {
                "token_type": "bearer",
                "expires_in": TOKEN_TTL_SEC,
                "access_token": token,
                "scope": grant.scope,
            }
        )

    def _client(self, request: web.Request, client_id: str) -> XApp | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                given_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return None
            app = self.apps.get(given_id)
            return app if app is not None and app.client_secret == secret else None
        app = self.apps.get(client_id)
        return app if app is not None and app.client_secret is None else None

    async def _me(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        user = (
            self.tokens.get(header.removeprefix("Bearer "))
            if header.startswith("Bearer ")
            else None
        )
        if user is None:
            return web.json_response(
                {
                    "title": "Unauthorized",
                    "type": "about:blank",
                    "status": 401,
                    "detail": "Unauthorized",
                },
                status=401,
            )
        return web.json_response(
            {"data": {"id": user.id, "name": user.name, "username": user.username}}
        )

    async def _revoke(self, request: web.Request) -> web.Response:
        form = await request.post()
        token = str(form.get("token", ""))
        if self.tokens.pop(token, None) is not None:
            self.revoked.append(token)
        return web.json_response({"revoked": True})


def _challenge(verifier: str, method: str) -> str:
    if method == "plain":
        return verifier
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _redirect(uri: str, **params: str) -> web.Response:
    raise web.HTTPFound(f"{uri}?{urlencode(params)}")


def _error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)
