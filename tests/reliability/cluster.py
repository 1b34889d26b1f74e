"""The service as role processes (``hqx run --role``) on one PostgreSQL database, with both
bots on the local networks (Bluesky's own PDS and AppView, the Mastodon-API test server),
and crowds of people who mention them: what the reliability suite drives and measures."""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import secrets
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from shared.config import Settings, UploadLimits
from shared.db import migrate
from shared.db.engine import create_sync_engine
from testworld.bluesky.people import PASSWORD, Person, create_person
from testworld.mastodon.people import create_person as create_mastodon_person
from testworld.processes import RoleProcesses, environment, until_serving

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.mastodon_world import MastodonWorld
    from testworld.bluesky.network import BlueskyDevNetwork
    from testworld.mastodon.people import MastodonPerson

_names = itertools.count()
_run = secrets.token_hex(3)
"""Names of this run's accounts start with it: the local network may hold earlier ones."""
FIGURES = (
    Path(os.environ.get("HQX_RELIABILITY_FIGURES", ""))
    if os.environ.get("HQX_RELIABILITY_FIGURES")
    else None
)
"""Where the suite appends its figures (one line each), when set; printed always."""


def report(line: str) -> None:
    """A measured figure: printed (``pytest -s``), and kept where asked."""
    print(f"[reliability] {line}", flush=True)
    if FIGURES is not None:
        with FIGURES.open("a") as out:
            out.write(line + "\n")


@dataclass
class Cluster:
    """The processes and the bots' accounts."""

    bluesky: BlueskyDevNetwork
    mastodon: MastodonWorld
    database_url: str
    root: Path
    bot: Person
    mastodon_api: str = ""
    """Where the bot reaches its Mastodon server (a fault proxy before it); its own address
    when empty."""
    processes: RoleProcesses = field(init=False)

    def settings(self) -> Settings:
        assert self.bluesky.urls is not None
        urls = self.bluesky.urls
        return Settings(
            database_url=self.database_url,
            secret_key=secrets.token_urlsafe(48),
            public_url="http://127.0.0.1:9",
            bsky_pds_url=urls.pds,
            bsky_handle=self.bot.handle,
            bsky_app_password=PASSWORD,
            mastodon_api_base_url=self.mastodon_api or self.mastodon.url,
            mastodon_access_token=self.mastodon.bot_person.account.token,
            mastodon_poll_sec=1.0,
            upload_limits=UploadLimits(folder=self.root / "uploads"),
            outbound_allow=(urls.pds.removeprefix("http://"),),
        )

    def start(self, counts: dict[str, int]) -> None:
        engine = create_sync_engine(self.database_url)
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HQX_")}
        env |= environment(self.settings()) | {"HQX_LOG_LEVEL": "WARNING"}
        self.processes = RoleProcesses(env, counts)
        self.processes.start()
        asyncio.run(until_serving(self.processes))

    def stop(self) -> None:
        self.processes.stop()


def start_cluster(
    bluesky: BlueskyDevNetwork,
    mastodon: MastodonWorld,
    database_url: str,
    root: Path,
    counts: dict[str, int],
    mastodon_api: str = "",
    bluesky_pds: str = "",
) -> Cluster:
    """The processes started; ``mastodon_api`` and ``bluesky_pds``, where the bots reach
    their servers when not directly (a fault proxy before each)."""
    bot = create_person(bluesky, f"bot{_run}x{next(_names)}")
    if bluesky_pds:  # the bot's DID document names it: the SDK goes there after logging in
        bluesky.move_pds(bot.did, bluesky_pds)
    cluster = Cluster(bluesky, mastodon, database_url, root, bot, mastodon_api)
    cluster.start(counts)
    return cluster


@dataclass(frozen=True, slots=True)
class Mention:
    """A post addressed to a bot: where it is, and when it was written."""

    network: str
    ref: str
    at: datetime


