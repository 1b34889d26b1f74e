"""What is known of an account, as values that cross the core: an account found on a network,
one shown to its person, the thread a person last wrote to the bot in, a post on X."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from shared.vocabulary import Network, TrustLevel, XStanding


@dataclass(frozen=True, slots=True)
class Account:
    """An account found on a network: its stable subject and its handle."""

    network: Network
    subject: str
    handle: str


@dataclass(frozen=True, slots=True)
class Thread:
    """Where a person last wrote to the bot from an account: what the service has to say to
    them later goes there, in a conversation they started."""

    post: str
    """The network's id of their post."""
    direct: bool
    """They wrote privately: the answer goes privately."""
    lang: str
    """The language they were answered in."""
    context: dict[str, Any] = field(default_factory=dict)
    """The adapter's reply context (what answering in that thread takes)."""

    def dump(self) -> dict[str, Any]:
        """As the database keeps it (JSON)."""
        return {"post": self.post, "direct": self.direct, "context": self.context,
                "lang": self.lang}  # fmt: skip

    @classmethod
    def load(cls, kept: dict[str, Any]) -> Thread:
        """From what the database keeps (earlier versions' rows included)."""
        return cls(
            post=str(kept.get("post", "")),
            direct=bool(kept.get("direct", True)),
            lang=str(kept.get("lang", "")),
            context=dict(kept.get("context") or {}),
        )


class ShownAccount(NamedTuple):
    """One of a person's accounts as they are shown it: where, its handle, how it is known
    (a linked account's trust level; an X account's standing)."""

    network: Network
    handle: str
    standing: TrustLevel | XStanding


@dataclass(frozen=True, slots=True)
class XPost:
    """A post on X as X's oEmbed shows it."""

    url: str
    author: str
    """The author's screen name, as X reports it (never as the URL says)."""
    text: str
