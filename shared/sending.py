"""Sending the outbox through the adapters: each due action claimed (by this process's
lease), handed to its network's adapter, and recorded as done, to retry or failed. A pass
at a time in a process; the claim guards against other processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import TYPE_CHECKING

from shared import actions, outbox
from shared.actions import UnknownActionError
from shared.protocol import DeliveryError, Outgoing

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from sqlalchemy.engine import Engine

    from shared.db.models import OutboundAction
    from shared.protocol import Protocol
    from shared.vocabulary import Network

log = logging.getLogger(__name__)


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
            await asyncio.to_thread(outbox.mark_failed, self._engine, action_id, str(e))
            return 0
        try:
            delivered = await adapter.deliver(outgoing)
        except DeliveryError as e:
            if e.permanent:
                log.warning("%s %s failed: %s", action.network, action.idempotency_key, e)
                await asyncio.to_thread(outbox.mark_failed, self._engine, action_id, str(e))
            else:
                await asyncio.to_thread(
                    outbox.mark_retry, self._engine, action_id, str(e), e.retry_at
                )
            if e.retry_at is not None:  # the rate limit's reset
                self.rate_limited[action.network] += 1
            return 0
        except Exception as e:  # an unexpected failure must not stop the other actions
            log.exception("%s %s: unexpected failure", action.network, action.idempotency_key)
            await asyncio.to_thread(outbox.mark_retry, self._engine, action_id, repr(e), None)
            return 0
        await asyncio.to_thread(outbox.mark_done, self._engine, action_id, delivered.remote_ref)
        return 1
