"""What the core knows of a network: posts that reach the bot, and the adapter that sends.

Each network has one adapter (``bsky_service.adapter``, ``mastodon_bot.adapter``) behind
:class:`Protocol`; the core (:mod:`shared.service`) never imports a network's library.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from shared.actions import DirectMessage
from shared.errors import HqxError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from datetime import datetime, timedelta

    from shared.actions import Action
    from shared.identity.accounts import Account
    from shared.reconnection.grants import Token
    from shared.vocabulary import Network


DEFAULT_TEXT_LIMIT = 500
"""A status's length on Mastodon unless the server says otherwise."""


@dataclass(frozen=True, slots=True)
class WriteBudget:
    """What a network lets the bot write: points an hour and a day (Bluesky: 5,000 and
    35,000; a created record costs 3). A share is kept back for answers and attestations."""

    per_hour: int
    per_day: int
    reserve: float = 0.2


@dataclass(frozen=True, slots=True)
class Pace:
    """At most ``limit`` of something in each ``window``."""

    limit: int
    window: timedelta


@dataclass(frozen=True, slots=True)
class Author:
    """Who wrote a post, as the network's server reports it (never as the text claims)."""

    subject: str
    """The stable id: a DID on Bluesky, the account URI on Mastodon."""
    handle: str
    """What people type: ``alice.bsky.social``, or ``alice@example.social`` on Mastodon."""
    former_subjects: tuple[str, ...] = ()
    """Ids this account may be stored under from before (a Mastodon profile URL, which
    earlier versions stored where the server gave no ``uri``): found, it is re-keyed."""


@dataclass(frozen=True, slots=True)
class IncomingPost:
    """A post that addresses the bot: a mention, a reply to it, or a direct message."""

    network: Network
    post_id: str
    """The network's id of the post: an AT URI, a Mastodon status id."""
    author: Author
    text: str
    """The text without the bot's own mention."""
    languages: tuple[str, ...] = ()
    """What the post declares (``langs`` on Bluesky, ``language`` on Mastodon)."""
    direct: bool = False
    """A direct message: the answer goes back privately."""
    created_at: datetime | None = None
    url: str | None = None
    """Where a person sees the post in a browser."""
    edited: bool = False
    """The post was changed after it was published (Mastodon): it proves nothing."""
    reply_context: dict[str, Any] = field(default_factory=dict)
    """What the adapter needs to answer in place (reply references, conversation id)."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One outbound action to deliver, with what its idempotency needs."""

    action: Action
    key: str
    """The outbox's idempotency key: the same action is never queued twice."""
    action_id: int
    """The outbox row's id (adapters derive record keys from it)."""
    created_at: datetime
    attempts: int
    """Attempts so far, this one included: more than one means it may have been sent."""


@dataclass(frozen=True, slots=True)
class Delivered:
    """Where an outbound action landed: the network's reference of what it created."""

    remote_ref: str


class DeliveryError(HqxError):
    """An action was not delivered. It is tried again at :attr:`retry_at` (a rate limit's
    reset), or after the outbox's backoff, unless :attr:`permanent` says retrying cannot help."""

    def __init__(
        self, message: str, *, retry_at: datetime | None = None, permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_at = retry_at
        self.permanent = permanent


class ThrottledError(HqxError):
    """The network's rate limit for reads is spent (or nearly: what is left is kept for
    answering people) until :attr:`until`."""

    def __init__(self, message: str, *, until: datetime) -> None:
        super().__init__(message)
        self.until = until


class ReceiveError(HqxError):
    """Receiving failed. A :attr:`permanent` failure (the network refuses the bot's
    credentials) cannot heal by retrying: the receive loop stops and says why."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Protocol(ABC):
    """One network's adapter: it receives posts addressed to the bot and delivers actions."""

    network: ClassVar[Network]
    write_budget: ClassVar[WriteBudget | None] = None
    """What the network lets the bot write (points an hour and a day), when it counts."""
    message_cost: ClassVar[int] = 0
    """What one message (a reply, a private message) costs of that budget."""
    follow_pace: ClassVar[tuple[Pace, ...]] = ()
    """How many follows one person's account may be given there in each window, made for
    them with their grant (their own limits, with a margin for what they do themselves);
    none: nobody is followed for there."""
    delivers: ClassVar[frozenset[type[Action]]] = frozenset()
    """The kinds of :mod:`shared.actions` this network's bot can deliver: the core asks
    here (can the bot attest? send a message that is not a reply?) instead of naming
    networks, and never queues what an adapter cannot deliver."""

    @property
    @abstractmethod
    def bot_handle(self) -> str:
        """The bot's own handle on this network, as people mention it."""

    @abstractmethod
    async def start(self) -> None:
        """Log in and announce the account as a bot. Raises :class:`HqxError` on failure."""

    @abstractmethod
    async def receive_forever(self, receive: Callable[[IncomingPost], Awaitable[None]]) -> None:
        """Hand every post addressed to the bot to ``receive``, oldest first, until cancelled.

        A post may be handed over again after a restart; the core drops repeats.

        Raises:
            ReceiveError: the network's own errors, converted; ``permanent`` when retrying
                cannot help. Anything else is a bug, and the loop is restarted.
        """

    @abstractmethod
    async def resolve(self, handle: str) -> Account | None:
        """The account ``handle`` names on this network (with its stable subject), or ``None``
        when there is none. Raises :class:`HqxError` when the network cannot be asked."""

    @abstractmethod
    async def deliver(self, outgoing: Outgoing) -> Delivered:
        """Send one outbound action (of a kind in :attr:`delivers`).

        Must be idempotent for the same action: a second call after a crash between sending
        and recording must not send it twice (adapters use the network's own idempotency:
        a deterministic record key, an Idempotency-Key header, or a lookup of what was sent).

        Raises:
            DeliveryError: it was not sent; see its ``retry_at`` and ``permanent``.
        """

    @property
    def text_limit(self) -> int:
        """Characters a message of the bot may hold there, its mention included."""
        return DEFAULT_TEXT_LIMIT

    @property
    def messages(self) -> bool:
        """Whether the bot can write privately to someone who never wrote to it there."""
        return DirectMessage in self.delivers

    def collection_url(self, collection: int) -> str | None:
        """Where a person opens a collection the bot keeps (a starter pack), if the network
        has them."""
        del collection
        return None

    async def follows(self, subject: str, handle: str) -> frozenset[str]:
        """The accounts (subjects) an account follows there, as far as the bot can read
        them; the default knows none.

        Raises:
            ThrottledError: the rate limit is spent until a reset.
            HqxError: the network cannot be asked now.
        """
        del subject, handle
        return frozenset()

    @abstractmethod
    def health(self) -> dict[str, str]:
        """How receiving goes, in words, for ``/healthz``: ``receiving`` (streaming, polling
        and why), and whatever else fails now."""

    async def current_handles(self, subjects: Sequence[str]) -> dict[str, str]:
        """The handles these accounts have now, by subject, as the network reports them
        (handles change); accounts it does not report are left out. The default knows none.

        Raises:
            HqxError: the network cannot be asked now.
        """
        del subjects
        return {}

    async def revoke_grant(self, grant: Token) -> None:
        """Tell the person's server that a grant to act for them (follows) is over, so the
        token stops working there too; the default has no such grants.

        Raises:
            HqxError: the server could not be told now (try again later).
        """
        raise HqxError(f"{self.network} keeps no grants to revoke ({grant.server})")

    async def close(self) -> None:  # noqa: B027  (optional hook: most adapters hold nothing)
        """Release connections; the default has none."""
