"""The service's bots as a page shows them: each network's bot with its handle, a link to
its profile, and a way to write to it with the first words ready."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from hqx.state import SERVICE, SETTINGS
from shared.identity.addresses import mention
from shared.portal import sharing
from shared.vocabulary import Network

if TYPE_CHECKING:
    from aiohttp import web

GREETING = {"fr": "bonjour", "en": "hello"}
"""The first words to the bot: it answers them with its help."""


@dataclass(frozen=True, slots=True)
class Bot:
    network: Network
    name: str
    """The network as people call it."""
    handle: str
    """As it is written to reach it: ``@helloquittex.bsky.social``."""
    profile: str
    """Its page for people."""

    def first_words(self, lang: str) -> str:
        return f"{self.handle} {GREETING.get(lang, GREETING['en'])}"

    def composer(self, lang: str) -> str:
        """Where a person writes to it: Bluesky's composer with the mention ready; for
        the fediverse, the share page, which asks for the person's own server."""
        text = self.first_words(lang)
        if self.network == Network.BLUESKY:
            return sharing.bluesky_intent(sharing.Shared(text, ""))
        return "/share?" + urlencode({"text": text, "lang": lang})


def bots(request: web.Request) -> list[Bot]:
    """The configured bots that know their own account (a bot not started yet is left out)."""
    settings = request.app[SETTINGS]
    found = []
    for adapter in request.app[SERVICE].adapters:
        handle = adapter.bot_handle
        if not handle:
            continue
        if adapter.network == Network.BLUESKY:
            profile = f"https://bsky.app/profile/{handle}"
        else:
            server = (settings.mastodon_api_base_url or "").rstrip("/")
            profile = f"{server}/@{handle.split('@', 1)[0]}"
        found.append(Bot(adapter.network, adapter.network.value.capitalize(), mention(handle),
                         profile))  # fmt: skip
    return found
