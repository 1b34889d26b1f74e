"""Fixtures of the integration tests: the chat double, served and registered on the network."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from bsky_service.lexicon import Lexicons
from tests.background import BackgroundApp
from testworld.bluesky.chat import ChatDouble
from testworld.bluesky.install import ensure_installed

if TYPE_CHECKING:
    from collections.abc import Iterator

    from testworld.bluesky.network import BlueskyDevNetwork


class RunningChatDouble:
    """The chat double served on loopback and registered on the network."""

    def __init__(self, network: BlueskyDevNetwork) -> None:
        assert network.urls is not None
        lexicons = Lexicons.from_json_file(ensure_installed().lexicons_path())
        self.double = ChatDouble(lexicons, network.urls.plc, network.urls.appview)
        self.server = BackgroundApp(self.double.app()).start()
        self.endpoint = self.server.url
        self.proxy = self.double.register(network, self.endpoint)


@pytest.fixture(scope="module")
def chat(bluesky: BlueskyDevNetwork) -> Iterator[RunningChatDouble]:
    running = RunningChatDouble(bluesky)
    yield running
    running.server.stop()
