"""Backups an operator can rely on: `hqx db backup` copies the database while it runs (the
newest few kept), `hqx db restore` puts that copy back, on SQLite and on PostgreSQL, and
refuses while a process works on the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session, select

from hqx.cli import main
from shared import lease
from shared.db import backup
from shared.db.models import Person

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine


def people(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(p.locale or "" for p in session.exec(select(Person)))


def add(engine: Engine, locale: str) -> None:
    with Session(engine) as session, session.begin():
        session.add(Person(locale=locale))


def test_a_backup_restored_gives_the_database_back_as_it_was(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(engine, "fr")
    monkeypatch.setenv("HQX_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    assert main(["db", "backup", str(tmp_path / "copies")]) == 0
    [copy] = list((tmp_path / "copies").iterdir())
    add(engine, "en")  # after the copy: lost by the restore, as an operator expects
    assert people(engine) == ["en", "fr"]
    engine.dispose()  # the service is stopped for a restore
    assert main(["db", "restore", str(copy)]) == 0
    assert people(engine) == ["fr"]
    assert main(["db", "status"]) == 0, "the schema came back with the data"


def test_the_newest_copies_are_kept(engine: Engine, database_url: str, tmp_path: Path) -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    copies = tmp_path / "copies"
    made = [
        backup.backup(database_url, copies, keep=3, now=start + timedelta(days=n)) for n in range(5)
    ]
    assert sorted(copies.iterdir()) == made[-3:]
    assert all(p.stat().st_size > 0 for p in made[-3:])


def test_a_restore_refuses_while_a_process_works_on_the_database(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    copy = backup.backup(database_url, tmp_path, keep=1)
    held = lease.acquire(engine)  # a running hqx run
    with pytest.raises(backup.BackupError, match="a process works on this database"):
        backup.restore(database_url, copy)
    lease.release(engine, held)
    with pytest.raises(backup.BackupError, match="is not a backup file"):
        backup.restore(database_url, tmp_path / "nothing-here")
