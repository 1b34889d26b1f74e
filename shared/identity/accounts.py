"""Reading the account a person names in a post: a Bluesky handle, a Mastodon address, or a
profile link on either network."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.vocabulary import Network

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

    network: str
    subject: str
    handle: str


@dataclass(frozen=True, slots=True)
class XPost:
    """A post on X as X's oEmbed shows it."""

    url: str
    author: str
    """The author's screen name, as X reports it (never as the URL says)."""
    text: str
