"""A running Mastodon-API test server with the bot's account and a person, for tests."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

from tests.background import BackgroundApp
from testworld.mastodon.people import client_for, create_person
from testworld.mastodon.server import MastodonTestServer

if TYPE_CHECKING:
    from mastodon import Mastodon

    from testworld.mastodon.profiles import Quirks
    from testworld.mastodon.server import Status


class MastodonWorld:
    """The server on loopback, ``helloquittex`` (flagged a bot unless told) and ``alice``."""

    def __init__(self, quirks: Quirks | None = None, *, bot_flagged: bool = True) -> None:
        # Short heartbeats: a closed stream's reader returns at the next one.
        self.server = MastodonTestServer("placeholder", quirks, stream_heartbeat_sec=0.2)
        self.background = BackgroundApp(self.server.app())
        self.url = self.background.url
        self.server.domain = self.url.removeprefix("http://")
        self.background.start()
        self.bot_person = create_person(self.server, self.url, "helloquittex", bot=bot_flagged)
        self.alice_person = create_person(self.server, self.url, "alice")
        self.bot, self.alice = self.bot_person.account, self.alice_person.account

    def client(self, token: str) -> Mastodon:
        return client_for(self.url, token)

    def raw(self, method: str, path: str, token: str, form: dict[str, str] | None = None) -> Any:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def bot_statuses(self) -> list[Status]:
        """What the bot has posted, oldest first."""
        return [s for s in self.server.statuses.values() if s.account is self.bot]

    def stop(self) -> None:
        self.background.stop()
