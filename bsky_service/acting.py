"""Acting as a person on their own PDS, with what they granted: DPoP-bound OAuth tokens, or a
session opened with an app password (the fallback they may choose); tokens renewed when due.
(Where a person's PDS is: :mod:`bsky_service.identity`.)"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bsky_service import oauth
from bsky_service.oauth import (
    Answer,
    DpopKey,
    Grant,
    OAuthError,
    dpop_request,
    fetch,
    refresh,
    revoke,
)
from bsky_service.tid import tid
from shared.clock import iso_utc
from shared.errors import HqxError
from shared.protocol import Delivered, DeliveryError

if TYPE_CHECKING:
    from shared.actions import FollowAccount
    from shared.outbound import Outbound
    from shared.protocol import Outgoing
    from shared.reconnection import grants
    from shared.stores import GrantStore

FOLLOW = "app.bsky.graph.follow"


class RefusedPasswordError(OAuthError):
    """The PDS refused the app password, or it opens another account (a sentence of ours)."""


class ActingError(HqxError):
    """The person's PDS refused to act for them (``permanent``: it never will, as granted)."""

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class PeopleRepos:
    """People's own PDSes, as the adapter acts there for them with their grants."""

    def __init__(self, store: GrantStore, outbound: Outbound | None, key: str | None) -> None:
        """``outbound``: ``None``: nobody's PDS is asked (follows are off). ``key``: the
        service's secret (its client key signs OAuth renewals; ``None``: no key)."""
        self._store, self._outbound = store, outbound
        self._signer = oauth.client_key(key) if key else None
        self._locks: dict[int, asyncio.Lock] = {}
        """One renewal of a grant's tokens at a time (a refresh token is used once)."""

    async def follow(self, outgoing: Outgoing, action: FollowAccount) -> Delivered:
        """Follow with the person's own grant, on their own PDS, under a record key fixed by
        the action: made again after a crash, it is the same follow."""
        if self._outbound is None:
            raise DeliveryError("no client for people's servers: follows are off", permanent=True)
        if not action.subject.startswith("did:"):
            raise DeliveryError(f"no DID to follow for {action.account}", permanent=True)
        try:
            async with self._locks.setdefault(action.grant, asyncio.Lock()):
                grant = await self._renewed(self._outbound, action.grant)
            rkey = tid(outgoing.created_at, outgoing.action_id)
            uri, _ = await follow(
                self._outbound, grant, action.subject, rkey, iso_utc(outgoing.created_at)
            )
        except ActingError as e:
            retry_at = None
            if e.retry_after is not None:
                retry_at = datetime.now(UTC) + timedelta(seconds=e.retry_after)
            raise DeliveryError(str(e), permanent=e.permanent, retry_at=retry_at) from e
        except OAuthError as e:  # their PDS could not be reached: try again later
            raise DeliveryError(f"following for a person: {e}") from e
        return Delivered(uri)

    async def revoke(self, grant: grants.Token) -> None:
        """Tell the person's servers their grant is over: OAuth tokens revoked, or the app
        password's session deleted.

        Raises:
            HqxError: they could not be told now.
        """
        if self._outbound is None:
            raise HqxError("Bluesky: no client for people's servers")
        try:
            await end(self._outbound, Grant.loads(grant.token), self._signer)
        except OAuthError as e:
            raise HqxError(f"Bluesky: {e}") from e

    async def _renewed(self, http: Outbound, grant_id: int) -> Grant:
        """The person's grant, its tokens renewed (and the renewal kept at once: the old
        refresh token no longer works)."""
        opened = await self._store.token(grant_id)
        if opened is None:
            raise ActingError("the person revoked the grant to follow for them", permanent=True)
        grant = Grant.loads(opened.token)
        fresh = await renewed(http, grant, self._signer)
        if fresh is not grant:
            await self._store.renew(grant_id, fresh.dumps())
        return fresh


def _claims(jwt: str) -> dict[str, Any]:
    """What a session token (a JWT the PDS issued) says; read, not verified: the PDS that
    issued it is the one that checks it."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _expiry(jwt: str) -> float:
    """When a session token expires (five minutes when it does not say)."""
    try:
        return float(_claims(jwt)["exp"])
    except (KeyError, TypeError, ValueError):
        return time.time() + 300.0


async def sign_in(http: Outbound, pds: str, did: str, app_password: str) -> Grant:
    """A session opened with the person's app password, as ``did`` (never another)."""
    answer = await fetch(
        http, "POST", f"{pds}/xrpc/com.atproto.server.createSession",
        body={"identifier": did, "password": app_password},
    )  # fmt: skip
    if answer.status in {400, 401}:
        raise RefusedPasswordError("the PDS refused this app password")
    opened = _checked(answer, "signing in")
    if opened.get("did") != did:
        raise RefusedPasswordError(
            "the app password opens another account than the one linked here"
        )
    return Grant(
        did=did,
        pds=pds,
        access=str(opened["accessJwt"]),
        refresh=str(opened["refreshJwt"]),
        expires_at=_expiry(str(opened["accessJwt"])),
        kind="password",
    )


