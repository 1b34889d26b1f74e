"""“Sign in with X”: X itself tells the service which X account a person holds, by OAuth 2.0
(Authorization Code Flow with PKCE, https://docs.x.com/fundamentals/authentication/oauth-2-0/
user-access-token). The only proof of an X account *id* the service takes (see
:mod:`shared.identity.xtrust`).

The flow starts from a form on the page of a person's one-time upload link, which names
whose link it is first: it is bound to that link (the person the bot vouched for) and to the
browser that posted the form (the page's own cookie, :data:`PAGE_COOKIE`, which a forwarded
link or another site's form does not carry). Its state, verifier, link and page nonce
travel in a cookie sealed with ``HQX_SECRET_KEY`` (no row to clean up), valid ten minutes.
The access token serves once, to read ``/2/users/me``, then is revoked; it is never stored.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import aiohttp

from hqx.outbound import read_bounded
from shared import sealed
from shared.errors import HqxError
from shared.outbound import OutboundError

if TYPE_CHECKING:
    from shared.config import Settings

log = logging.getLogger(__name__)

SCOPES = "tweet.read users.read"  # what GET /2/users/me needs, and nothing more
FLOW_TTL_SEC = 600
TIMEOUT_SEC = 15.0
MAX_ANSWER_BYTES = 64 * 1024  # X's answers here are a few hundred bytes
COOKIE = "hqx_x_signin"
PAGE_COOKIE = "hqx_x_page"
"""The link page's nonce in this browser: the form's proof is made with it, and the flow
ends only in the browser that holds it."""
CALLBACK_PATH = "/x/signin/callback"
_PURPOSE = "x sign-in"


OAUTH_ERRORS = frozenset({
    "access_denied", "invalid_request", "unauthorized_client", "unsupported_response_type",
    "invalid_scope", "server_error", "temporarily_unavailable",
})  # fmt: skip
"""The error codes an authorization server may send back (RFC 6749, 4.1.2.1): shown as
they are; anything else in a callback's ``error`` is not X's and is not repeated."""


class XSignInError(HqxError):
    """The sign-in did not say who the person is on X (declined, expired, X failed)."""


@dataclass(frozen=True, slots=True)
class XAccount:
    """Who X says the person is."""

    id: int
    username: str


@dataclass(frozen=True, slots=True)
class Flow:
    """A sign-in under way, as its callback finds it."""

    person_id: int
    verifier: str
    link: str
    """The upload link's token it started from."""
    nonce: str
    """The page's nonce in the browser that started it."""


@dataclass(frozen=True, slots=True)
class Started:
    """Where to send the browser, and the sealed cookie that remembers the flow."""

    url: str
    cookie: str


class XSignIn:
    """The operator's X app, and one HTTP session to X, owned by the application."""

    def __init__(self, settings: Settings) -> None:
        if settings.x_client_id is None or settings.public_url is None:
            raise ValueError("Sign in with X needs HQX_X_CLIENT_ID and HQX_PUBLIC_URL")
        if settings.secret_key is None:
            raise ValueError("Sign in with X needs HQX_SECRET_KEY")
        self._client_id = settings.x_client_id
        self._client_secret = settings.x_client_secret
        self._authorize_url = settings.x_authorize_url
        self._api_url = settings.x_api_url.rstrip("/")
        self._key = settings.secret_key
        self.redirect_uri = settings.public_url.rstrip("/") + CALLBACK_PATH
        self._http: aiohttp.ClientSession | None = None

    def start(self, person_id: int, link: str, nonce: str) -> Started:
        """A new flow for ``person_id`` from ``link``, in the browser holding ``nonce``: the
        authorize URL, and the cookie to set."""
        state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(64)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        query = {
            "response_type": "code",
            "client_id": self._client_id,
            "redirect_uri": self.redirect_uri,
            "scope": SCOPES,
            "state": state,
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
        until = time.time() + FLOW_TTL_SEC
        flow = {"state": state, "verifier": verifier, "person": person_id, "until": until,
                "link": link, "nonce": nonce}  # fmt: skip
        cookie = sealed.seal(self._key, _PURPOSE, json.dumps(flow))
        return Started(f"{self._authorize_url}?{urlencode(query)}", cookie)

    def flow_of(self, cookie: str | None, state: str, page_nonce: str | None) -> Flow:
        """The flow a callback ends: started here, in this browser, in time.

        Raises:
            XSignInError: no flow, another flow's state, another browser, or a flow past
                its ten minutes.
        """
        opened = sealed.unseal(self._key, _PURPOSE, cookie) if cookie else None
        flow = json.loads(opened) if opened else None
        if not flow or not secrets.compare_digest(str(flow["state"]), state):
            raise XSignInError("this sign-in was not started here: start it again from your link")
        if not page_nonce or not secrets.compare_digest(str(flow.get("nonce", "")), page_nonce):
            raise XSignInError("this sign-in was started in another browser: start it again "
                               "from your link")  # fmt: skip
        if time.time() > float(flow["until"]):
            raise XSignInError("this sign-in took too long: start it again from your link")
        return Flow(int(flow["person"]), str(flow["verifier"]), str(flow["link"]), page_nonce)

    async def account(self, code: str, verifier: str) -> XAccount:
        """Exchange the code for a token, read who it belongs to, revoke it.

        Raises:
            XSignInError: X refused the code, or did not answer.
        """
        token = await self._exchange(code, verifier)
        try:
            me = await self._call(
                "GET", "/2/users/me", headers={"Authorization": f"Bearer {token}"}
            )
        finally:
            await self._revoke(token)
        data = me.get("data") if isinstance(me, dict) else None
        try:
            return XAccount(int(data["id"]), str(data["username"]))  # type: ignore[index]
        except (TypeError, KeyError, ValueError):
            raise XSignInError("X did not say who you are") from None

    async def _exchange(self, code: str, verifier: str) -> str:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": verifier,
        }
        answer = await self._call("POST", "/2/oauth2/token", **self._as_client(form))
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str):
            raise XSignInError("X gave no access token")
        return token

    async def _revoke(self, token: str) -> None:
        form = {"token": token, "token_type_hint": "access_token"}
        with contextlib.suppress(XSignInError):  # it expires in 2 h anyway; never stored
            await self._call("POST", "/2/oauth2/revoke", **self._as_client(form))

    def _as_client(self, form: dict[str, str]) -> dict[str, object]:
        """A request to X's token endpoints as this app: a public client names itself in the
        form, a confidential one authenticates with HTTP Basic."""
        if self._client_secret is None:
            return {"data": {**form, "client_id": self._client_id}}
        return {"data": form, "auth": aiohttp.BasicAuth(self._client_id, self._client_secret)}

    async def _call(self, method: str, path: str, **kwargs: object) -> object:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SEC))
        try:
            async with self._http.request(method, self._api_url + path, **kwargs) as response:  # type: ignore[arg-type]
                try:
                    raw = await read_bounded(response, MAX_ANSWER_BYTES, "X")
                except OutboundError:
                    raise XSignInError(f"X answered more than {MAX_ANSWER_BYTES:,} bytes") from None
                body = json.loads(raw) if raw else None
                if response.status >= 400:
                    described = body.get("error_description") if isinstance(body, dict) else None
                    log.warning("X refused a sign-in step: %s %s", response.status, described)
                    raise XSignInError(f"X refused ({response.status})")
                return body
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise XSignInError(f"X did not answer ({type(e).__name__})") from None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
