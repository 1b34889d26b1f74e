"""The sandbox's last act when the service runs as several processes: the active bots
process is killed (SIGKILL) and a waiting one answers the next mentions; then every post
addressed to the bots is looked at on both networks, each answered once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import TYPE_CHECKING

from shared.vocabulary import Network

if TYPE_CHECKING:
    from testworld.processes import RoleProcesses
    from testworld.sandbox import Stage

TAKEOVER_BOUND_SEC = 30.0
"""A waiting bots process answers within this once the active one is gone."""


async def takeover(stage: Stage, processes: RoleProcesses) -> bool:
    """Kill the active Bluesky bots process; Bruno and Camille mention the bots: answered by
    the waiting process within the bound?"""
    transcript, people = stage.transcript, stage.people
    transcript.line("8. The active bots process dies (SIGKILL); the waiting one takes over.")
    pid = await asyncio.to_thread(processes.kill_active_bots, Network.BLUESKY)
    transcript.line(f"  [Service] the bots process {pid}, active on Bluesky, is killed")
    killed_at = time.monotonic()
    bruno = await stage.on_bluesky(people.bruno, "aide", " mentions the bot")
    bluesky_took = time.monotonic() - killed_at
    camille = await stage.on_mastodon(people.camille, "@helloquittex help", " mentions the bot")
    mastodon_took = time.monotonic() - killed_at
    within = bluesky_took <= TAKEOVER_BOUND_SEC and mastodon_took <= TAKEOVER_BOUND_SEC
    transcript.line(
        f"  [Service] answered {bluesky_took:.1f} s (Bluesky) and {mastodon_took:.1f} s "
        f"(Mastodon) after the kill: {'within' if within else 'NOT within'} "
        f"{TAKEOVER_BOUND_SEC:.0f} s"
    )
    return bool(bruno and camille and within)


async def answered_once(stage: Stage) -> bool:
    """Each answer the bots gave, given once, on both networks (said in the story)."""
    bluesky = await asyncio.to_thread(_bluesky_answers, stage)
    mastodon = await asyncio.to_thread(_mastodon_answers, stage)
    twice = [parent for parent, n in (bluesky + mastodon).items() if n > 1]
    stage.transcript.line(
        f"  [Service] {len(bluesky)} answers on Bluesky, {len(mastodon)} on Mastodon; "
        f"given twice: {len(twice)}"
    )
    for parent in twice:
        stage.transcript.line(f"      given {(bluesky + mastodon)[parent]} times: {parent}")
    return not twice and bool(bluesky) and bool(mastodon)


def _bluesky_answers(stage: Stage) -> Counter[str]:
    """How many of the bot's posts say the same to the same post (the post's address and
    the words: one answer may be several posts, a public one and a private one)."""
    bot = stage.people.bot_bsky
    stage.world.network.process_all()
    counted: Counter[str] = Counter()
    cursor = None
    while True:
        page = bot.client.app.bsky.feed.get_author_feed(
            {"actor": bot.did, "limit": 100, "cursor": cursor}
        )
        for item in page.feed:
            reply = getattr(item.post.record, "reply", None)
            if reply is not None:
                counted[f"{reply.parent.uri} {item.post.record.text}"] += 1
        cursor = page.cursor
        if not cursor or not page.feed:
            return counted


def _mastodon_answers(stage: Stage) -> Counter[str]:
    """How many of the bot's statuses say the same to the same status (read from the test
    server itself: every status, direct ones included)."""
    server, bot = stage.world.mastodon, stage.people.bot_mastodon
    assert server is not None  # noqa: S101  (started)
    return Counter(
        f"{status.in_reply_to.id} {status.text}"
        for status in list(server.statuses.values())
        if status.account.id == bot.account.id and status.in_reply_to is not None
    )
