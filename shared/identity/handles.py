"""Handles change: every known account's current handle read again from its network (daily,
by the service's scheduler), a batch at a time."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from shared.db.models import Identity
from shared.errors import HqxError
from shared.identity import linking

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.engine import Engine

    from shared.protocol import Protocol
    from shared.vocabulary import Network

log = logging.getLogger(__name__)

BATCH = 100
"""Accounts asked about at once."""


async def refresh(engine: Engine, adapters: Mapping[Network, Protocol]) -> int:
    """Read every known account's current handle from its network; return how many
    changed. A network that cannot be asked now is asked at the next run."""
    changed = 0
    for network, adapter in adapters.items():
        after = 0
        while batch := await asyncio.to_thread(_identities_after, engine, network, after):
            after = batch[-1][0]
            try:
                found = await adapter.current_handles([subject for _, subject in batch])
            except HqxError as e:
                log.warning("%s: handles not refreshed (%s)", network, e)
                break
            changed += await asyncio.to_thread(_update, engine, network, found)
    return changed


def _identities_after(engine: Engine, network: Network, after: int) -> list[tuple[int, str]]:
    with Session(engine) as session:
        rows = session.exec(
            select(Identity.id, Identity.subject)
            .where(Identity.network == network, col(Identity.id) > after)
            .order_by(col(Identity.id))
            .limit(BATCH)
        )
        return [(int(i), s) for i, s in rows if i is not None]


def _update(engine: Engine, network: Network, found: dict[str, str]) -> int:
    with Session(engine) as session, session.begin():
        return linking.update_handles(session, network, found)
