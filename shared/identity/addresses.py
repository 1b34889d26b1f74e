"""How each network's accounts are named and written: read from what a person types (a
Bluesky handle, a Mastodon address, a profile link, a post on X), written back as a mention,
and written for the other network through Bridgy Fed. One home for these shapes, as
bridgy-fed keeps its ``ids``: the rest of the core asks here."""

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


BRIDGES: dict[Network, str] = {
    Network.BLUESKY: "bsky.brid.gy",
    Network.MASTODON: "ap.brid.gy",
}
"""Where Bridgy Fed shows a network's accounts on the other one (when their owner opted in)."""


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


def mention(handle: str) -> str:
    """An account written so that it is notified (``@alice.bsky.social``, ``@alice@host``):
    only for the person spoken to, never for a contact named in someone else's message."""
    return f"@{handle.removeprefix('@')}"


def bridged(network: Network, handle: str, seen_from: Network) -> str | None:
    """Where an account of ``network`` is found from ``seen_from`` through Bridgy Fed:
    ``alice.bsky.social@bsky.brid.gy`` on the fediverse, ``user.server.ap.brid.gy`` on
    Bluesky. Never written as a mention (``@user@server``): a mention would notify the
    contact, and let them read a private message."""
    if network == Network.BLUESKY and seen_from == Network.MASTODON:
        return f"{handle}@{BRIDGES[Network.BLUESKY]}"
    if network == Network.MASTODON and seen_from == Network.BLUESKY and "@" in handle:
        user, server = handle.removeprefix("@").split("@", 1)
        return f"{user}.{server}.{BRIDGES[Network.MASTODON]}"
    return None
