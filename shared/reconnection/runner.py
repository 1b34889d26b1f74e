"""The reconnection at work, as the service's scheduler runs it: an interrupted run first,
then the cutover's full match and delivery, the scheduled re-match (everyone's due contacts
delivered again; the matches of what changed only), or what new matches brought; each
run recorded before it starts (never made twice), each network's due contacts delivered a
batch at a time (whom each person follows read first, then one transaction)."""

from __future__ import annotations

import asyncio
import bisect
import functools
import logging
import time
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from sqlmodel import Session

from shared import actions
from shared.clock import utcnow
from shared.errors import HqxError
from shared.portal import uploads
from shared.protocol import ThrottledError
from shared.reconnection import budget, delivery, due, matching, runs, waiting
from shared.vocabulary import Network, RunKind

T = TypeVar("T")

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Engine

    from shared.config import Reconnection
    from shared.db.models import ReconnectRun
    from shared.protocol import Protocol

log = logging.getLogger(__name__)

RECONNECT_BATCH = 200
"""People whose contacts are delivered in one transaction (their follows read first)."""
THROTTLED_MAX_WAIT_SEC = 300.0
"""A network's read limit spent: wait for its reset, this long at most..."""
FOLLOWS_ATTEMPTS = 3
"""...and this many times."""


