"""Sending the outbox through the adapters: each due action claimed (by this process's
lease), handed to its network's adapter, and recorded as done, to retry or failed. A pass
at a time in a process; the claim guards against other processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError, OperationalError

from shared import actions, outbox
from shared.actions import UnknownActionError
from shared.clock import utcnow
from shared.protocol import DeliveryError, Outgoing

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from sqlalchemy.engine import Engine

    from shared.db.models import OutboundAction
    from shared.protocol import Protocol
    from shared.vocabulary import Network

log = logging.getLogger(__name__)

RECORD_RETRY_MAX_SEC = 15.0
"""The longest wait between two tries at recording an outcome while the database is down."""


class Sender:
    """The delivery task of one process."""

    def __init__(
        self,
        engine: Engine,
        adapters: Mapping[Network, Protocol],
        interval_sec: float,
        holder: Callable[[], str | None],
    ) -> None:
        """``holder``: the lease this process claims its sends under (``None``: none)."""
        self._engine, self._adapters = engine, adapters
        self._interval_sec, self._holder = interval_sec, holder
        self._delivering = asyncio.Lock()
        self._wake = asyncio.Event()
        """Set when something was queued: the delivery task goes at once."""
        self.rate_limited: Counter[Network] = Counter()
        """Sends held back by a network's rate limit (a 429, or none left), by network."""
        self._sending: set[int] = set()
        """The actions this process is sending (counted from before their claim)."""

    async def forever(self) -> None:
        """Deliver what is due, then again when woken (something was queued) or after the
        interval (retries coming due). A wake during a pass is not lost: it starts the next."""
        self._wake = asyncio.Event()  # of this event loop: a service may be started again
        while True:
            self._wake.clear()
            try:
                await self.deliver_due()
            except Exception:  # a broken database must not stop delivery for good
                log.exception("delivering failed; trying again")
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that lands as it times out, and stopping would wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval_sec):
                    await self._wake.wait()

    def wake(self) -> None:
        """Deliver now rather than at the next interval."""
        self._wake.set()

    async def release_forgotten(self) -> int:
        """Sends this process claimed but is not sending go back to the queue (a claim or an
        outcome the database lost while going down): see :func:`outbox.release`."""
        holder = self._holder()
        if holder is None:
            return 0
        keep, now = frozenset(self._sending), utcnow()  # a claim after now is not touched
        return await asyncio.to_thread(outbox.release, self._engine, holder, keep, now)

    async def deliver_due(self) -> int:
        """Deliver every due action once; return how many were delivered."""
        delivered = 0
        async with self._delivering:  # one pass at a time; the claim guards other processes
            for network, adapter in self._adapters.items():
                for action in await asyncio.to_thread(outbox.due, self._engine, network):
                    delivered += await self._deliver(adapter, action)
        return delivered

    async def _deliver(self, adapter: Protocol, action: OutboundAction) -> int:
        assert action.id is not None  # noqa: S101  (a stored action)
        action_id = action.id
        self._sending.add(action_id)
        try:
            return await self._claim_and_send(adapter, action, action_id)
        finally:
            self._sending.discard(action_id)

    async def _claim_and_send(
        self, adapter: Protocol, action: OutboundAction, action_id: int
    ) -> int:
        claimed = await asyncio.to_thread(outbox.claim, self._engine, action_id, self._holder())
        if claimed is None:
            return 0
        try:
            typed = actions.decode(claimed.kind, claimed.payload)
            if type(typed) not in adapter.delivers:
                raise DeliveryError(
                    f"the {adapter.network} bot does not deliver {typed.kind!r}", permanent=True
                )
            outgoing = Outgoing(
                action=typed,
                key=claimed.idempotency_key,
                action_id=action_id,
                created_at=claimed.created_at,
                attempts=claimed.attempts,
            )
        except (UnknownActionError, DeliveryError) as e:
            log.error("%s %s cannot be delivered: %s", action.network, action.idempotency_key, e)
            await self._record(claimed, outbox.mark_failed, str(e))
            return 0
        try:
            delivered = await adapter.deliver(outgoing)
        except DeliveryError as e:
            if e.permanent:
                log.warning("%s %s failed: %s", action.network, action.idempotency_key, e)
                await self._record(claimed, outbox.mark_failed, str(e))
            else:
                await self._record(claimed, outbox.mark_retry, str(e), e.retry_at)
            if e.retry_at is not None:  # the rate limit's reset
                self.rate_limited[action.network] += 1
            return 0
        except Exception as e:  # an unexpected failure must not stop the other actions
            log.exception("%s %s: unexpected failure", action.network, action.idempotency_key)
            await self._record(claimed, outbox.mark_retry, repr(e), None)
            return 0
        await self._record(claimed, outbox.mark_done, delivered.remote_ref)
        return 1

    async def _record(
        self, claimed: OutboundAction, change: Callable[..., object], *args: Any
    ) -> None:
        """Record what the network answered, however long the database takes to come back:
        given up, the send would be made again (the network already has it). A try whose
        commit landed but whose answer was lost is not made again over a later claim."""
        assert claimed.id is not None  # noqa: S101  (a stored action)
        wait, action_id = 0.5, claimed.id
        first = True
        while True:
            try:
                if first or await asyncio.to_thread(
                    outbox.still_claimed, self._engine, action_id, claimed.attempts
                ):
                    await asyncio.to_thread(change, self._engine, action_id, *args)
                return
            except DBAPIError as e:
                if not (isinstance(e, OperationalError) or e.connection_invalidated):
                    raise
                log.warning("recording a send failed (%s); trying again", type(e.orig).__name__)
            first = False
            await asyncio.sleep(wait)
            wait = min(wait * 2, RECORD_RETRY_MAX_SEC)
