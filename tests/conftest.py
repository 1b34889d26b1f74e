"""Shared fixtures: databases (SQLite and a real PostgreSQL), archives, no internet."""

from __future__ import annotations

import itertools
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hqx import imports
from shared.db import migrate
from shared.db.engine import create_sync_engine
from tests.browser import Browser
from tests.mastodon_world import MastodonWorld
from testworld.bluesky.install import ensure_installed
from testworld.bluesky.network import BlueskyDevNetwork
from testworld.bluesky.services import PostgresServer
from testworld.mastodon import reference

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Engine

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in _LOOPBACK:
        raise RuntimeError(f"a test tried to reach {address!r}: tests stay on loopback")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly on any connection that is not to this machine."""
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


@pytest.fixture(autouse=True)
def clean_hqx_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests see no operator's HQX_ settings and no .env but their own; archives uploaded
    without a folder named go under the test's own folder, not the machine's /tmp."""
    for name in list(os.environ):
        if name.startswith("HQX_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(imports, "default_folder", lambda _url: tmp_path / "uploads-default")


@pytest.fixture(scope="session")
def bluesky() -> Iterator[BlueskyDevNetwork]:
    """Bluesky's own PLC, PDS and AppView on loopback, once for the session.

    The first run installs them (a few minutes) into the cache of
    :func:`testworld.bluesky.install.default_cache_dir`.
    """
    installation = ensure_installed(log=lambda line: print(f"[devnet] {line}"))
    with BlueskyDevNetwork(installation) as network:
        yield network


@pytest.fixture
def mastodon() -> Iterator[MastodonWorld]:
    """The Mastodon-API test server (Mastodon's profile) with the bot's account, not flagged
    a bot yet, and Alice's."""
    world = MastodonWorld(bot_flagged=False)
    yield world
    world.stop()


@pytest.fixture(scope="session")
def recordings() -> reference.Recordings:
    """The responses recorded from a real Mastodon (Mastodon.py's sdist from PyPI, fetched
    once into the cache), that the Mastodon test server is checked against."""
    return reference.load(reference.fetch())


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session, on a free loopback port."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


_database_names = (f"hqx_test_{n}" for n in itertools.count())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind: the same test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(next(_database_names))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to the code's schema."""
    engine = create_sync_engine(database_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database of its own, for tests of the bots."""
    engine = create_sync_engine(f"sqlite:///{tmp_path / 'bot.db'}")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: ``SCREENSHOTS_DIR`` to keep them (the README's), else away."""
    kept = os.environ.get("SCREENSHOTS_DIR")
    return Path(kept) if kept else tmp_path / "shots"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    opened = Browser(tmp_path / "profile", tmp_path / "downloads", language="en")
    try:
        yield opened
    finally:
        opened.close()