class Runner:
    """Runs the reconnection on a database, for the networks it is handed."""

    def __init__(
        self, engine: Engine, public_url: str | None, run_done: Callable[[], None]
    ) -> None:
        """``run_done``: called after each run (the service wakes its delivery)."""
        self._engine = engine
        self._public_url = public_url
        self._run_done = run_done
        self._timed: dict[str, tuple[float, float]] = {}
        """Matching's (last, total) seconds, by kind."""
        self._waitlist = waiting.Waitlist()

    def matching_times(self) -> dict[str, tuple[float, float]]:
        """Matching's last and total seconds in this process, by kind."""
        return dict(self._timed)

    async def _timed_call(self, kind: str, job: Callable[[], T]) -> T:
        started = time.monotonic()
        try:
            return await asyncio.to_thread(job)
        finally:
            took = time.monotonic() - started
            self._timed[kind] = (took, self._timed.get(kind, (0.0, 0.0))[1] + took)

    async def match_requested(self) -> int:
        """Recompute the matches of people whose request is pending; how many people."""
        matched = 0
        request = functools.partial(matching.run_requested, self._engine)
        while done := await self._timed_call("requested", request):
            matched += done
        if matched:
            log.info("matched %d people again", matched)
        return matched

    async def when_due(self, plan: Reconnection, adapters: list[Protocol]) -> list[int]:
        """The runs due now (``plan``: the cutover and the re-match's period), made."""
        if utcnow() < plan.cutover_at:
            return []
        await self.match_requested()  # who joined since: their pairs, before what is due
        made = []
        for run in await asyncio.to_thread(runs.unfinished, self._engine):
            made.append(await self._run(run, adapters))
        next_run = await asyncio.to_thread(self._next_run, plan)
        if next_run is not None:
            made.append(await self._run(next_run, adapters))
        return made

    def _next_run(self, plan: Reconnection) -> ReconnectRun | None:
        now = utcnow()
        if not runs.cutover_done(self._engine):
            return runs.start_run(self._engine, RunKind.CUTOVER.value, RunKind.CUTOVER)
        last = runs.last_rematch(self._engine)
        if last is None or now - last >= timedelta(hours=plan.rematch_hours):
            key = f"rematch:{now.isoformat(timespec='minutes')}"
            return runs.start_run(self._engine, key, RunKind.REMATCH)
        if runs.news(self._engine):
            key = f"watch:{now.isoformat(timespec='seconds')}"
            return runs.start_run(self._engine, key, RunKind.WATCH)
        return None

    async def _run(self, run: ReconnectRun, adapters: list[Protocol]) -> int:
        assert run.id is not None  # noqa: S101  (stored)
        log.info("reconnection run %s starts", run.key)
        # Only the cutover matches everyone: afterwards every change asks for its people's
        # matches (done by match_requested before any run), so that a re-match costs what
        # changed; a full rebuild is the operator's (`hqx reconnect match`).
        if run.kind == RunKind.CUTOVER:
            everyone = functools.partial(matching.match_all, self._engine)
            found = await self._timed_call("full", everyone)
            await asyncio.to_thread(runs.count_found, self._engine, run.id, found.found)
        for adapter in adapters:
            await self._deliver_contacts(adapter, run)
        await asyncio.to_thread(runs.finish_run, self._engine, run.id)
        log.info("reconnection run %s done", run.key)
        self._run_done()
        return run.id

    def _channel(self, adapter: Protocol) -> delivery.Channel:
        """What a pass needs of the network's bot."""
        return delivery.Channel(
            network=adapter.network,
            collections=actions.WriteCollection in adapter.delivers,
            text_limit=adapter.text_limit,
            collection_url=adapter.collection_url,
            budget=adapter.write_budget,
            messages=adapter.messages,
            message_cost=adapter.message_cost,
            follow_pace=adapter.follow_pace,
            # The following list is in Mastodon's import format (reports.following_list).
            csv_link=self._following_link
            if self._public_url and adapter.network == Network.MASTODON
            else None,
            space=bool(self._public_url),
        )

    async def _deliver_contacts(self, adapter: Protocol, run: ReconnectRun) -> None:
        """Every person's due contacts on ``adapter``'s network, a batch at a time: their
        follows read, then one transaction records and queues it all. Who is waiting is read
        once, at the start, from what the last run left (:class:`waiting.Waitlist`).
        Everyone never told is told (their messages paced over the next days when today's
        budget is spent); then, once the bot's budget allows nothing more, only those who
        can be given follows are read: a daily run costs what it can deliver, not a read of
        everyone waiting."""
        channel = self._channel(adapter)
        found = await asyncio.to_thread(self._waiting, channel.network)
        if channel.collections:
            channel = replace(channel, demand=found.demand)
        after, untold = 0, 0
        if channel.budget is not None and channel.message_cost:
            untold = await asyncio.to_thread(self._untold, channel.network)
        spent = not untold and await asyncio.to_thread(self._spent, channel)
        while people := _next(found.followable if spent else found.people, after):
            batch = await asyncio.to_thread(self._due, channel.network, people)
            after = people[-1]
            untold = max(0, untold - sum(1 for item in batch if item.first))
            channel = replace(channel, reserved=untold * channel.message_cost)
            follows: dict[int, frozenset[str]] = {}
            for item in batch:
                try:
                    follows[item.person] = await self._follows(adapter, item)
                except HqxError as e:  # left due: the next run tries again
                    log.warning("%s: %s", adapter.network, e)
            await asyncio.to_thread(self._deliver_batch, channel, run, batch, follows)
            self._waitlist.delivered(channel.network, people)
            spent = spent or (not untold and await asyncio.to_thread(self._spent, channel))

    async def _follows(self, adapter: Protocol, item: due.Due) -> frozenset[str]:
        """Whom a person follows on the adapter's network; when its rate limit is spent,
        wait for the reset (a few minutes at most) rather than ask again and again."""
        for _ in range(FOLLOWS_ATTEMPTS):
            try:
                return await adapter.follows(item.subject, item.handle)
            except ThrottledError as e:
                wait = (e.until - utcnow()).total_seconds()
                log.info("%s: %s; waiting %.0f s", adapter.network, e, max(wait, 0))
                await asyncio.sleep(min(max(wait, 1.0), THROTTLED_MAX_WAIT_SEC))
        raise HqxError(f"{adapter.network}: rate limited {FOLLOWS_ATTEMPTS} times in a row")

    def _waiting(self, network: Network) -> waiting.Waiting:
        with Session(self._engine) as session:
            return self._waitlist.read(session, network)

    def _untold(self, network: Network) -> int:
        with Session(self._engine) as session:
            return due.untold_due(session, network)

    def _spent(self, channel: delivery.Channel) -> bool:
        """Whether the bot's budget there allows nothing more now."""
        if channel.budget is None:
            return False
        with Session(self._engine) as session:
            return budget.left(session, channel.network, channel.budget, utcnow()) == 0

    def _due(self, network: Network, people: list[int]) -> list[due.Due]:
        with Session(self._engine) as session:
            return due.due(session, network, people)

    def _deliver_batch(
        self,
        channel: delivery.Channel,
        run: ReconnectRun,
        batch: list[due.Due],
        follows: dict[int, frozenset[str]],
    ) -> None:
        with Session(self._engine) as session, session.begin():
            passed = delivery.deliver(
                session, channel, run, batch, follows, now=utcnow(), issue_csv=self._issue_csv
            )
            assert run.id is not None  # noqa: S101  (stored)
            runs.count_pass(session, run.id, passed)

    def _issue_csv(self, session: Session, person_id: int) -> str:
        return uploads.issue(session, person_id, now=utcnow(), purpose=uploads.FOLLOWING)

    def _following_link(self, token: str) -> str:
        assert self._public_url is not None  # noqa: S101  (only offered with one)
        return uploads.link(self._public_url, token, uploads.FOLLOWING_PATH)


def _next(people: list[int], after: int) -> list[int]:
    """The next batch of ``people`` (sorted ids) after the id ``after``."""
    start = bisect.bisect_right(people, after)
    return people[start : start + RECONNECT_BATCH]
