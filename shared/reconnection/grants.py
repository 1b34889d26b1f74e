"""What lets the service follow accounts for a person who asked: its app on each of their
servers (registered once, reused), and their grants, tokens sealed at rest with the
service's key (:mod:`shared.sealed`): a copy of the database alone follows no one."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlmodel import Session, col, select

from shared import sealed
from shared.clock import utcnow
from shared.db.models import FollowGrant, GrantRevocation, OAuthClient
from shared.errors import HqxError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from sqlalchemy.engine import Engine

    from shared.vocabulary import Network

T = TypeVar("T")
log = logging.getLogger(__name__)

REVOKE_FOR = timedelta(days=7)
"""How long the service keeps trying to tell a server that a grant is over (a server away
longer has long expired an OAuth token's session, or its operator has moved on)."""
REVOKE_FIRST_RETRY = timedelta(minutes=5)
REVOKE_MAX_RETRY = timedelta(hours=6)

MASTODON_SCOPES = "read:accounts read:search write:follows"
"""The least a follow needs on Mastodon, GoToSocial and Akkoma: the account the token acts as
(``verify_credentials``: ``read:accounts``), finding the account to follow on the person's
server, fetched from its own if need be (``search`` with ``resolve``: ``read:search``), and
following (``write:follows``). Sources: Mastodon's ``CredentialsController``,
``Api::V2::SearchController`` and ``AccountsController``; GoToSocial's ``accountverify.go``,
``searchget.go`` and ``follow.go``."""
_CLIENT, _TOKEN = "oauth-client-secret", "follow-grant-token"


@dataclass(frozen=True, slots=True)
class Client:
    server: str
    client_id: str
    client_secret: str
    redirect_uri: str


@dataclass(frozen=True, slots=True)
class Token:
    """What acting for a person takes: where, and their token."""

    server: str
    token: str
    subject: str
    network: Network | None = None
    """The grant's network (read with it from the database; ``None`` when made by hand)."""


def client(session: Session, key: str, server: str) -> Client | None:
    """The service's app on ``server``, if registered (and sealed by this key)."""
    row = session.get(OAuthClient, server)
    if row is None:
        return None
    secret = sealed.unseal(key, _CLIENT, row.client_secret)
    if secret is None:  # another key: register again
        return None
    return Client(row.server, row.client_id, secret, row.redirect_uri)


def keep_client(session: Session, key: str, found: Client) -> None:
    """Remember the app registered on a server."""
    secret = sealed.seal(key, _CLIENT, found.client_secret)
    row = session.get(OAuthClient, found.server)
    if row is None:
        row = OAuthClient(server=found.server, client_id=found.client_id,
                          client_secret=secret, redirect_uri=found.redirect_uri)  # fmt: skip
    row.client_id, row.client_secret = found.client_id, secret
    row.redirect_uri, row.created_at = found.redirect_uri, utcnow()
    session.add(row)


def grant(
    session: Session,
    key: str,
    *,
    person_id: int,
    network: Network,
    acting_as: Token,
    scope: str,
) -> FollowGrant:
    """Keep a person's grant (a new one replaces theirs for the same account)."""
    sealed_token = sealed.seal(key, _TOKEN, acting_as.token)
    row = session.exec(
        select(FollowGrant).where(
            FollowGrant.person_id == person_id,
            FollowGrant.network == network,
            FollowGrant.subject == acting_as.subject,
        )
    ).first()
    if row is None:
        row = FollowGrant(person_id=person_id, network=network, subject=acting_as.subject,
                          server=acting_as.server, token=sealed_token, scope=scope)  # fmt: skip
    row.server, row.scope, row.created_at = acting_as.server, scope, utcnow()
    row.token = sealed_token
    session.add(row)
    session.flush()
    return row


def token(session: Session, key: str, grant_id: int) -> Token | None:
    """A grant's token, or ``None`` when it was revoked (or sealed by another key)."""
    row = session.get(FollowGrant, grant_id)
    if row is None:
        return None
    opened = sealed.unseal(key, _TOKEN, row.token)
    return None if opened is None else Token(row.server, opened, row.subject, row.network)


def renew(session: Session, key: str, grant_id: int, new_token: str) -> None:
    """Keep a grant's renewed token (a refresh used the old one up)."""
    row = session.get(FollowGrant, grant_id)
    if row is not None:
        row.token = sealed.seal(key, _TOKEN, new_token)
        session.add(row)


def of_person(
    session: Session, person_id: int, network: Network | None = None
) -> list[FollowGrant]:
    """A person's grants (on ``network``), oldest first."""
    query = select(FollowGrant).where(FollowGrant.person_id == person_id)
    if network is not None:
        query = query.where(FollowGrant.network == network)
    return list(session.exec(query.order_by(col(FollowGrant.id))))


def revoke(session: Session, person_id: int, grant_id: int) -> bool:
    """Take back one of a person's grants: deleted here, and queued for its server to be
    told (:func:`withdraw`); ``False``: not theirs, or gone already."""
    row = session.get(FollowGrant, grant_id)
    if row is None or row.person_id != person_id:
        return False
    withdraw(session, row)
    return True


def withdraw(session: Session, row: FollowGrant) -> None:
    """Delete a grant here and queue it for its server to be told (its token, still
    sealed, kept only for that): whether the person revoked it or was erased."""
    session.add(GrantRevocation(network=row.network, server=row.server, token=row.token))
    session.delete(row)


def withdraw_all(session: Session, person_id: int) -> list[str]:
    """Every grant of a person withdrawn (:func:`withdraw`); their servers."""
    rows = of_person(session, person_id)
    for row in rows:
        withdraw(session, row)
    return sorted({row.server for row in rows})


@dataclass(frozen=True, slots=True)
class Revocation:
    """A grant to take back at its server: which, and its token opened."""

    id: int
    token: Token


def pending(session: Session, key: str, now: datetime) -> list[Revocation]:
    """The revocations due now (their tokens opened with ``key``); those older than
    :data:`REVOKE_FOR`, or that this key cannot open, are dropped (nothing can be told)."""
    due = []
    for row in session.exec(select(GrantRevocation).where(GrantRevocation.next_at <= now)):
        opened = sealed.unseal(key, _TOKEN, row.token)
        if opened is None or row.created_at < now - REVOKE_FOR:
            session.delete(row)
            continue
        assert row.id is not None  # noqa: S101  (stored)
        due.append(Revocation(row.id, Token(row.server, opened, "", row.network)))
    return due


def told(session: Session, revocation_id: int) -> None:
    """The server knows: nothing of the grant is left here."""
    row = session.get(GrantRevocation, revocation_id)
    if row is not None:
        session.delete(row)


def not_told(session: Session, revocation_id: int, error: str, now: datetime) -> None:
    """The server could not be told: asked again later, each time twice as late."""
    row = session.get(GrantRevocation, revocation_id)
    if row is None:
        return
    row.attempts += 1
    delay = min(REVOKE_FIRST_RETRY * 2 ** (row.attempts - 1), REVOKE_MAX_RETRY)
    row.next_at, row.last_error = now + delay, error[:255]
    session.add(row)


class Revoker(Protocol):
    """What telling a server takes of a network's adapter."""

    async def revoke_grant(self, grant: Token) -> None: ...


async def tell_servers(engine: Engine, key: str, adapters: Mapping[Network, Revoker]) -> list[str]:
    """Tell people's servers about the grants taken back (revoked, or their person erased)
    that are due, each by its network's adapter; return the servers that could not be told
    now (they are asked again later, for a week)."""
    due = await asyncio.to_thread(_in_transaction, engine, pending, key, utcnow())
    failed: list[str] = []
    for revocation in due:
        network = revocation.token.network
        adapter = None if network is None else adapters.get(network)
        try:
            if adapter is None:
                raise HqxError(f"no {revocation.token.network} bot runs to tell it")
            await adapter.revoke_grant(revocation.token)
        except HqxError as e:
            log.warning("a grant on %s could not be revoked there now: %s",
                        revocation.token.server, e)  # fmt: skip
            failed.append(revocation.token.server)
            await asyncio.to_thread(
                _in_transaction, engine, not_told, revocation.id, str(e), utcnow()
            )
            continue
        await asyncio.to_thread(_in_transaction, engine, told, revocation.id)
    return sorted(set(failed))


def _in_transaction(engine: Engine, step: Callable[..., T], *args: Any) -> T:
    with Session(engine) as session, session.begin():
        return step(session, *args)
