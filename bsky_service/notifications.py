"""Mentions and replies to the bot, read from its notifications: newest first down to a
persisted watermark, less an overlap. The AppView's ``indexedAt`` is a sort time that may be
the post's own ``createdAt``, so a post indexed late can sort before posts already read;
repeats are dropped here (recent ones, in memory) and by the core (across restarts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeAlias

from atproto import models

from bsky_service.text import parse_moment, without_mention_of
from shared.clock import iso_utc
from shared.protocol import Author, IncomingPost
from shared.vocabulary import Network

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from atproto import AsyncClient

    from shared.stores import BotState

Notification: TypeAlias = models.AppBskyNotificationListNotifications.Notification

NOTIFICATIONS_PAGE = 100
ADDRESSED_REASONS = ("mention", "reply")
WATERMARK_OVERLAP = timedelta(minutes=2)


class Mentions:
    """What was handed over of the bot's notifications: the watermark (kept in the bot's
    state under ``key``) and the notifications handed over within the overlap."""

    def __init__(self, state: BotState, key: str) -> None:
        self._state, self._key = state, key
        self._handed_over: dict[str, datetime] = {}
        """Notifications handed over within the overlap window: URI -> sort time."""
        self.since: datetime | None = None
        """Nothing sorted before this is answered: the first start on this database."""

    async def poll(
        self, client: AsyncClient, did: str, receive: Callable[[IncomingPost], Awaitable[None]]
    ) -> int:
        """Hand over every addressed notification not handed over yet; return how many."""
        seen_at = iso_utc(datetime.now(UTC))  # taken before fetching: nothing is marked unseen
        saved = await self._state.load(self._key)
        watermark = datetime.fromisoformat(saved) if saved else None
        fresh = [
            n
            for n in await self._since(client, watermark)
            if n.uri not in self._handed_over
            and (self.since is None or parse_moment(n.indexed_at) >= self.since)
        ]
        for notification in sorted(fresh, key=lambda n: parse_moment(n.indexed_at)):
            post = incoming(notification, did)
            if post is not None:
                await receive(post)
            sort_time = parse_moment(notification.indexed_at)
            self._handed_over[notification.uri] = sort_time
            if watermark is None or sort_time > watermark:
                watermark = sort_time
                await self._state.save(self._key, watermark.isoformat())
        if watermark is not None:
            self._forget_before(watermark - WATERMARK_OVERLAP)
        if fresh:
            await client.app.bsky.notification.update_seen({"seenAt": seen_at})
        return len(fresh)

    def _forget_before(self, moment: datetime) -> None:
        for uri in [u for u, t in self._handed_over.items() if t < moment]:
            del self._handed_over[uri]

    async def _since(self, client: AsyncClient, watermark: datetime | None) -> list[Notification]:
        """The addressed notifications from the watermark (less the overlap) on."""
        floor = watermark - WATERMARK_OVERLAP if watermark is not None else None
        oldest = max((t for t in (floor, self.since) if t is not None), default=None)
        fresh: list[Notification] = []
        cursor: str | None = None
        while True:
            page = await client.app.bsky.notification.list_notifications(
                {"limit": NOTIFICATIONS_PAGE, "cursor": cursor, "reasons": list(ADDRESSED_REASONS)}
            )
            for notification in page.notifications:
                if oldest is not None and parse_moment(notification.indexed_at) < oldest:
                    return fresh
                fresh.append(notification)
            if not page.cursor or not page.notifications:
                return fresh
            cursor = page.cursor


def incoming(notification: Notification, did: str) -> IncomingPost | None:
    """The post a notification brings, when it addresses the bot ``did``."""
    record = notification.record
    if notification.reason not in ADDRESSED_REASONS or not isinstance(
        record, models.AppBskyFeedPost.Record
    ):
        return None
    if notification.author.did == did:
        return None
    if notification.reason == "reply" and not _answers(record, did):
        return None
    root = record.reply.root if record.reply else None
    return IncomingPost(
        network=Network.BLUESKY,
        post_id=notification.uri,
        author=Author(subject=notification.author.did, handle=notification.author.handle),
        text=without_mention_of(record, did),
        languages=tuple(record.langs or ()),
        created_at=parse_moment(record.created_at),
        url=_web_url(notification.author.handle, notification.uri),
        reply_context={
            "uri": notification.uri,
            "cid": notification.cid,
            "root_uri": root.uri if root else notification.uri,
            "root_cid": root.cid if root else notification.cid,
        },
    )


def _answers(record: models.AppBskyFeedPost.Record, did: str) -> bool:
    """A reply addresses the bot only when its parent is the bot's own post."""
    parent = record.reply.parent.uri if record.reply else ""
    return parent.startswith(f"at://{did}/")


def _web_url(handle: str, uri: str) -> str:
    return f"https://bsky.app/profile/{handle}/post/{uri.rsplit('/', 1)[-1]}"
