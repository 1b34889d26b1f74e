"""The core of the running service, knowing no network: it handles each post addressed to
the bot exactly once, and delivers the outbox through the adapters.

Lifecycle (one owner): :meth:`Service.start` recovers the outbox, starts the adapters, the
scheduler and one supervised receive task per adapter; :meth:`Service.stop` undoes it all.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import typing
from dataclasses import replace
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from shared import lease, outbox, retention, roles
from shared.actions import Action, Reply
from shared.backoff import Backoff
from shared.bot import privacy
from shared.bot.commands import Answer, Environment
from shared.bot.messages import answer_language, say
from shared.clock import utcnow
from shared.db.models import Identity, InboundPost
from shared.errors import HqxError
from shared.identity import attestation, handles, linking
from shared.loop_state import LoopState
from shared.portal import audience
from shared.protocol import ReceiveError
from shared.reconnection import grants
from shared.reconnection.runner import Runner
from shared.sending import Sender
from shared.vocabulary import Network, Role

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Sequence

    from sqlalchemy.engine import Engine

    from shared.bot.commands import CommandRegistry, Outbound, Parsed
    from shared.config import Reconnection
    from shared.identity.accounts import Account, XPost
    from shared.protocol import IncomingPost, Protocol

log = logging.getLogger(__name__)

ALL_ROLES = frozenset(Role)
"""The all-in-one service."""


class XPostReader(typing.Protocol):
    """Reads posts on X (X's oEmbed in production)."""

    async def read(self, url: str) -> XPost:
        """The post; raises :class:`HqxError` with a one-line reason when it cannot."""

    async def close(self) -> None:
        """Release connections."""


DELIVERY_INTERVAL_SEC = 5.0
REVOCATIONS_INTERVAL_SEC = 60.0
"""How often grants taken back are told to their servers (each after its own delay)."""
PRUNE_INTERVAL_HOURS = 24
# Handles change (on Bluesky, a person points their DID at a new name): they are read again
# from the networks this often, besides on every post a person sends.
HANDLE_REFRESH_HOURS = 24
# People whose X accounts, links or consents changed are matched again this often.
MATCH_INTERVAL_SEC = 60
# A flood from one account: past this many posts in the window, one polite answer, then
# silence until the window has passed.
THROTTLE_POSTS = 8
THROTTLE_WINDOW = timedelta(minutes=10)
POISON_ATTEMPTS = 3


class Service:
    """Both bots' shared brain; adapters are injected, one per configured network."""

    def __init__(
        self,
        engine: Engine,
        adapters: Sequence[Protocol],
        commands: CommandRegistry,
        secret_key: str | None = None,
        delivery_interval_sec: float = DELIVERY_INTERVAL_SEC,
        public_url: str | None = None,
        x_posts: XPostReader | None = None,
        old_keys: tuple[str, ...] = (),
        reconnection: Reconnection | None = None,
        roles: frozenset[Role] = ALL_ROLES,
    ) -> None:
        """``reconnection``: when to deliver people's contacts; ``None``: never (a service
        that only answers). ``roles``: what this process does (all of them: the all-in-one
        service, alone on its database)."""
        self._engine = engine
        self._reconnection = reconnection
        self._secret_key = secret_key
        self._old_keys = old_keys
        self._public_url = public_url
        self._runner = Runner(engine, public_url, self.wake_delivery)
        self._x_posts = x_posts
        self._adapters: dict[Network, Protocol] = {a.network: a for a in adapters}
        self._commands = commands
        self._roles = roles
        self._seats: dict[Network, lease.Lease] = {}
        """The networks this bots process is the active receiver of, with their seats."""
        self._scheduler: AsyncIOScheduler | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._jobs: set[asyncio.Task[object]] = set()
        """Scheduler jobs running now: stopping awaits them."""
        self._receiving = {network: LoopState() for network in self._adapters}
        if Role.BOTS not in roles:
            for state in self._receiving.values():
                state.waiting("elsewhere", "the bots processes receive")
        self._sender = Sender(engine, self._adapters, delivery_interval_sec, lambda: self.holder)
        self._lease: lease.Lease | None = None
        self.lease_lost = asyncio.Event()
        """Set when another process took the database lease over: this one stops (its
        owner ends the process, whose supervisor starts it again, waiting its turn)."""
        self._lag: dict[Network, float] = {}
        """Seconds between the last post received of each network and its publication."""
        self._failures: dict[tuple[str, str], int] = {}
        """Failed attempts at handling a post, by (network, post id)."""

    @property
    def engine(self) -> Engine:
        """The database the service works on."""
        return self._engine

    @property
    def adapters(self) -> list[Protocol]:
        """The running adapters."""
        return list(self._adapters.values())

    async def start(self, *, wait: bool = False) -> None:
        """Take the database's lease, recover the outbox, log the adapters in, start
        delivering and receiving. ``wait``: while another service holds the lease, wait
        for it (a standby that takes over when the other stops or dies).

        Raises:
            LeaseHeldError: another service runs on this database (and ``wait`` is off).
        """
        if self._roles == ALL_ROLES:
            self._lease = await self._take_lease(wait)
        else:  # a role process: its own lease, beside others
            self._lease = await asyncio.to_thread(roles.join, self._engine)
        try:
            await self._start()
        except BaseException:
            await asyncio.to_thread(lease.release, self._engine, self._lease)
            self._lease = None
            raise

    async def _take_lease(self, wait: bool) -> lease.Lease:
        said = False
        while True:
            try:
                return await asyncio.to_thread(_alone, self._engine)
            except lease.LeaseHeldError as e:
                if not wait:
                    raise
                if not said:
                    log.warning("waiting for the database lease: %s", e)
                    said = True
            await asyncio.sleep(lease.WAIT_POLL_SEC)

    async def _start(self) -> None:
        working = Role.WORK in self._roles
        if working:
            recovered = await asyncio.to_thread(outbox.recover, self._engine)
            if recovered:
                log.info("%d outbound actions interrupted by a stop will be completed", recovered)
        for adapter in self._adapters.values():
            await adapter.start()
        if working:
            self._schedule()
            self._tasks.append(asyncio.create_task(self._deliver_forever(), name="deliver"))
        assert self._lease is not None  # noqa: S101  (taken at start)
        holding = roles.hold(self._engine, self._lease, self._lose_lease)
        self._tasks.append(asyncio.create_task(holding, name="lease"))
        if Role.BOTS in self._roles:
            for adapter in self._adapters.values():
                receiving = self._receive_for(adapter)
                self._tasks.append(
                    asyncio.create_task(receiving, name=f"receive-{adapter.network}")
                )

    def _schedule(self) -> None:
        """The scheduled jobs (of a ``work`` process)."""
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        jobs: list[tuple[Callable[[], Awaitable[object]], dict[str, Any]]] = [
            (self.tell_revocations, {"seconds": REVOCATIONS_INTERVAL_SEC}),
            (self._recover_outbox, {"seconds": outbox.RECOVER_INTERVAL_SEC}),
            (self._prune, {"hours": PRUNE_INTERVAL_HOURS}),
            (self.match_requested, {"seconds": MATCH_INTERVAL_SEC}),
            (self.refresh_handles, {"hours": HANDLE_REFRESH_HOURS}),
            (self.count_audiences, {"seconds": audience.COUNT_EVERY.total_seconds()}),
        ]
        if self._reconnection is not None:
            every = {"seconds": self._reconnection.check_sec, "next_run_time": utcnow()}
            jobs.append((self.reconnect_when_due, every))
        for job, when in jobs:
            name = job.__name__.strip("_").replace("_", "-")
            self._scheduler.add_job(
                self._owned(job, name), "interval", id=name, max_instances=1, **when
            )
        self._scheduler.start()

    async def _receive_for(self, adapter: Protocol) -> None:
        """Receive for ``adapter``'s network: at once in the all-in-one service, else while
        this process holds the network's seat (the writes fenced by it)."""
        if self._roles == ALL_ROLES:
            await self._supervise(adapter)
            return

        state = self._receiving[adapter.network]

        async def receive(seat: lease.Lease) -> None:
            self._seats[adapter.network] = seat
            try:
                await self._supervise(adapter)
            finally:
                self._seats.pop(adapter.network, None)
                if state.status != "stopped":  # a stop for good stays said
                    state.waiting("standby", "another bots process receives")

        state.waiting("standby", "another bots process receives")
        await roles.seated(self._engine, adapter.network, receive)

    async def stop(self) -> None:
        """Stop receiving and delivering; close the adapters."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)  # no new job; the running ones end below
            self._scheduler = None
        for job in self._jobs:
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
        for adapter in self._adapters.values():
            await adapter.close()
        if self._x_posts is not None:
            await self._x_posts.close()
        if self._lease is not None:
            await asyncio.to_thread(lease.release, self._engine, self._lease)
            self._lease = None

    def leases(self) -> list[str]:
        """The leases this process holds now (its own, and the bots seats it holds)."""
        own = [self._lease] if self._lease is not None else []
        return [held.name for held in (*own, *self._seats.values())]

    @property
    def holder(self) -> str | None:
        """The holder of this process's lease, which its sends and imports are claimed
        under (``None`` while it holds none)."""
        return self._lease.holder if self._lease is not None else None

    def _fence(self, session: Session, network: Network) -> None:
        """Refuse to write, in ``session``'s transaction, for a post of ``network`` unless
        this process holds the lease it receives under (a process frozen past its lease's
        expiry must not answer what its successor answers): the service's, or in a bots
        process the network's seat."""
        held = self._lease if self._roles == ALL_ROLES else self._seats.get(network)
        if held is None and self._lease is not None:
            raise lease.LeaseLostError(f"this process is not {network}'s active bot")
        if held is not None:
            lease.fenced(session, held)

    def _lose_lease(self, why: str) -> None:
        """Stop delivering and receiving: two processes must never both send."""
        if self.lease_lost.is_set():
            return
        log.critical("%s: stopping", why)
        self.lease_lost.set()
        for network, state in self._receiving.items():
            state.stopped(f"{network}: the database lease was lost")
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()

    async def _supervise(self, adapter: Protocol) -> None:
        """Run an adapter's receive loop; restart it after a failure, with backoff; stop it
        for good on a permanent failure (a revoked token), which it reports."""
        state = self._receiving[adapter.network]
        backoff = Backoff()
        while True:
            backoff.started()
            state.started()
            try:
                await adapter.receive_forever(self.receive)
            except asyncio.CancelledError:
                raise
            except ReceiveError as e:
                if e.permanent:
                    log.error("%s: receiving stopped: %s", adapter.network, e)
                    state.stopped(str(e))
                    return
                log.warning("%s: receiving failed (%s); trying again", adapter.network, e)
                state.failed(str(e))
            except Exception as e:
                log.exception("%s: receiving failed; restarting", adapter.network)
                state.failed(repr(e))
            await backoff.wait()

    def _owned(
        self, job: Callable[[], Awaitable[object]], name: str
    ) -> Callable[[], Awaitable[None]]:
        """``job`` as the scheduler runs it, owned by the service: stopping awaits it, and a
        failure is logged with its name; with several processes, under the job's lease (one
        runs it, the others skip this turn)."""

        async def run() -> None:
            task = asyncio.current_task()
            assert task is not None  # noqa: S101  (the scheduler runs it as a task)
            self._jobs.add(task)
            try:
                if self._roles == ALL_ROLES:
                    await job()
                    return
                async with roles.job(self._engine, name) as mine:
                    if mine:
                        await job()
            except asyncio.CancelledError:  # stopping: the job ends with the service, quietly
                log.info("scheduled job %s stopped with the service", name)
            except Exception:
                log.exception("scheduled job %s failed", name)
            finally:
                self._jobs.discard(task)

        return run

    async def count_audiences(self) -> int:
        """Every approved outlet's audience counted again, for its page; how many outlets."""
        return await asyncio.to_thread(audience.count_all, self._engine)

    async def match_requested(self) -> int:
        """Recompute the matches of people whose request is pending (the watch list at
        work), a lapsed ``forget`` first; return how many people."""
        await asyncio.to_thread(privacy.lapse_forget_requests, self._engine)
        return await self._runner.match_requested()

    async def reconnect_when_due(self) -> list[int]:
        """Deliver people's contacts when it is time (:class:`Runner`); the runs made."""
        if self._reconnection is None:
            return []
        return await self._runner.when_due(self._reconnection, list(self._adapters.values()))

    def receive_lag(self) -> dict[Network, float]:
        """Seconds from publication to this process's reading, of each network's last post."""
        return dict(self._lag)

    def matching_times(self) -> dict[str, tuple[float, float]]:
        """The matching's last and total seconds in this process, by kind (``requested``:
        people who asked, ``full``: everyone, in a run)."""
        return self._runner.matching_times()

    def rate_limited(self) -> dict[Network, int]:
        """Sends this process held back for a network's rate limit, by network."""
        return dict(self._sender.rate_limited)

    def receiving(self) -> dict[Network, LoopState]:
        """How each adapter's receive loop is, by network."""
        return dict(self._receiving)

    async def refresh_handles(self) -> int:
        """Read every known account's current handle from its network; how many changed
        (:func:`shared.identity.handles.refresh`)."""
        return await handles.refresh(self._engine, self._adapters)

    async def tell_revocations(self) -> list[str]:
        """Tell people's servers about the grants taken back that are due; the servers that
        could not be told now (:func:`shared.reconnection.grants.tell_servers`)."""
        if self._secret_key is None:
            return []
        return await grants.tell_servers(self._engine, self._secret_key, self._adapters)

    async def _recover_outbox(self) -> None:
        """Sends a dead process left claimed, or this one lost track of (its database went
        down under a claim), go back to the queue, and are sent at once."""
        recovered = await asyncio.to_thread(outbox.recover, self._engine)
        recovered += await self._sender.release_forgotten()
        if recovered:
            log.info("%d outbound actions left claimed will be completed", recovered)
            self.wake_delivery()

    async def _prune(self) -> None:
        pruned = await asyncio.to_thread(retention.prune, self._engine)
        log.info("pruned %s", pruned)

    def networks(self) -> frozenset[str]:
        """The networks with a running bot."""
        return frozenset(self._adapters)

    async def resolve(self, network: Network, handle: str) -> Account | None:
        """The account ``handle`` names on ``network``, found by that network's bot."""
        adapter = self._adapters.get(network)
        return None if adapter is None else await adapter.resolve(handle)

    def reads_x(self) -> bool:
        """Whether the service reads posts on X (to prove X accounts)."""
        return self._x_posts is not None

    async def x_post(self, url: str) -> XPost | str | None:
        """A post on X, a one-line reason it cannot be read, or ``None`` if X is not read."""
        if self._x_posts is None:
            return None
        try:
            return await self._x_posts.read(url)
        except HqxError as e:
            return str(e)

    async def receive(self, post: IncomingPost) -> None:
        """Handle a post addressed to the bot, once: a repeat is dropped.

        A failure leaves the post unhandled, so the adapter hands it over again; a post that
        fails :data:`POISON_ATTEMPTS` times is recorded as handled, so that it cannot hold up
        every post behind it, and answered with a short reference that the log line carries
        too (the person can tell the operators, who find it).
        """
        if post.created_at is not None:  # how far behind the network this process reads
            self._lag[post.network] = (utcnow() - post.created_at).total_seconds()
        try:
            parsed = self._commands.parse(post)
            prepared = await self._commands.prepare(parsed, post, self)
            queued = await asyncio.to_thread(self._handle, post, parsed, prepared)
        except lease.LeaseLostError as e:  # not the post's fault: this process must stop
            self._lose_lease(str(e))
            raise
        except Exception:
            key = (str(post.network), post.post_id)
            self._failures[key] = self._failures.get(key, 0) + 1
            if self._failures[key] < POISON_ATTEMPTS:
                raise
            ref = failure_reference(post)
            log.exception("%s %s failed %d times: set aside, answered with reference %s",
                          *key, self._failures.pop(key), ref)  # fmt: skip
            if await asyncio.to_thread(self._set_aside, post, ref):
                self.wake_delivery()
            return
        self._failures.pop((str(post.network), post.post_id), None)
        if queued:
            self.wake_delivery()

    def _set_aside(self, post: IncomingPost, ref: str) -> bool:
        """Record the post handled, and answer it with its reference (in the same
        transaction: once); whether an answer was queued."""
        lang = answer_language(post.languages, post.text)
        with Session(self._engine) as session, session.begin():
            self._fence(session, post.network)
            session.merge(
                InboundPost(network=post.network, post_id=post.post_id, author=post.author.subject)
            )
            return self._queue(session, post, Answer(say("failed", lang, ref=ref), lang))

    def delivers(self, network: Network, kind: type[Action]) -> bool:
        """Whether a running bot on ``network`` delivers actions of ``kind``."""
        adapter = self._adapters.get(network)
        return adapter is not None and kind in adapter.delivers

    def environment(self) -> Environment:
        """What handlers (and the portal) may use besides the database, as of now."""
        handles = {network: a.bot_handle for network, a in self._adapters.items()}
        return Environment(
            secret_key=self._secret_key,
            now=utcnow(),
            public_url=self._public_url,
            bot_handles=handles,
            delivers={network: a.delivers for network, a in self._adapters.items()},
            old_keys=self._old_keys,
            reconnect_at=self._reconnection.cutover_at if self._reconnection else None,
        )

    def _handle(self, post: IncomingPost, parsed: Parsed, prepared: object) -> bool:
        with Session(self._engine) as session:
            try:
                with session.begin():
                    self._fence(session, post.network)
                    session.add(
                        InboundPost(
                            network=post.network, post_id=post.post_id, author=post.author.subject
                        )
                    )
                    session.flush()
                    linking.refresh_author(session, post.network, post.author)
                    answer = self._throttled(session, post, parsed) or self._commands.answer(
                        parsed, post, session, self.environment(), prepared
                    )
                    linking.keep_thread(session, post, parsed.lang)
                    return self._queue(session, post, answer)
            except IntegrityError:
                log.debug("%s %s was handled before", post.network, post.post_id)
                return False

    def _throttled(self, session: Session, post: IncomingPost, parsed: Parsed) -> Answer | None:
        """Past the flood limit: one polite answer, then silence (``text`` None)."""
        since = utcnow() - THROTTLE_WINDOW
        recent = session.exec(
            select(func.count())
            .select_from(InboundPost)
            .where(
                InboundPost.author == post.author.subject,
                col(InboundPost.received_at) >= since,
            )
        ).one()
        if recent <= THROTTLE_POSTS:
            return None
        text = say("throttled", parsed.lang) if recent == THROTTLE_POSTS + 1 else None
        return Answer(text, parsed.lang)

    def _queue(self, session: Session, post: IncomingPost, answer: Answer) -> bool:
        queued = False
        if answer.person_id is None and not answer.scrub:
            # Every answer to a known person is theirs: forgetting them deletes it too.
            known = Identity.find(session, post.network, post.author.subject)
            answer = replace(answer, person_id=known.person_id if known else None)
        if answer.text is not None:
            queued = outbox.queue(
                session,
                key=f"{Reply.kind}:{post.network}:{post.post_id}",
                network=post.network,
                action=outbox.reply_to(post, answer.text, answer.lang, scrub=answer.scrub),
                person_id=answer.person_id,
            )
        return self.queue(session, answer.also) or queued

    def queue(self, session: Session, outbounds: Iterable[Outbound]) -> bool:
        """Queue what a handler (or the portal) wants sent, in ``session``'s transaction,
        where a bot delivers it; whether anything new was queued."""
        queued = False
        for outbound in outbounds:
            if not self.delivers(outbound.network, type(outbound.action)):
                log.warning("no %s bot delivers %s: not queued", outbound.network, outbound.key)
                continue
            queued |= outbox.queue(
                session,
                key=outbound.key,
                network=outbound.network,
                action=outbound.action,
                person_id=outbound.person_id,
            )
        return queued

    def reattest(self, person_ids: list[int], trigger: str) -> None:
        """Rewrite (or withdraw) the attestations of people whose X accounts changed
        standing (a claim, a dispute), and deliver them now."""
        env = self.environment()
        with Session(self._engine) as session, session.begin():
            changes = attestation.after_x_change(session, person_ids, trigger=trigger, env=env)
            self.queue(session, changes)
        self.wake_delivery()

    async def _deliver_forever(self) -> None:
        await self._sender.forever()

    def wake_delivery(self) -> None:
        """Deliver now rather than at the next interval."""
        self._sender.wake()

    async def deliver_due(self) -> int:
        """Deliver every due action once; return how many were delivered."""
        return await self._sender.deliver_due()


def _alone(engine: Engine) -> lease.Lease:
    """The all-in-one service's lease, once no role process runs on the database."""
    running = roles.live(engine, roles.PROCESS)
    if running:
        raise lease.LeaseHeldError(
            f"processes in roles run on this database ({running[0]}): stop them first"
        )
    return lease.acquire(engine)


def failure_reference(post: IncomingPost) -> str:
    """A short reference for a post the service could not handle, the same in the answer and
    in the log: derived from the post, so an operator can find it from either."""
    digest = hashlib.sha256(f"{post.network}:{post.post_id}".encode()).digest()
    return base64.b32encode(digest[:5]).decode()
