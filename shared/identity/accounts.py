"""Reading the account a person names in a post: a Bluesky handle, a Mastodon address, or a
profile link on either network."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from shared.vocabulary import Network, TrustLevel, XStanding

_HOST = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?"
_MASTODON = re.compile(rf"^@?(?P<user>[a-z0-9_]{{1,30}})@(?P<host>{_HOST})$", re.IGNORECASE)
_MASTODON_URL = re.compile(
    rf"^https?://(?P<host>{_HOST})/@(?P<user>[a-z0-9_]{{1,30}})/?$", re.IGNORECASE
)
_BSKY_URL = re.compile(r"^https?://bsky\.app/profile/(?P<handle>[^/?#]+)/?$", re.IGNORECASE)
_BSKY_HANDLE = re.compile(
    r"^@?(?P<handle>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]?)$",
    re.IGNORECASE,
)
_X_WORDS = {"x", "twitter", "x.com", "twitter.com"}
_TRAILING = ".,;:!?)»”\"'"


@dataclass(frozen=True, slots=True)
class Named:
    """An account as named in a post: its network and its handle, normalised."""

    network: Network
    handle: str


def parse_account(text: str) -> Named | None:
    """What ``text`` names, or ``None`` if it names no account."""
    word = text.strip().rstrip(_TRAILING).lstrip("(«“\"'")
    if word.casefold() in _X_WORDS:
        return Named(Network.X, "x")
    if match := _MASTODON.match(word) or _MASTODON_URL.match(word):
        return Named(Network.MASTODON, f"{match['user']}@{match['host'].lower()}")
    if match := _BSKY_URL.match(word) or _BSKY_HANDLE.match(word):
        return Named(Network.BLUESKY, match["handle"].lower())
    return None


_X_POST_URL = re.compile(
    r"^https?://(?:www\.|mobile\.)?(?:x|twitter)\.com/\w{1,15}/status(?:es)?/\d{1,20}$",
    re.IGNORECASE,
)


def find_post_url(text: str) -> str | None:
    """The first link to a post on X in ``text``."""
    for word in text.split():
        candidate = word.rstrip(".,;)»").split("?", 1)[0]
        if _X_POST_URL.match(candidate):
            return candidate
    return None


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
