"""The service as an OAuth 2.0 client of people's Mastodon-API servers (Mastodon, GoToSocial,
Akkoma), through the service's guarded client: its app registered on a server
(``POST /api/v1/apps``), the authorization code with PKCE (S256) and the smallest scopes
(:data:`shared.reconnection.grants.MASTODON_SCOPES`), the code traded for a token, whose
account it is (``verify_credentials``), and revocation (RFC 7009 at ``/oauth/revoke``).

The portal (``hqx/web/follows.py``) runs the flow and keeps what it gives."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from shared.errors import HqxError
from shared.outbound import OutboundError
from shared.reconnection.grants import MASTODON_SCOPES, Client

if TYPE_CHECKING:
    from shared.outbound import Outbound

ANSWER_MAX_BYTES = 64 * 1024
APP_NAME = "HelloQuitteX"


class OAuthError(HqxError):
    """The person's server refused or answered what a Mastodon server would not (for the
    log: a person reads :data:`shared.outbound.UNREACHABLE`)."""


@dataclass(frozen=True, slots=True)
class Granted:
    """A token traded for a code, and the account it acts as, as its server says."""

    access: str
    scope: str
    account: dict[str, Any]


def origin(subject: str) -> str:
    """The server of a Mastodon account, from its ActivityPub id."""
    parts = urlsplit(subject)
    return f"{parts.scheme}://{parts.netloc}"


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def _call(
    http: Outbound,
    method: str,
    url: str,
    *,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """One request to a person's server; its JSON answer, read within bounds."""
    try:
        answer = await http.request(
            method, url, form=form, headers=headers, max_bytes=ANSWER_MAX_BYTES
        )
        if answer.status >= 400:
            raise OAuthError(f"{url} answered {answer.status}")
        return answer.json()
    except OutboundError as e:
        raise OAuthError(str(e)) from e


async def register(http: Outbound, server: str, redirect_uri: str, website: str) -> Client:
    """The service's app, registered on ``server`` now."""
    app = await _call(http, "POST", f"{server}/api/v1/apps", form={
        "client_name": APP_NAME, "redirect_uris": redirect_uri, "scopes": MASTODON_SCOPES,
        "website": website,
    })  # fmt: skip
    if not isinstance(app, dict) or "client_id" not in app or "client_secret" not in app:
        raise OAuthError(f"{server} registered no app: is it a Mastodon-API server?")
    return Client(server, str(app["client_id"]), str(app["client_secret"]), redirect_uri)


def authorize_url(client: Client, state: str, verifier: str) -> str:
    """Where the person consents, on their own server."""
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "scope": MASTODON_SCOPES,
        "state": state,
        "code_challenge": _s256(verifier),
        "code_challenge_method": "S256",
    }
    return f"{client.server}/oauth/authorize?{urlencode(query)}"


async def trade(http: Outbound, client: Client, code: str, verifier: str) -> Granted:
    """The code traded for a token, and the account the token acts as."""
    token = await _call(http, "POST", f"{client.server}/oauth/token", form={
        "grant_type": "authorization_code", "code": code, "client_id": client.client_id,
        "client_secret": client.client_secret, "redirect_uri": client.redirect_uri,
        "code_verifier": verifier, "scope": MASTODON_SCOPES,
    })  # fmt: skip
    access = token.get("access_token") if isinstance(token, dict) else None
    if not isinstance(access, str):
        raise OAuthError(f"{client.server} gave no access token")
    me = await _call(
        http, "GET", f"{client.server}/api/v1/accounts/verify_credentials",
        headers={"Authorization": f"Bearer {access}"},
    )  # fmt: skip
    scope = str(token.get("scope", MASTODON_SCOPES))
    return Granted(access, scope, me if isinstance(me, dict) else {})


def acts_as(granted: Granted, subject: str, handle: str, server: str) -> bool:
    """Whether the token acts as the account linked here: its ActivityPub id when the
    server says it, else its username at this server."""
    me = granted.account
    if me.get("uri"):
        return bool(me["uri"] == subject)
    host = urlsplit(server).netloc
    return f"{me.get('username', '')}@{host}".casefold() == handle.casefold()


async def revoke(http: Outbound, client: Client, token: str) -> None:
    """Revoke ``token`` at its server.

    Raises:
        OutboundError: the server could not be told now (unreachable, 429, 5xx). Any other
            answer means it knows the token no more: done.
    """
    answer = await http.request(
        "POST", f"{client.server}/oauth/revoke",
        form={"client_id": client.client_id, "client_secret": client.client_secret,
              "token": token},
    )  # fmt: skip
    if answer.status == 429 or answer.status >= 500:
        raise OutboundError(f"{client.server} answered {answer.status} to the revocation")
