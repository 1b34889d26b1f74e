"""Uploads under load and under attack: many at once leave the bots answering; a slow or
stalled body is cut off and gives its link back; one link is claimed once at a time; nothing
of an upload is left in the uploads' folder once it is done with, a crash included."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import Session, select

from hqx.app import create_app, server_options
from shared.archive_import import import_archive
from shared.config import Settings, UploadLimits
from shared.db import migrate
from shared.db.engine import create_sync_engine
from shared.db.models import ArchiveImport, Person
from shared.portal import upload_queue, uploads
from tests.archives import make_archive
from tests.core_world import KEY
from tests.test_upload import send, settled, upload

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

    from sqlalchemy.engine import Engine

    from tests.mastodon_world import MastodonWorld

PUBLIC = "https://hqx.example"
WAIT_SEC = 30.0


def links(engine: Engine, count: int) -> list[str]:
    """Upload links of ``count`` people (as the bot hands them out)."""
    with Session(engine) as session, session.begin():
        people = [Person() for _ in range(count)]
        session.add_all(people)
        session.flush()
        return [uploads.issue(session, p.id or 0, now=_now()) for p in people]


def _now() -> Any:
    from shared.clock import utcnow

    return utcnow()


def portal(settings: Settings, scenario: Callable[[TestClient[Any, Any]], Any]) -> Any:
    async def main() -> Any:
        client = TestClient(TestServer(create_app(settings), host="127.0.0.1"))
        await client.server.start_server(**server_options())
        async with client:
            return await scenario(client)

    return asyncio.run(main())


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SEC
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, f"not in time: {what}"
        await asyncio.sleep(0.05)


def test_twenty_uploads_at_once_leave_the_bots_answering(
    mastodon: MastodonWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Imports held up inside (as a large archive would be) while a person asks the bot:
    the answer comes before any import ends. Before, imports shared the default thread pool
    with every database call of the bots, and twenty of them starved it."""
    url = f"sqlite:///{tmp_path / 'load.db'}"
    engine = create_sync_engine(url)
    migrate.upgrade(engine)
    tokens = links(engine, 20)
    archives = [
        make_archive(tmp_path / f"{n}.zip", [n + 1], account_id=10_000 + n, username=f"u{n}")
        for n in range(20)
    ]
    gate, importing = threading.Event(), threading.Semaphore(0)
    real = import_archive

    def held_up(*args: Any, **kwargs: Any) -> Any:
        importing.release()
        gate.wait(WAIT_SEC)
        return real(*args, **kwargs)

    monkeypatch.setattr("hqx.imports.import_archive", held_up)
    settings = Settings(
        database_url=url,
        public_url=PUBLIC,
        secret_key=KEY,
        mastodon_api_base_url=mastodon.url,
        mastodon_access_token=mastodon.bot.token,
        mastodon_poll_sec=0.2,
        upload_limits=UploadLimits(import_concurrency=2),
    )
    alice = mastodon.alice_person

    async def scenario(client: TestClient[Any, Any]) -> tuple[int, list[int]]:
        sent = [
            asyncio.create_task(upload(client, token, archive.read_bytes()))
            for token, archive in zip(tokens, archives, strict=True)
        ]
        for _ in range(2):  # both turns taken; eighteen uploads wait theirs
            assert await asyncio.to_thread(importing.acquire, True, WAIT_SEC)
        asked = await asyncio.to_thread(alice.post, "@helloquittex help")
        await until(lambda: bool(alice.answers_to(asked)), "the bot's answer")
        finished_before = sum(task.done() for task in sent)
        gate.set()
        return finished_before, [status for status, _ in await asyncio.gather(*sent)]

    try:
        finished_before, statuses = portal(settings, scenario)
    finally:
        gate.set()
        engine.dispose()
    assert finished_before == 0, "the bot answered while every import was under way"
    assert statuses == [200] * 20, "and every upload was then imported"


def _settings(database_url: str, folder: Path, **limits: Any) -> Settings:
    return Settings(
        database_url=database_url,
        public_url=PUBLIC,
        upload_limits=UploadLimits(folder=folder, **limits),
    )


async def _trickle(first: bytes, then: float, rest: int) -> AsyncIterator[bytes]:
    yield first
    for _ in range(rest):
        await asyncio.sleep(then)
        yield b"x"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (lambda: _trickle(b"PK\x03\x04", 0.05, 400), "bytes/s, under the 1,000,000 bytes/s"),
        (lambda: _trickle(b"PK\x03\x04", 5.0, 1), "nothing came for 0.5 s: the upload stalled"),
    ],
    ids=["one-byte-at-a-time", "stalled"],
)
def test_a_slow_body_is_cut_off_and_its_link_given_back(
    engine: Engine, database_url: str, tmp_path: Path, body: Any, message: str
) -> None:
    [token] = links(engine, 1)
    folder = tmp_path / "uploads"
    settings = _settings(database_url, folder, read_timeout_sec=0.5, min_bytes_per_sec=1_000_000)

    async def scenario(client: TestClient[Any, Any]) -> tuple[int, str, int]:
        try:
            cut = await client.post(f"/x/upload/{token}", data=body())
            status, text = cut.status, await cut.text()
        except aiohttp.ClientError as e:  # the server may close before the client is done
            status, text = 0, repr(e)
        again = await client.get(f"/x/upload/{token}")
        assert list(folder.iterdir()) == [], "nothing of it is left on disk"
        return status, text, again.status

    status, text, again = portal(settings, scenario)
    assert (status, message in text) in ((408, True), (0, False)), text
    assert again == 200, "the link is free again"
    assert list(folder.iterdir()) == [], "nothing of it is left once the service stops"


