"""The core of the running service, knowing no network: it handles each post addressed to
the bot exactly once, and delivers the outbox through the adapters.

Lifecycle (one owner): :meth:`Service.start` recovers the outbox, starts the adapters, the
scheduler and one supervised receive task per adapter; :meth:`Service.stop` undoes it all.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from shared import outbox
from shared.db.models import InboundPost
from shared.protocol import DeliveryError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.engine import Engine

    from shared.commands import Answer, CommandRegistry
    from shared.db.models import OutboundAction
    from shared.protocol import IncomingPost, Protocol

log = logging.getLogger(__name__)

DELIVERY_INTERVAL_SEC = 5.0
RESTART_FIRST_SEC = 1.0
RESTART_MAX_SEC = 64.0  # the cap atproto's websocket client uses too
REPLY = "reply"


class Service:
    """Both bots' shared brain; adapters are injected, one per configured network."""

    def __init__(
        self,
        engine: Engine,
        adapters: Sequence[Protocol],
        commands: CommandRegistry,
        delivery_interval_sec: float = DELIVERY_INTERVAL_SEC,
    ) -> None:
        self._engine = engine
        self._adapters = {adapter.network: adapter for adapter in adapters}
        self._commands = commands
        self._delivery_interval_sec = delivery_interval_sec
        self._scheduler: AsyncIOScheduler | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._delivering = asyncio.Lock()

    @property
    def adapters(self) -> list[Protocol]:
        """The running adapters."""
        return list(self._adapters.values())

    async def start(self) -> None:
        """Recover the outbox, log the adapters in, start delivering and receiving."""
        recovered = await asyncio.to_thread(outbox.recover, self._engine)
        if recovered:
            log.info("%d outbound actions interrupted by a stop will be completed", recovered)
        for adapter in self._adapters.values():
            await adapter.start()
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_job(
            self.deliver_due,
            "interval",
            seconds=self._delivery_interval_sec,
            id="deliver",
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
        )
        self._scheduler.start()
        for adapter in self._adapters.values():
            task = asyncio.create_task(self._supervise(adapter), name=f"receive-{adapter.network}")
            self._tasks.append(task)

    async def stop(self) -> None:
        """Stop receiving and delivering; close the adapters."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        for adapter in self._adapters.values():
            await adapter.close()

    async def _supervise(self, adapter: Protocol) -> None:
        """Run an adapter's receive loop; restart it after a failure, with backoff and jitter."""
        delay = RESTART_FIRST_SEC
        while True:
            started = asyncio.get_running_loop().time()
            try:
                await adapter.receive_forever(self.receive)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: receiving failed; restarting in %.0f s", adapter.network, delay)
            if asyncio.get_running_loop().time() - started > RESTART_MAX_SEC:
                delay = RESTART_FIRST_SEC  # it ran healthily for a while: start over
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311  (jitter)
            delay = min(delay * 2, RESTART_MAX_SEC)

    async def receive(self, post: IncomingPost) -> None:
        """Handle a post addressed to the bot, once: a repeat is dropped."""
        queued = await asyncio.to_thread(self._handle, post)
        if queued:
            self.wake_delivery()

    def _handle(self, post: IncomingPost) -> bool:
        with Session(self._engine) as session:
            try:
                with session.begin():
                    session.add(
                        InboundPost(
                            network=post.network, post_id=post.post_id, author=post.author.subject
                        )
                    )
                    session.flush()
                    answer = self._commands.answer(post, session)
                    return outbox.queue(
                        session,
                        key=f"{REPLY}:{post.network}:{post.post_id}",
                        network=post.network,
                        kind=REPLY,
                        payload=reply_payload(post, answer),
                    )
            except IntegrityError:
                log.debug("%s %s was handled before", post.network, post.post_id)
                return False

    def wake_delivery(self) -> None:
        """Deliver now rather than at the next interval."""
        if self._scheduler is not None:
            self._scheduler.modify_job("deliver", next_run_time=datetime.now(UTC))

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
        claimed = await asyncio.to_thread(outbox.claim, self._engine, action_id)
        if claimed is None:
            return 0
        try:
            delivered = await adapter.deliver(claimed)
        except DeliveryError as e:
            if e.permanent:
                log.warning("%s %s failed: %s", action.network, action.idempotency_key, e)
                await asyncio.to_thread(outbox.mark_failed, self._engine, action_id, str(e))
            else:
                await asyncio.to_thread(
                    outbox.mark_retry, self._engine, action_id, str(e), e.retry_at
                )
            return 0
        except Exception as e:  # an unexpected failure must not stop the other actions
            log.exception("%s %s: unexpected failure", action.network, action.idempotency_key)
            await asyncio.to_thread(outbox.mark_retry, self._engine, action_id, repr(e), None)
            return 0
        await asyncio.to_thread(outbox.mark_done, self._engine, action_id, delivered.remote_ref)
        return 1


def reply_payload(post: IncomingPost, answer: Answer) -> dict[str, object]:
    """What an adapter needs to answer ``post``, in a storable form."""
    return {
        "text": answer.text,
        "lang": answer.lang.value,
        "to_post": post.post_id,
        "to_author": {"subject": post.author.subject, "handle": post.author.handle},
        "direct": post.direct,
        "context": post.reply_context,
    }