async def renewed(http: Outbound, grant: Grant, signer: DpopKey | None = None) -> Grant:
    """The grant, its tokens renewed if they are (about to be) expired (``signer``: the
    service's client key, for a grant given to it as a confidential client)."""
    if not grant.due_for_refresh:
        return grant
    if grant.kind == "oauth":
        try:
            return await refresh(http, grant, signer)
        except OAuthError as e:
            raise ActingError(str(e), permanent=True) from e
    answer = await fetch(
        http, "POST", f"{grant.pds}/xrpc/com.atproto.server.refreshSession",
        headers={"Authorization": f"Bearer {grant.refresh}"},
    )  # fmt: skip
    if answer.status in {400, 401}:
        raise ActingError("the app password's session has ended: connect again", permanent=True)
    opened = _checked(answer, "renewing the session")
    access = str(opened["accessJwt"])
    return replace(grant, access=access, refresh=str(opened["refreshJwt"]),
                   expires_at=_expiry(access))  # fmt: skip


async def call(
    http: Outbound, grant: Grant, nsid: str, body: dict[str, Any]
) -> tuple[Answer, Grant]:
    """A procedure on the person's PDS as them; the answer, and the grant as it is now
    (renewed tokens, new nonces: the caller keeps it)."""
    grant = await renewed(http, grant)
    url = f"{grant.pds}/xrpc/{nsid}"
    if grant.kind == "oauth":
        nonces = dict(grant.nonces)
        key = DpopKey.from_jwk(grant.dpop)
        answer = await dpop_request(http, key, nonces, "POST", url, token=grant.access, body=body)
        grant = replace(grant, nonces=nonces)
    else:
        headers = {"Authorization": f"Bearer {grant.access}"}
        answer = await fetch(http, "POST", url, headers=headers, body=body)
    return answer, grant


async def follow(
    http: Outbound, grant: Grant, subject: str, rkey: str, created_at: str
) -> tuple[str, Grant]:
    """Follow ``subject`` (a DID) as the person, under a record key fixed by the caller: made
    twice (a crash between the write and its record here), it is still one follow."""
    record = {"$type": FOLLOW, "subject": subject, "createdAt": created_at}
    body = {"repo": grant.did, "collection": FOLLOW, "rkey": rkey, "record": record}
    answer, grant = await call(http, grant, "com.atproto.repo.createRecord", body)
    uri = f"at://{grant.did}/{FOLLOW}/{rkey}"
    if answer.status == 200:
        return str(answer.body.get("uri", uri)), grant
    message = str(answer.body.get("message", ""))
    if answer.status == 400 and "already exists" in message.lower():
        return uri, grant  # made before: the same follow
    raise _refused(answer, "follow")


async def end(http: Outbound, grant: Grant, signer: DpopKey | None = None) -> None:
    """Tell the person's servers the grant is over: its OAuth tokens revoked, or the app
    password's session deleted.

    Raises:
        OAuthError: they could not be told now.
    """
    if grant.kind == "oauth":
        await revoke(http, grant, signer)
        return
    answer = await fetch(
        http, "POST", f"{grant.pds}/xrpc/com.atproto.server.deleteSession",
        headers={"Authorization": f"Bearer {grant.refresh}"},
    )  # fmt: skip
    if answer.status == 429 or answer.status >= 500:
        raise OAuthError(f"{grant.pds} answered {answer.status} to ending the session")


def full_access(grant: Grant) -> bool:
    """Whether a session was opened with the account's own password rather than an app
    password (its token's scope says so): the service never keeps such a session."""
    return bool(_claims(grant.access).get("scope") == "com.atproto.access")


def _checked(answer: Answer, what: str) -> dict[str, Any]:
    if answer.status != 200:
        raise _refused(answer, what)
    return answer.body


def _refused(answer: Answer, what: str) -> ActingError:
    said = f"{answer.body.get('error', '')} {answer.body.get('message', '')}".strip()
    if answer.status == 429:
        reset = answer.headers.get("ratelimit-reset")
        wait = max(1.0, float(reset) - time.time()) if reset and reset.isdigit() else 60.0
        return ActingError(f"the PDS limits {what}: {said}", permanent=False, retry_after=wait)
    permanent = answer.status in {400, 401, 403}
    return ActingError(f"the PDS refused {what}: {answer.status} {said}", permanent=permanent)
