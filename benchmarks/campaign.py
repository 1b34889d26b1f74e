"""Benchmark: how soon the campaign's crowd is reconnected, hour by hour after the cutover.

    python benchmarks/campaign.py [--scale 1.0] [--grants 0.3] [--days 30] [--send-ms 150]
                                  [--workers 2] [--one-at-a-time]

The real reconnection (the scheduler's runs: matching, the due pairs, the planner, the
delivery pass, the outbox's order) on a synthetic crowd at the campaign's scale
(``benchmarks/campaign_crowd.py``: 17,000 people, 23 million X connections), on SQLite,
with a simulated clock: weeks replayed in minutes. The bots are stand-ins that only count,
and refuse what the networks' published limits refuse: on Bluesky 5,000 points an hour
and 35,000 a day for the bot (a record created is 3), 1,500 follows an hour and 10,000 a
day for a person who granted follows; on Mastodon 300 statuses in 3 hours for the bot,
400 follows a day per person. Each of ``--workers`` work processes (two for 20,000 people,
``docs/RELIABILITY.md``) sends an action every ``--send-ms`` (a write's round trip); a
run's own computing time passes on the simulated clock too.

A pair (a person, a former X contact of theirs) counts as delivered on a network when the
person has it: a follow made as them is done, or the message announcing the pack or the
address that holds it is sent. Printed, per hour after the cutover: the share of the
deliverable pairs delivered, by channel, for the service's planner beside a first-come
baseline (each person in turn their own packs of everything, no shared packs) in the same
run (each strategy in its own process, at once, where there are two CPUs); then the hours
at which each reaches 50 %, 90 % and 99 %.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, cast
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, text, update  # noqa: E402
from sqlmodel import Session, col, select  # noqa: E402

from benchmarks import campaign_crowd  # noqa: E402
from bsky_service.adapter import BlueskyAdapter  # noqa: E402
from mastodon_bot.adapter import MastodonAdapter  # noqa: E402
from shared import actions, clock, outbox  # noqa: E402
from shared.config import DEFAULT_CUTOVER_AT, Reconnection  # noqa: E402
from shared.db.engine import create_sync_engine  # noqa: E402
from shared.db.models import OutboundAction  # noqa: E402
from shared.reconnection import due, matching, planner, waiting  # noqa: E402
from shared.reconnection.runner import Runner  # noqa: E402
from shared.vocabulary import ActionStatus, Network, Via  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.connection import Connection

    from sqlalchemy.engine import Engine

    from shared.protocol import Pace, Protocol

CHANNELS = (Via.FOLLOWED, Via.SHARED, Via.LIST, Via.MESSAGE, Via.BRIDGE)
MILESTONES = (0.5, 0.9, 0.99)
SEND_BATCH = 200
PUBLIC_URL = "https://helloquittex.test"


@dataclass
class Window:
    """At most ``limit`` in a window of ``seconds``, counted as the network counts: from the
    first use after the last window ended (Bluesky's PDS, ``rate-limiter-flexible``), or in
    periods aligned on the epoch (``aligned``: Mastodon's ``RateLimiter``)."""

    limit: int
    seconds: float
    aligned: bool = False
    start: float = float("-inf")
    used: int = 0

    def refusal(self, now: datetime, amount: int) -> datetime | None:
        """``None`` if ``amount`` fits now; else when it will."""
        moment = now.timestamp()
        if moment >= self.start + self.seconds:  # that window is over: the next opens
            return None if amount <= self.limit else now + timedelta(seconds=self.seconds)
        if self.used + amount > self.limit:
            return datetime.fromtimestamp(self.start + self.seconds, tz=now.tzinfo)
        return None

    def spend(self, now: datetime, amount: int) -> None:
        moment = now.timestamp()
        if moment >= self.start + self.seconds:
            self.start = moment - moment % self.seconds if self.aligned else moment
            self.used = 0
        self.used += amount


class StandIn:
    """A network's bot as the reconnection sees it, that only counts what it is asked to
    send, and refuses what the network's limits refuse."""

    def __init__(
        self,
        network: Network,
        kind: type[BlueskyAdapter] | type[MastodonAdapter],
        bot: list[Window],
        text_limit: int,
    ) -> None:
        self.network = network
        self.delivers = kind.delivers
        self.write_budget = kind.write_budget
        self.message_cost = kind.message_cost
        self.follow_pace: tuple[Pace, ...] = kind.follow_pace
        self.text_limit = text_limit
        self.messages = True
        self._bot = bot
        self._follows: dict[int, list[Window]] = {}
        self.refused: Counter[str] = Counter()

    async def follows(self, subject: str, handle: str) -> frozenset[str]:
        del subject, handle
        return frozenset()  # nobody followed anyone there before the cutover

    def collection_url(self, collection: int) -> str | None:
        if self.network != Network.BLUESKY:
            return None
        return f"https://bsky.app/starter-pack/helloquittex.test/{collection}"

    def take(self, action: OutboundAction, now: datetime) -> datetime | None:
        """Send ``action`` now if the limits allow; else when they will."""
        if action.kind == actions.FollowAccount.kind:
            assert action.person_id is not None
            paces, mastodon = self.follow_pace, self.network == Network.MASTODON
            windows = self._follows.setdefault(
                action.person_id,
                [Window(p.limit, p.window.total_seconds(), aligned=mastodon) for p in paces],
            )
            amount = 1
        else:
            windows = self._bot
            amount = action.cost if self.network == Network.BLUESKY else 1
        for window in windows:
            later = window.refusal(now, amount)
            if later is not None:
                self.refused[action.kind] += 1
                return later
        for window in windows:
            window.spend(now, amount)
        return None


def stand_ins() -> dict[Network, StandIn]:
    return {
        Network.BLUESKY: StandIn(
            Network.BLUESKY, BlueskyAdapter, [Window(5_000, 3600), Window(35_000, 86400)], 300
        ),
        Network.MASTODON: StandIn(
            Network.MASTODON, MastodonAdapter, [Window(300, 10800, aligned=True)], 500
        ),
    }


@dataclass
class Timeline:
    """When each delivered pair reached its person (hours after the cutover), by channel;
    what the stand-ins refused; what the runs cost."""

    hours: dict[Via, list[float]]
    refused: Counter[str]
    run_seconds: list[float]
    sent: Counter[str]


class Simulation:
    """One strategy's weeks after the cutover, on its own copy of the database."""

    def __init__(
        self,
        engine: Engine,
        cutover: datetime,
        send_sec: float,
        say: Callable[[str], None] = lambda _: None,
    ) -> None:
        """``send_sec``: how long one send takes the work processes together; ``say``: a
        line at each run (its day, its cost, the time simulating so far)."""
        self.engine, self.cutover, self.send_sec, self.say = engine, cutover, send_sec, say
        self.began = time.perf_counter()
        self.now = cutover
        self.bots = stand_ins()
        self.follows_done: dict[tuple[int, int, Network], datetime] = {}
        self.told: dict[tuple[Network, int, int], datetime] = {}
        """(network, run, person) -> when the last part of that run's message went."""
        self.run_seconds: list[float] = []
        self.sent: Counter[str] = Counter()

    def run(self, days: float) -> Timeline:
        end = self.cutover + timedelta(days=days)
        plan = Reconnection(cutover_at=self.cutover)
        runner = Runner(self.engine, PUBLIC_URL, run_done=lambda: None)
        adapters = cast("list[Protocol]", list(self.bots.values()))
        next_run = self.cutover
        with clock.simulated(lambda: self.now):
            while self.now < end:
                # The scheduler asks every minute; nobody joins during the simulation, so
                # only the cutover and the daily re-match are ever due: asked then.
                if self.now >= next_run:
                    started = time.perf_counter()
                    asyncio.run(runner.when_due(plan, adapters))
                    took = time.perf_counter() - started
                    self.run_seconds.append(took)
                    self.say(
                        f"  day {(self.now - self.cutover).days + 1}: its run {took:.0f} s; "
                        f"{sum(self.sent.values()):,} sent so far; "
                        f"{time.perf_counter() - self.began:.0f} s simulating"
                    )
                    next_run = self.now + timedelta(hours=plan.rematch_hours)
                    self.now += timedelta(seconds=took)
                if not self._send_due():
                    self.now = min(self._next_action(), next_run, end)
        return self._timeline()

    def _send_due(self) -> int:
        """Send what is due now, one action every ``send_sec``; how many were tried."""
        tried = 0
        for network, bot in self.bots.items():
            done: list[int] = []
            held: set[tuple[str, int | None]] = set()
            """What a refusal held back: (kind, person) for follows, (kind, None) for the
            bot's (the real sender's claim skips them)."""
            for action in outbox.due(self.engine, network, limit=SEND_BATCH):
                assert action.id is not None
                follow = action.kind == actions.FollowAccount.kind
                limit = (action.kind, action.person_id if follow else None)
                if limit in held:
                    continue
                tried += 1
                later = bot.take(action, self.now)
                if later is not None:
                    outbox.mark_retry(self.engine, action.id, "429: over the limit", later)
                    held.add(limit)
                    continue
                self._delivered(network, action)
                done.append(action.id)
                self.now += timedelta(seconds=self.send_sec)
            self._mark_done(done)
        return tried

    def _delivered(self, network: Network, action: OutboundAction) -> None:
        self.sent[f"{network}:{action.kind}"] += 1
        if action.kind == actions.FollowAccount.kind:
            assert action.person_id is not None
            key = (action.person_id, int(action.payload["contact"]), network)
            self.follows_done[key] = self.now
        elif action.idempotency_key.startswith("suggest:"):
            _, _, run, person, *_ = action.idempotency_key.split(":")
            self.told[(network, int(run), int(person))] = self.now

    def _mark_done(self, ids: list[int]) -> None:
        """What was sent, recorded done in one statement (the real sender records each
        send in its own transaction: its cost is not what this measures)."""
        if not ids:
            return
        with Session(self.engine) as session, session.begin():
            session.execute(
                update(OutboundAction)
                .where(col(OutboundAction.id).in_(ids))
                .values(status=ActionStatus.DONE, payload={}, updated_at=self.now)
            )

    def _next_action(self) -> datetime:
        """When the next pending action comes due (far away if none is pending): asked of
        each network and kind, so that each is one step in the due index, not a scan of a
        campaign's millions of actions."""
        soonest = self.now + timedelta(days=365)
        with Session(self.engine) as session:
            for network in self.bots:
                for kind in actions.KINDS:
                    pending = session.exec(
                        select(func.min(OutboundAction.not_before)).where(
                            OutboundAction.network == network,
                            OutboundAction.status == ActionStatus.PENDING,
                            OutboundAction.kind == kind,
                        )
                    ).one()
                    if pending is not None:
                        soonest = min(soonest, pending)
        return max(soonest, self.now + timedelta(seconds=1))

    def _timeline(self) -> Timeline:
        hours: dict[Via, list[float]] = {via: [] for via in CHANNELS}
        # Words as the rows hold them (millions of rows: no conversion each).
        networks, channels = {n.value: n for n in Network}, {v.value: v for v in CHANNELS}
        with Session(self.engine) as session:
            rows = session.execute(
                text("SELECT person_id, contact_id, network, via, run_id FROM delivery")
            )
            for person, contact, network, via, run in rows:
                if via == Via.FOLLOWED:
                    when = self.follows_done.get((person, contact, networks[network]))
                elif via in channels and run is not None:
                    when = self.told.get((networks[network], run, person))
                else:
                    continue
                if when is not None:
                    hours[channels[via]].append((when - self.cutover).total_seconds() / 3600)
        refused: Counter[str] = Counter()
        for network, bot in self.bots.items():
            refused.update({f"{network}:{k}": n for k, n in bot.refused.items()})
        return Timeline(hours, refused, self.run_seconds, self.sent)


def first_come(
    needs: dict[int, list[int]],
    packs: list[planner.Pack],
    budget: int,
    demand: dict[int, int] | None = None,
    *,
    keep: int = 0,
) -> planner.Plan:
    """The baseline's planner: each person in turn their own packs of everything, first
    come, first served (nothing kept for later batches)."""
    del demand, keep
    return planner.naive(needs, budget, [p for p in packs if p.owner is not None])


def deliverable(engine: Engine) -> dict[Network, int]:
    """The pairs due at the cutover, by network (what is delivered elsewhere left out)."""
    found: dict[Network, int] = {}
    with Session(engine) as session:
        for network in (Network.BLUESKY, Network.MASTODON):
            people = waiting.waiting(session, network).people
            found[network] = sum(
                len(item.contacts)
                for start in range(0, len(people), 500)
                for item in due.due(session, network, people[start : start + 500])
            )
    return found


def reached_at(timeline: Timeline, total: int, share: float) -> float | None:
    """The hour at which ``share`` of the ``total`` pairs were delivered."""
    times = sorted(t for ts in timeline.hours.values() for t in ts)
    needed = int(total * share + 0.999999)
    return times[needed - 1] if needed <= len(times) else None


def delivered_by(timeline: Timeline, hour: float) -> dict[Via, int]:
    return {via: sum(1 for t in ts if t <= hour) for via, ts in timeline.hours.items()}


def print_hours(results: dict[str, Timeline], total: int, days: float, hourly: bool) -> None:
    marks = [float(h) for h in range(1, 25)] + [24.0 * d for d in range(2, int(days) + 1)]
    if hourly:
        marks = [float(h) for h in range(1, int(days * 24) + 1)]
    heads = "  ".join(f"{'all':>6} " + " ".join(f"{v.value[:7]:>7}" for v in CHANNELS)
                      for _ in results)  # fmt: skip
    print(f"{'':>6}  " + "  ".join(f"{name:<46}" for name in results))
    print(f"{'hour':>6}  {heads}")
    for hour in marks:
        cells = []
        for timeline in results.values():
            by = delivered_by(timeline, hour)
            share = sum(by.values()) / max(total, 1)
            cells.append(f"{share:6.1%} " + " ".join(f"{by[v] / max(total, 1):7.1%}"
                                                     for v in CHANNELS))  # fmt: skip
        print(f"{hour:>6.0f}  " + "  ".join(cells))


def print_milestones(results: dict[str, Timeline], total: int) -> None:
    for share in MILESTONES:
        said = []
        for name, timeline in results.items():
            hour = reached_at(timeline, total, share)
            said.append(f"{name} {'not reached' if hour is None else f'hour {hour:.1f}'}")
        print(f"{share:.0%} of the pairs delivered: " + ", ".join(said))


STRATEGIES = {"planner": planner.plan, "first-come": first_come}


@dataclass
class Options:
    scale: float = 1.0
    grants: float = 0.3
    days: float = 30.0
    send_ms: float = 150.0
    workers: int = 2
    parallel: bool = True
    """The strategies simulated at once, each in its own process (with two CPUs or more)."""


def _strategy(
    name: str,
    base: Path,
    cutover: datetime,
    send_sec: float,
    days: float,
    say: Callable[[str], None],
) -> tuple[Timeline, float]:
    """One strategy's weeks on its own copy of the prepared database; how long it took."""
    copy = base.with_name(f"{name}.db")
    shutil.copyfile(base, copy)
    engine = create_sync_engine(f"sqlite:///{copy}")
    began = time.perf_counter()
    try:
        with mock.patch.object(planner, "plan", STRATEGIES[name]):
            said = functools.partial(_prefixed, say, name)
            timeline = Simulation(engine, cutover, send_sec, said).run(days)
    finally:
        engine.dispose()
        copy.unlink()
    return timeline, time.perf_counter() - began


def _prefixed(say: Callable[[str], None], name: str, line: str) -> None:
    say(f"  {name}, {line.strip()}")


def _side_by_side(
    each: dict[str, Callable[[], tuple[Timeline, float]]],
) -> dict[str, tuple[Timeline, float]]:
    """Each strategy in its own process at once (forked: they share nothing but the
    prepared database, copied), their timelines sent back."""
    context = multiprocessing.get_context("fork")
    running = []
    for name, run in each.items():
        receiving, sending = context.Pipe(duplex=False)
        process = context.Process(target=_send_back, args=(run, sending), name=name)
        process.start()
        sending.close()
        running.append((name, process, receiving))
    outcomes = {}
    for name, process, receiving in running:
        outcome = receiving.recv()
        process.join()
        if isinstance(outcome, str):
            raise RuntimeError(f"the {name} strategy's simulation failed:\n{outcome}")
        outcomes[name] = outcome
    return outcomes


def _send_back(run: Callable[[], tuple[Timeline, float]], sending: Connection) -> None:
    try:
        sending.send(run())
    except BaseException:
        sending.send(traceback.format_exc())
        raise
    finally:
        sending.close()


def simulate(
    options: Options, say: Callable[[str], None] = print
) -> tuple[int, dict[str, Timeline]]:
    """The crowd made, matched and reconnected by each strategy on its own copy: the
    deliverable pairs, and each strategy's timeline."""
    started = time.perf_counter()
    crowd = campaign_crowd.generate(options.scale, options.grants)
    cutover = DEFAULT_CUTOVER_AT
    results: dict[str, Timeline] = {}
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder) / "crowd.db"
        engine = create_sync_engine(f"sqlite:///{base}")
        with clock.simulated(lambda: cutover - timedelta(hours=1)):
            campaign_crowd.store(engine, crowd)
            matched = matching.match_all(engine)
            pairs = deliverable(engine)
        engine.dispose()
        say(
            f"{crowd.people:,} people ({crowd.media} media), {crowd.connections:,} X connections, "
            f"{matched.total:,} matched follows; {options.grants:.0%} grant follows; "
            f"prepared in {time.perf_counter() - started:.0f} s"
        )
        say("deliverable pairs: " + ", ".join(f"{n} {c:,}" for n, c in pairs.items()))
        sending = options.send_ms / 1000 / options.workers
        each: dict[str, Callable[[], tuple[Timeline, float]]] = {
            name: functools.partial(_strategy, name, base, cutover, sending, options.days, say)
            for name in STRATEGIES
        }
        if options.parallel and (os.cpu_count() or 1) > 1:
            outcomes = _side_by_side(each)
        else:
            outcomes = {name: run() for name, run in each.items()}
        for name, (timeline, took) in outcomes.items():
            results[name] = timeline
            say(
                f"{name}: simulated in {took:.0f} s; the cutover's run "
                f"{timeline.run_seconds[0]:.0f} s, {len(timeline.run_seconds) - 1} more "
                f"({sum(timeline.run_seconds[1:]):.0f} s); sent "
                f"{sum(timeline.sent.values()):,} ({dict(timeline.sent)}); refused by the "
                f"limits {sum(timeline.refused.values())} {dict(timeline.refused)}"
            )
    return sum(pairs.values()), results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--grants", type=float, default=0.3,
                        help="the share of people who grant follows (0 to 1)")  # fmt: skip
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--send-ms", type=float, default=150.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hourly", action="store_true", help="every hour, not every day")
    parser.add_argument("--one-at-a-time", action="store_true",
                        help="the strategies one after the other, not side by side")  # fmt: skip
    args = parser.parse_args()
    options = Options(
        args.scale, args.grants, args.days, args.send_ms, args.workers, not args.one_at_a_time
    )
    total, results = simulate(options)
    print_hours(results, total, args.days, args.hourly)
    print_milestones(results, total)


if __name__ == "__main__":
    main()
