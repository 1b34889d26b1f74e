"""The uploads' queue shared by several processes: each upload taken by one work process at a
time; an import by a process that lost its upload (it froze, its lease expired, another took
the upload over) stores nothing, so that an archive is imported once; an archive that kills
the work processes that take it is refused after a few; files without a row go."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session, select

from hqx.imports import Imports
from shared import lease
from shared.archive_import import import_archive
from shared.clock import utcnow
from shared.config import Settings, UploadLimits
from shared.db.migrate import SchemaError
from shared.db.models import ArchiveImport, ArchiveUpload, FollowEdge, Person, UploadToken
from shared.portal import upload_queue, uploads
from shared.portal.upload_queue import MAX_ATTEMPTS, UploadGoneError, UploadQueue
from shared.vocabulary import UploadState
from tests.archives import make_archive

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from sqlalchemy.engine import Engine

    from shared.portal.upload_queue import Taken


def opened(queue: UploadQueue, n: int = 0) -> tuple[str, str]:
    """An archive coming in through a new person's link: the link's token and the upload's
    key."""
    with Session(queue.engine) as session, session.begin():
        person = Person()
        session.add(person)
        session.flush()
        person_id = person.id or 0
        token = uploads.issue(session, person_id, now=utcnow())
    key, folder = queue.open(token, person_id)
    make_archive(folder / "archive.zip", [1, 2, 3], [4], account_id=1000 + n, username=f"u{n}")
    return token, key


def queued(queue: UploadQueue, tmp_path: Path, n: int = 0) -> tuple[str, str]:
    """An archive received, waiting to be read."""
    token, key = opened(queue, n)
    queue.received(key)
    return token, key


def confirmed(queue: UploadQueue, tmp_path: Path) -> tuple[str, str]:
    """An archive read, and its import confirmed by its person."""
    token, key = queued(queue, tmp_path)
    taken = queue.take("reader")
    assert taken is not None and taken.state == UploadState.READING
    assert queue.read(taken, "reader", _summary(taken))
    uploads.claim(queue.engine, token)
    assert queue.confirm(token, key)
    return token, key


def _summary(taken: Taken):  # type: ignore[no-untyped-def]
    from shared.xarchive.reader import summarize_archive

    return summarize_archive(taken.path)


def test_each_upload_is_taken_by_one_process_however_many_ask(
    engine: Engine, tmp_path: Path
) -> None:
    queue = UploadQueue(engine, tmp_path / "uploads", max_held=100)
    keys = {uploads.hashed(queued(queue, tmp_path, n)[1]) for n in range(30)}
    taken: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while (row := queue.take(name)) is not None:
            with lock:
                taken.append(row.key_hash)

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == sorted(keys), "every upload taken, none twice"


def test_an_import_by_a_process_that_lost_its_upload_stores_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    queue = UploadQueue(engine, tmp_path / "uploads", max_held=10)
    _, key = confirmed(queue, tmp_path)
    frozen = lease.acquire(engine, "process:frozen", ttl=timedelta(milliseconds=1))
    first = queue.take(frozen.holder)
    assert first is not None and first.state == UploadState.IMPORTING
    assert queue.take("another") is None, "taken: nobody else takes it meanwhile"
    time.sleep(0.01)  # the frozen process's lease expires
    assert queue.recover() == 1
    second = queue.take("successor")
    assert second is not None and second.key_hash == first.key_hash

    def import_for(taken: Taken, holder: str) -> None:
        import_archive(
            engine, taken.path, for_person=taken.person_id,
            within=lambda session, summary: queue.imported(session, taken, holder, summary),
        )  # fmt: skip

    import_for(second, "successor")
    with pytest.raises(UploadGoneError):  # the frozen one wakes up and imports too
        import_for(first, frozen.holder)
    with Session(engine) as session:
        assert len(session.exec(select(ArchiveImport)).all()) == 1, "imported once"
        row = session.get_one(ArchiveUpload, uploads.hashed(key))
        assert (row.state, row.followers, row.claimed_by) == (UploadState.IMPORTED, 3, None)
    assert not queue.read(first, frozen.holder, _summary(second)), "nor can it write back"


def test_an_archive_that_stops_every_process_taking_it_is_refused(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """A process dies while importing it, again and again (it may be the archive's doing):
    after a few, it is refused on its page and its link given back for another file."""
    settings = Settings(
        database_url=database_url, upload_limits=UploadLimits(folder=tmp_path / "uploads")
    )
    imports = Imports(settings, engine)
    token, key = confirmed(imports.queue, tmp_path)
    for _ in range(MAX_ATTEMPTS):  # taken, and the taker dies
        dead = lease.acquire(engine, f"process:dead-{_}", ttl=timedelta(milliseconds=1))
        assert imports.queue.take(dead.holder) is not None
        time.sleep(0.01)
        assert imports.queue.recover() == 1
    alive = lease.acquire(engine, "process:alive")

    async def work() -> None:
        running = asyncio.create_task(imports.forever(lambda: alive.holder, lambda *_: None))
        deadline = time.monotonic() + 30
        while imports.queue.find(token, key).state != UploadState.REFUSED:  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "never refused"
            await asyncio.sleep(0.05)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

    try:
        asyncio.run(work())
    finally:
        imports.close()
    row = imports.queue.find(token, key)
    assert row is not None and row.error_status == 400
    assert f"this archive stopped {MAX_ATTEMPTS} imports" in (row.error or "")
    with Session(engine) as session:
        assert session.exec(select(ArchiveImport)).all() == [], "nothing imported"
        link = session.get_one(UploadToken, uploads.hashed(token))
        assert link.used_at is None, "the link can be used again"
    assert not (tmp_path / "uploads" / f"upload-{uploads.hashed(key)}").exists()


def test_files_without_a_row_and_rows_past_their_time_go(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "uploads"
    queue = UploadQueue(engine, root, max_held=10)
    _, waiting = queued(queue, tmp_path, 1)
    old, young = root / "upload-left-by-a-crash", root / "upload-being-made"
    for orphan in (old, young):
        orphan.mkdir()
        (orphan / "archive.zip").write_bytes(b"PK")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    assert queue.prune() == 1
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [young.name, f"upload-{uploads.hashed(waiting)}"]
    ), "a folder a web process may be making its row for is left a minute"

    monkeypatch.setattr(upload_queue, "READ_TTL", timedelta(0))
    token, expired = queued(queue, tmp_path, 2)  # never read: the work processes were away
    opened(queue, 3)  # coming in
    assert queue.find(token, expired) is None
    assert queue.prune() == 1, "the one past its time"
    assert queue.prune(alone=True) == 2, "alone at start: an upload coming in is a crash's"
    names = [p.name for p in root.iterdir()]
    assert names == [f"upload-{uploads.hashed(waiting)}"]


def test_a_work_process_of_another_release_leaves_the_upload_to_the_others(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """During an upgrade, a work process whose code is older than the schema takes an upload
    and cannot import it: the upload goes back to the queue, never refused for that, however
    often it is taken."""
    settings = Settings(
        database_url=database_url, upload_limits=UploadLimits(folder=tmp_path / "uploads")
    )
    imports = Imports(settings, engine)
    token, key = confirmed(imports.queue, tmp_path)

    def older(_engine: object) -> None:
        raise SchemaError("the database schema is 0018, this code needs 0017: run hqx db upgrade")

    monkeypatch.setattr("shared.archive_import.require_current", older)
    monkeypatch.setattr("hqx.imports.POLL_SEC", 0.01)
    old = lease.acquire(engine, "process:old-release")

    async def work() -> None:
        running = asyncio.create_task(imports.forever(lambda: old.holder, lambda *_: None))
        await asyncio.sleep(1.0)  # it takes the upload again and again meanwhile
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

    try:
        asyncio.run(work())
    finally:
        imports.close()
    row = imports.queue.find(token, key)
    assert row is not None and row.state == UploadState.IMPORTING, "still queued, not refused"
    assert row.claimed_by is None and row.attempts <= 1
    monkeypatch.undo()
    taken = imports.queue.take("new-release")
    assert taken is not None, "a process of the new release takes it"


def test_confirming_stores_what_the_first_read_kept_without_reading_it_again(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """The archive is read once: what its page showed is what confirming stores (the ids
    kept beside it, bounded as it is), and they go with the upload."""
    settings = Settings(
        database_url=database_url, upload_limits=UploadLimits(folder=tmp_path / "uploads")
    )
    imports = Imports(settings, engine)
    token, key = queued(imports.queue, tmp_path)
    folder = imports.queue.folder(uploads.hashed(key))
    alive = lease.acquire(engine, "process:alive")

    def until(state: UploadState, then: Callable[[], bool] = lambda: True) -> None:
        """Runs the work loop until the upload is in ``state`` and ``then`` holds (what
        follows a commit, such as removing the upload's files, is not cut short)."""

        async def work() -> None:
            running = asyncio.create_task(imports.forever(lambda: alive.holder, lambda *_: None))
            deadline = time.monotonic() + 30
            while imports.queue.find(token, key).state != state or not then():  # type: ignore[union-attr]
                assert time.monotonic() < deadline, f"never {state} (and what follows)"
                await asyncio.sleep(0.05)
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

        asyncio.run(work())

    try:
        until(UploadState.WAITING)
        # Were the archive read again, this would refuse it.
        (folder / "archive.zip").write_bytes(b"not a zip any more")
        uploads.claim(engine, token)
        assert imports.queue.confirm(token, key)
        until(UploadState.IMPORTED, then=lambda: not list(folder.glob("*.u64")))
    finally:
        imports.close()
    with Session(engine) as session:
        edges = {(e.direction, e.other_x_id) for e in session.exec(select(FollowEdge))}
        [record] = session.exec(select(ArchiveImport)).all()
    assert edges == {(1, 1), (1, 2), (1, 3), (2, 4)}, "followers 1, 2, 3; following 4"
    assert (record.followers, record.following) == (3, 1)
    assert not list(folder.glob("*.u64")), "the ids kept go with the upload"
