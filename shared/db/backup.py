"""Backups of the database and their restore, for an operator (``hqx db backup``, ``hqx
db restore``) and a timer: a consistent copy taken while the service runs (SQLite's online
backup; PostgreSQL's ``pg_dump``, in its custom format), written whole or not at all, the
newest few kept. A restore replaces the database's content with the copy's, and refuses
while a process works on the database."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from shared import lease, roles
from shared.db.engine import create_sync_engine, sync_url
from shared.errors import HqxError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

PREFIX = "hqx-"
DUMP_TIMEOUT_SEC = 6 * 3600.0


class BackupError(HqxError):
    """A backup or a restore could not be made (the reason names what)."""


def backup(database_url: str, into: Path, *, keep: int, now: datetime | None = None) -> Path:
    """A copy of the database in the folder ``into``, named for when it was taken; the
    ``keep`` newest copies of that folder are kept, the older ones deleted. Returns it."""
    url = sync_url(database_url)
    into.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    sqlite = url.get_backend_name() == "sqlite"
    target = into / f"{PREFIX}{stamp}.{'sqlite' if sqlite else 'dump'}"
    partial = target.with_name(f".{target.name}.partial")
    try:
        if sqlite:
            _sqlite_copy(_sqlite_path(url), partial)
        else:
            _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                  f"--file={partial}", f"--dbname={_libpq(url)}"], url)  # fmt: skip
        partial.replace(target)  # whole, or not there at all
    finally:
        partial.unlink(missing_ok=True)
    for old in sorted(into.glob(f"{PREFIX}*"))[:-keep] if keep > 0 else []:
        old.unlink()
    return target


def restore(database_url: str, source: Path) -> None:
    """Replace the database's content with the copy ``source``.

    Raises:
        BackupError: a process works on the database, or the copy cannot be read.
    """
    if not source.is_file():
        raise BackupError(f"{source} is not a backup file")
    url = sync_url(database_url)
    engine = create_sync_engine(database_url)
    try:
        running = _holders(engine)
    finally:
        engine.dispose()
    if running:
        raise BackupError(f"a process works on this database ({running[0]}): stop it first")
    if url.get_backend_name() == "sqlite":
        _sqlite_copy(source, _sqlite_path(url))
        return
    _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges",
          "--single-transaction", f"--dbname={_libpq(url)}", str(source)], url)  # fmt: skip


def _holders(engine: Engine) -> list[str]:
    """The processes that work on the database now."""
    return [*roles.live(engine, lease.SERVICE), *roles.live(engine, roles.PROCESS)]


def _sqlite_path(url: URL) -> Path:
    if not url.database:
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(url.database)


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy even while the service writes."""
    try:
        origin, copy = sqlite3.connect(source), sqlite3.connect(target)
        try:
            origin.backup(copy)
        finally:
            copy.close()
            origin.close()
    except sqlite3.Error as e:
        raise BackupError(f"{source}: {e}") from e


def _libpq(url: URL) -> str:
    """The URL for ``pg_dump`` and ``pg_restore``: libpq's, without the password (it goes
    through the environment, never the command line that ``ps`` shows)."""
    plain = make_url(url.render_as_string(hide_password=False)).set(
        drivername="postgresql", password=None
    )
    return plain.render_as_string(hide_password=False)


def _run(command: list[str], url: URL) -> None:
    program = shutil.which(command[0])
    if program is None:
        raise BackupError(f"{command[0]} is missing (Debian: apt install postgresql-client)")
    env = {**os.environ, "PGPASSWORD": url.password or ""}
    done = subprocess.run(  # noqa: S603  (a fixed program; arguments we built)
        [program, *command[1:]], env=env, capture_output=True, text=True,
        timeout=DUMP_TIMEOUT_SEC, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BackupError(f"{command[0]} failed: {said}")