def test_one_link_claimed_ten_times_at_once_imports_once(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    [token] = links(engine, 1)
    archive = make_archive(tmp_path / "a.zip", [1, 2, 3]).read_bytes()
    settings = _settings(database_url, tmp_path / "uploads")

    async def scenario(client: TestClient[Any, Any]) -> list[tuple[int, str]]:
        return list(await asyncio.gather(*(upload(client, token, archive) for _ in range(10))))

    answers = portal(settings, scenario)
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] + [410] * 9, answers
    refused = [text for status, text in answers if status == 410]
    # Used by the one imported, or replaced by a later upload through the same link.
    assert all("used already" in text or "attend plus" in text for text in refused)
    with Session(engine) as session:
        assert len(list(session.exec(select(ArchiveImport)))) == 1


async def emptied(folder: Path, within_sec: float = 5.0) -> bool:
    """Whether ``folder`` is empty, or soon: an archive's bytes are removed just after its
    import's commit, which its page shows."""
    deadline = asyncio.get_running_loop().time() + within_sec
    while any(folder.iterdir()):  # noqa: ASYNC240  (a local folder, a test)
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def test_one_archive_confirmed_twice_at_once_imports_once(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """Two clicks on "Import" (or two tabs): the archive waiting is taken once."""
    [token] = links(engine, 1)
    archive = make_archive(tmp_path / "a.zip", [1, 2, 3]).read_bytes()
    folder = tmp_path / "uploads"

    async def scenario(client: TestClient[Any, Any]) -> list[tuple[int, str]]:
        status, _, waiting = await send(client, token, archive)
        assert status == 200
        answers = await asyncio.gather(
            *(client.post(waiting, data={"action": "import"}) for _ in range(2))
        )
        pages = [(await settled(client, a))[:2] for a in answers]
        assert await emptied(folder), "the archive goes once imported"
        return pages

    answers = portal(_settings(database_url, folder), scenario)
    assert sorted(status for status, _ in answers) == [200, 410], answers
    assert any("used already" in text for status, text in answers if status == 410)
    assert any("imported: @" in text for status, text in answers if status == 200)
    with Session(engine) as session:
        assert len(list(session.exec(select(ArchiveImport)))) == 1


def test_an_archive_waits_a_bounded_time_and_a_bounded_number_wait(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = make_archive(tmp_path / "x.zip", [11], [14]).read_bytes()
    tokens = links(engine, 5)
    folder = tmp_path / "uploads"
    settings = _settings(database_url, folder, max_waiting=4)

    async def scenario(client: TestClient[Any, Any]) -> list[tuple[int, str]]:
        answers = [(await send(client, t, archive))[:2] for t in tokens]
        assert len(list(folder.iterdir())) == 4, "one folder per archive waiting, no more"
        return answers

    answers = portal(settings, scenario)
    assert [status for status, _ in answers] == [200, 200, 200, 200, 503]
    assert "4 archives already wait for confirmation" in answers[-1][1]

    monkeypatch.setattr(upload_queue, "STAGED_TTL", timedelta(0))
    monkeypatch.setattr("hqx.imports.TIDY_SEC", 0.05)

    async def expired(client: TestClient[Any, Any]) -> tuple[int, int]:
        status, _, waiting = await send(client, tokens[-1], archive)
        late = await client.post(waiting, data={"action": "import"})
        await until(lambda: len(list(folder.iterdir())) == 4, "the expired archive deleted")
        return status, late.status

    status, late = portal(_settings(database_url, folder, max_waiting=5), expired)
    assert (status, late) == (410, 410), "expired at once: no page, no import"
    assert len(list(folder.iterdir())) == 4, "the four still waiting outlive a restart"
    with Session(engine) as session:
        assert list(session.exec(select(ArchiveImport))) == []


def test_what_a_crash_left_in_the_uploads_folder_is_swept_at_start(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "uploads"
    (folder / "upload-crashed").mkdir(parents=True)
    (folder / "upload-crashed" / "archive.zip").write_bytes(b"PK\x03\x04 half an archive")
    [token] = links(engine, 1)
    archive = make_archive(tmp_path / "a.zip", [1]).read_bytes()

    async def scenario(client: TestClient[Any, Any]) -> list[str]:
        left_at_start = sorted(p.name for p in folder.iterdir())
        status, _ = await upload(client, token, archive)
        assert status == 200
        assert await emptied(folder), "an upload leaves nothing once imported"
        return left_at_start

    assert portal(_settings(database_url, folder), scenario) == []
