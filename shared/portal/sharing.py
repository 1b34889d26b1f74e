"""The share button's rules, in place of X's: what is shared (a text and a link, bounded),
Bluesky's compose intent, and each fediverse software's own share address, known from the
server's NodeInfo (read by the portal through the guarded client; here only parsed).

Where a software has no web composer that takes a text (GoToSocial has none; Akkoma's and
Pleroma's front ends take none in their address), there is no address to build: the portal
shows the text ready to copy, with the way to the reader's server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from shared.errors import HqxError

TEXT_MAX = 1_000
URL_MAX = 2_000
BLUESKY_INTENT = "https://bsky.app/intent/compose"
BLUESKY_GRAPHEMES = 300
"""A Bluesky post's length; code points are counted, never fewer than its graphemes."""
NODEINFO_PATH = "/.well-known/nodeinfo"
_NODEINFO_SCHEMA = re.compile(r"^https?://nodeinfo\.diaspora\.software/ns/schema/(\d+\.\d+)$")
_SOFTWARE_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")
_SERVER_RE = re.compile(r"^[a-z0-9.-]+(:\d{1,5})?$")

MASTODON_LIKE = frozenset(
    {"mastodon", "hometown", "glitchsoc", "glitch-soc", "fedibird", "chuckya", "kmyblue"}
)
"""Mastodon and its forks: ``/share?text=…`` opens the composer with the text."""
MISSKEY_LIKE = frozenset(
    {
        "misskey", "sharkey", "firefish", "calckey", "foundkey", "iceshrimp", "cherrypick",
        "meisskey", "catodon", "cutiekey",
    }
)  # fmt: skip
"""Misskey and its forks: ``/share?text=…&url=…``."""
COMPOSE_BODY = {"friendica": "/compose", "hubzilla": "/rpost"}
"""Friendica and Hubzilla take the text as ``body``."""


class ShareError(HqxError):
    """A share the page cannot make, said in one line."""


@dataclass(frozen=True, slots=True)
class Shared:
    """What a reader shares: a text (an article's title) and its link."""

    text: str
    url: str

    @classmethod
    def of(cls, text: str, url: str) -> Shared:
        """Checked: a text of at most :data:`TEXT_MAX` characters (spaces folded), an
        ``http(s)`` link of at most :data:`URL_MAX`; one of them at least.

        Raises:
            ShareError: naming what is wrong.
        """
        text = " ".join(text.split())
        url = url.strip()
        if len(text) > TEXT_MAX:
            raise ShareError(f"the text has {len(text):,} characters, more than {TEXT_MAX:,}")
        if url:
            if len(url) > URL_MAX:
                raise ShareError(f"the link has {len(url):,} characters, more than {URL_MAX:,}")
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc or " " in url:
                raise ShareError(f"the link {url[:80]!r} is not an http(s) address")
        if not text and not url:
            raise ShareError("nothing to share: give a text, a link, or both")
        return cls(text, url)

    def post(self) -> str:
        """The text, then the link on its own line."""
        return "\n".join(part for part in (self.text, self.url) if part)


def bluesky_intent(shared: Shared, base: str = BLUESKY_INTENT) -> str:
    """Bluesky's composer with the post ready: the text cut (``…``) so that text and link fit
    in one post, never the link."""
    text = shared.text
    room = BLUESKY_GRAPHEMES - (len(shared.url) + 1 if shared.url else 0)
    if len(text) > room:
        text = text[: max(room - 1, 0)].rstrip() + "…"
    post = Shared(text, shared.url).post() if text else shared.url
    return f"{base}?text={quote(post, safe='')}"


def server_origin(typed: str) -> str:
    """The origin of the server a reader typed: ``mastodon.social``, ``@me@mastodon.social``,
    ``https://mastodon.social/@me`` or ``http://127.0.0.1:8080`` (plain http is reached
    only where the operator allows it: the guarded client decides).

    Raises:
        ShareError: not a server's name.
    """
    value = typed.strip()
    scheme = "https"
    if "://" in value:
        try:
            parts = urlsplit(value)
            host, port = parts.hostname, parts.port
        except ValueError:
            raise ShareError(f"{typed[:80]!r} is not a server's address") from None
        if parts.scheme not in ("http", "https") or not host:
            raise ShareError(f"{typed[:80]!r} is not a server's address")
        scheme = parts.scheme
        value = host if port is None else f"{host}:{port}"
    elif "@" in value:
        value = value.rsplit("@", 1)[1]  # an address: its server
    value = value.lower().rstrip("/").rstrip(".")
    if not value or len(value) > 255 or not _SERVER_RE.match(value) or "." not in value:
        raise ShareError(f"{typed[:80]!r} is not a server's name (as mastodon.social)")
    return f"{scheme}://{value}"


def nodeinfo_link(listing: Any) -> str | None:
    """The newest NodeInfo schema a ``/.well-known/nodeinfo`` answer links to."""
    links = listing.get("links") if isinstance(listing, dict) else None
    best: tuple[tuple[int, ...], str] | None = None
    for link in links if isinstance(links, list) else []:
        if not isinstance(link, dict):
            continue
        rel, href = link.get("rel"), link.get("href")
        found = _NODEINFO_SCHEMA.match(rel) if isinstance(rel, str) else None
        if found and isinstance(href, str) and href.startswith(("https://", "http://")):
            version = tuple(int(n) for n in found.group(1).split("."))
            if best is None or version > best[0]:
                best = (version, href)
    return None if best is None else best[1]


def software_of(document: Any) -> str:
    """The software a NodeInfo document names, in lower case.

    Raises:
        ShareError: a document without one.
    """
    software = document.get("software") if isinstance(document, dict) else None
    name = software.get("name") if isinstance(software, dict) else None
    if not isinstance(name, str) or not _SOFTWARE_RE.match(name.strip().lower()):
        raise ShareError("the server's NodeInfo names no software")
    return name.strip().lower()


def share_address(software: str, origin: str, shared: Shared) -> str | None:
    """The software's own composer at ``origin`` with the post ready, or ``None`` when it
    has none that takes a text (the text is then offered to copy)."""
    if software in MASTODON_LIKE:
        return f"{origin}/share?{urlencode({'text': shared.post()})}"
    if software in MISSKEY_LIKE:
        params = {"text": shared.text} | ({"url": shared.url} if shared.url else {})
        return f"{origin}/share?{urlencode(params)}"
    if software in COMPOSE_BODY:
        return f"{origin}{COMPOSE_BODY[software]}?{urlencode({'body': shared.post()})}"
    return None
