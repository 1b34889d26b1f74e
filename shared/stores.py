"""What an adapter may keep and read of the core's database, as small stores it is handed
(as arroba's ``Storage``): never the engine. The core writes the core's tables; an adapter
asks. Each call runs in a worker thread, in a transaction of its own.

- :class:`BotState`: small values a bot keeps across restarts (watermarks, its session);
- :class:`GrantStore`: people's grants to act for them, opened with the service's key;
- :class:`AccountStore`: accounts stored under an older form of their id, moved to the new.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import Session

from shared import botstate
from shared.identity import linking
from shared.reconnection import grants

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from shared.identity.accounts import Account
    from shared.vocabulary import Network


class BotState:
    """Small values by key (see :mod:`shared.botstate`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def load(self, key: str) -> str | None:
        return await asyncio.to_thread(botstate.load, self._engine, key)

    async def save(self, key: str, value: str) -> None:
        await asyncio.to_thread(botstate.save, self._engine, key, value)


class GrantStore:
    """People's grants as an adapter uses them: opened (``None`` without the key, or for a
    grant revoked since), renewed tokens kept, the service's app on a server."""

    def __init__(self, engine: Engine, key: str | None) -> None:
        self._engine = engine
        self._key = key

    async def token(self, grant_id: int) -> grants.Token | None:
        if self._key is None:
            return None
        return await asyncio.to_thread(self._token, self._key, grant_id)

    def _token(self, key: str, grant_id: int) -> grants.Token | None:
        with Session(self._engine) as session:
            return grants.token(session, key, grant_id)

    async def renew(self, grant_id: int, new_token: str) -> None:
        """Keep a renewed token at once (a refresh used the old one up)."""
        if self._key is not None:
            await asyncio.to_thread(self._renew, self._key, grant_id, new_token)

    def _renew(self, key: str, grant_id: int, new_token: str) -> None:
        with Session(self._engine) as session, session.begin():
            grants.renew(session, key, grant_id, new_token)

    async def client(self, server: str) -> grants.Client | None:
        """The service's app on a person's server, if registered there."""
        if self._key is None:
            return None
        return await asyncio.to_thread(self._client, self._key, server)

    def _client(self, key: str, server: str) -> grants.Client | None:
        with Session(self._engine) as session:
            return grants.client(session, key, server)


class AccountStore:
    """Accounts as linked here, for an adapter that must move their ids to a new form."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def stored(self, network: Network) -> list[Account]:
        return await asyncio.to_thread(self._stored, network)

    def _stored(self, network: Network) -> list[Account]:
        with Session(self._engine) as session:
            return linking.stored_accounts(session, network)

    async def rekey(self, network: Network, old: str, new: str) -> bool:
        """Move an account from ``old`` to ``new`` (its person, proofs and threads)."""
        return await asyncio.to_thread(self._rekey, network, old, new)

    def _rekey(self, network: Network, old: str, new: str) -> bool:
        with Session(self._engine) as session, session.begin():
            return linking.rekey(session, network, old, new)


@dataclass(frozen=True, slots=True)
class Stores:
    """Everything an adapter is handed of the database."""

    state: BotState
    grants: GrantStore
    accounts: AccountStore

    @classmethod
    def of(cls, engine: Engine, key: str | None = None) -> Stores:
        """The stores on ``engine``; ``key``: the service's secret, which opens grants."""
        return cls(BotState(engine), GrantStore(engine, key), AccountStore(engine))