class Crowd:
    """People on both networks, mentioning the bots; what the bots answered them."""

    def __init__(self, cluster: Cluster, people: int) -> None:
        self.cluster = cluster
        names = [f"p{_run}x{next(_names)}" for _ in range(people)]
        with ThreadPoolExecutor(8) as pool:
            self.bluesky = list(pool.map(lambda n: create_person(cluster.bluesky, n), names))
        server, url = cluster.mastodon.server, cluster.mastodon.url
        self.mastodon = [create_mastodon_person(server, url, n) for n in names]
        self.mentions: list[Mention] = []
        self._lock = threading.Lock()

    def mention_all(self, each: int, within_sec: float) -> None:
        """Every person mentions the bot ``each`` times, the whole crowd spread evenly over
        ``within_sec`` (both networks at once)."""
        bluesky_jobs: list[Callable[[], None]] = [
            functools.partial(self._on_bluesky, p) for p in self.bluesky for _ in range(each)
        ]
        mastodon_jobs: list[Callable[[], None]] = [
            functools.partial(self._on_mastodon, p) for p in self.mastodon for _ in range(each)
        ]
        jobs = [j for pair in itertools.zip_longest(bluesky_jobs, mastodon_jobs) for j in pair if j]
        started = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            sent = []
            for n, job in enumerate(jobs):
                delay = started + within_sec * n / len(jobs) - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                sent.append(pool.submit(job))
            for done in sent:
                done.result()  # a mention that could not be posted fails the test here

    def _on_bluesky(self, person: Person) -> None:
        created = person.post("aide", self.cluster.bot, ["fr"])
        record = person.client.com.atproto.repo.get_record(
            {"repo": person.did, "collection": "app.bsky.feed.post",
             "rkey": created.uri.rsplit("/", 1)[1]}
        )  # fmt: skip
        at = datetime.fromisoformat(record.value.created_at)
        with self._lock:
            self.mentions.append(Mention("bluesky", created.uri, at))

    def _on_mastodon(self, person: MastodonPerson) -> None:
        status = person.client.status_post("@helloquittex help", language="en")
        with self._lock:
            self.mentions.append(Mention("mastodon", str(status["id"]), status["created_at"]))

    def answers(self) -> dict[str, list[datetime]]:
        """The bots' answers (when each was written) by the post each replies to."""
        found: dict[str, list[datetime]] = {}
        for parent, at in itertools.chain(self._bluesky_answers(), self._mastodon_answers()):
            found.setdefault(parent, []).append(at)
        return found

    def _bluesky_answers(self) -> list[tuple[str, datetime]]:
        client, bot = self.cluster.bot.client, self.cluster.bot
        found, cursor = [], None
        while True:
            page = client.com.atproto.repo.list_records(
                {"repo": bot.did, "collection": "app.bsky.feed.post", "limit": 100,
                 "cursor": cursor}
            )  # fmt: skip
            for record in page.records:
                reply = getattr(record.value, "reply", None)
                if reply is not None:
                    found.append(
                        (reply.parent.uri, datetime.fromisoformat(record.value.created_at))
                    )
            cursor = page.cursor
            if not cursor or not page.records:
                return found

    def _mastodon_answers(self) -> list[tuple[str, datetime]]:
        bot = self.cluster.mastodon.bot
        return [
            (s.in_reply_to.id, s.created_at)
            for s in list(self.cluster.mastodon.server.statuses.values())
            if s.account is bot and s.in_reply_to is not None
        ]

    def until_answered(
        self, timeout_sec: float, while_waiting: Callable[[], None] | None = None
    ) -> dict[str, list[datetime]]:
        """Wait until every mention has an answer (or the time is out): the answers."""
        deadline = time.monotonic() + timeout_sec
        said = time.monotonic()
        while True:
            self.cluster.bluesky.process_all()
            answers = self.answers()
            if all(m.ref in answers for m in self.mentions) or time.monotonic() > deadline:
                return answers
            if time.monotonic() - said > 10:
                done = sum(m.ref in answers for m in self.mentions)
                print(f"[reliability] {done}/{len(self.mentions)} answered", flush=True)
                said = time.monotonic()
            if while_waiting is not None:
                while_waiting()
            time.sleep(1.0)


def answer_times(crowd: Crowd, answers: dict[str, list[datetime]]) -> dict[str, list[float]]:
    """Seconds from each mention to its (first) answer, by network."""
    took: dict[str, list[float]] = {"bluesky": [], "mastodon": []}
    for mention in crowd.mentions:
        if mention.ref in answers:
            first = min(answers[mention.ref])
            took[mention.network].append((first - mention.at).total_seconds())
    return took


def percentile(values: list[float], share: float) -> float:
    """The value under which ``share`` of ``values`` lie."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def unanswered_and_twice(crowd: Crowd, answers: dict[str, list[datetime]]) -> tuple[int, int]:
    counted = Counter({ref: len(at) for ref, at in answers.items()})
    refs = {m.ref for m in crowd.mentions}
    return len(refs - set(counted)), sum(1 for ref in refs if counted[ref] > 1)


def what_was_lost(crowd: Crowd, answers: dict[str, list[datetime]]) -> list[str]:
    """Each unanswered mention, and what the database knows of it: recorded as handled or
    not, and the actions that name it (a failed test says where it was lost)."""
    from sqlalchemy import text

    engine = create_sync_engine(crowd.cluster.database_url)
    found = []
    try:
        with engine.connect() as connection:
            for mention in crowd.mentions:
                if mention.ref in answers:
                    continue
                handled = connection.execute(
                    text("SELECT received_at FROM inbound_post WHERE post_id = :ref"),
                    {"ref": mention.ref},
                ).all()
                actions = connection.execute(
                    text(
                        "SELECT kind, status, attempts, last_error FROM outbound_action"
                        " WHERE idempotency_key LIKE :like OR CAST(payload AS TEXT) LIKE :like"
                    ),
                    {"like": f"%{mention.ref}%"},
                ).all()
                found.append(
                    f"{mention.network} {mention.ref} at {mention.at.isoformat()}: "
                    f"handled {[str(h[0]) for h in handled]}, actions {[tuple(a) for a in actions]}"
                )
    finally:
        engine.dispose()
    return found


def usage(processes: RoleProcesses) -> dict[str, list[tuple[float, float]]]:
    """Each live process's resident memory (MB) and CPU time so far (s), by role (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[str, list[tuple[float, float]]] = {}
    for role, group in processes.processes.items():
        for process in group:
            if process.poll() is not None:
                continue
            status = Path(f"/proc/{process.pid}/status").read_text()
            rss_kb = next(int(line.split()[1]) for line in status.splitlines()
                          if line.startswith("VmRSS:"))  # fmt: skip
            stat = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(stat[11]) + int(stat[12])) / ticks  # utime, stime
            found.setdefault(role, []).append((rss_kb / 1024, cpu))
    return found


def connections(database_url: str) -> int:
    """Connections open to the database now (every process's pool)."""
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    server = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchone()
    return int(row[0]) if row else 0
