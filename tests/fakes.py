"""A fake network adapter that records what the core asks of it (bridgy-fed's testutil way)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, ClassVar

from bsky_service.adapter import BlueskyAdapter
from mastodon_bot.adapter import MastodonAdapter
from shared.actions import KINDS, WriteCollection
from shared.protocol import (
    Delivered,
    DeliveryError,
    IncomingPost,
    Outgoing,
    Pace,
    Protocol,
    ReceiveError,
)
from shared.vocabulary import Network

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from shared.identity.accounts import Account


class FakeAdapter(Protocol):
    """Delivers into :attr:`sent` (one entry per distinct action, as an idempotent network
    would); :attr:`failures` are raised, one per delivery, before anything is sent."""

    network: ClassVar[Network] = Network.MASTODON
    delivers = frozenset(KINDS.values()) - {WriteCollection}
    follow_pace: ClassVar[tuple[Pace, ...]] = MastodonAdapter.follow_pace  # as the real one

    def __init__(self) -> None:
        self.sent: dict[str, Outgoing] = {}
        self.deliveries: list[str] = []
        self.failures: list[Exception] = []
        self.inbox: asyncio.Queue[IncomingPost] = asyncio.Queue()
        self.started = self.closed = False
        self.accounts: dict[str, Account] = {}
        """What :meth:`resolve` finds, by folded handle."""
        self.following: dict[str, set[str]] = {}
        """Whom each account follows (subjects), as :meth:`follows` reads it."""

    @property
    def bot_handle(self) -> str:
        return "helloquittex@fake.test"

    async def start(self) -> None:
        self.started = True

    def health(self) -> dict[str, str]:
        return {"receiving": "from its inbox"}

    async def receive_forever(self, receive: Callable[[IncomingPost], Awaitable[None]]) -> None:
        while True:
            await receive(await self.inbox.get())

    async def resolve(self, handle: str) -> Account | None:
        return self.accounts.get(handle.casefold())

    async def deliver(self, outgoing: Outgoing) -> Delivered:
        if type(outgoing.action) not in self.delivers:  # as every adapter does
            raise DeliveryError(f"the fake cannot deliver {outgoing.action.kind!r}", permanent=True)
        self.deliveries.append(outgoing.key)
        if self.failures:
            raise self.failures.pop(0)
        self.sent.setdefault(outgoing.key, outgoing)
        return Delivered(f"fake:{outgoing.key}")

    async def follows(self, subject: str, handle: str) -> frozenset[str]:
        return frozenset(self.following.get(subject, ()))

    def collection_url(self, collection: int) -> str | None:
        return f"https://packs.test/{collection}" if WriteCollection in self.delivers else None

    async def close(self) -> None:
        self.closed = True


class FakeBluesky(FakeAdapter):
    """The same, as the Bluesky side."""

    network: ClassVar[Network] = Network.BLUESKY
    delivers = frozenset(KINDS.values())
    follow_pace = BlueskyAdapter.follow_pace

    @property
    def bot_handle(self) -> str:
        return "helloquittex.fake.test"


class RefusedAdapter(FakeAdapter):
    """A network that refuses the bot's credentials: receiving cannot heal."""

    def __init__(self, permanent: bool) -> None:
        super().__init__()
        self.permanent, self.attempts = permanent, 0
        self.tried_thrice = asyncio.Event()

    async def receive_forever(self, receive: object) -> None:
        self.attempts += 1
        if self.attempts == 3:
            self.tried_thrice.set()
        raise ReceiveError("the token is refused", permanent=self.permanent)


__all__ = ["DeliveryError", "FakeAdapter", "FakeBluesky", "RefusedAdapter"]
