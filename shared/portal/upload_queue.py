"""Uploaded archives on their way to an import, queued in the database so that any web
process takes an upload and any work process reads and imports it (several processes on one
database, one uploads folder they share).

An upload's row is made before its first byte is written (every folder has a row), then:
received -> read by a work process -> waits for its person to confirm -> imported by a work
process; or refused (a one-line reason kept a day for its page), dropped, replaced by a newer
upload through the same link, or expired. A work process takes a row by writing its lease
holder on it while nobody holds it (rows taken one at a time, ``SKIP LOCKED`` where the
database has it); what it writes back counts only while the row is still its own, and the
import's own transaction marks the row imported, so that an archive is imported once even
when a process dies mid-way (its rows go back to the queue once its lease is gone)."""

from __future__ import annotations

import secrets
import shutil
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from shared.clock import utcnow
from shared.db.models import ArchiveUpload, ServiceLease
from shared.errors import HqxError
from shared.portal.uploads import hashed
from shared.vocabulary import UploadState

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine
    from sqlalchemy.sql.elements import ColumnElement

    from shared.xarchive.reader import ArchiveSummary

RECEIVE_TTL = timedelta(hours=1)
"""The longest an upload may take to come in (then its row and bytes go)."""
READ_TTL = timedelta(hours=6)
"""How long a received archive may wait to be read and imported, work processes busy."""
STAGED_TTL = timedelta(minutes=30)
"""How long a read archive waits for its person to confirm the import."""
SHOWN_TTL = timedelta(days=1)
"""How long the page of an imported or refused archive says so."""
ORPHAN_AGE_SEC = 60.0
"""A folder without a row is left this long (a web process may be between the two)."""
MAX_ATTEMPTS = 3
"""Work processes that may die on one archive before it is refused (it may be what kills
them)."""
TAKEN = (UploadState.READING, UploadState.IMPORTING)
"""The states in which a work process takes a row."""
HELD = (UploadState.RECEIVING, UploadState.READING, UploadState.WAITING)
"""The states that count against the bound of archives held at once; a newer upload through
the same link replaces one in these."""


class QueueFullError(HqxError):
    """Too many archives are already held for their people."""


class UploadGoneError(HqxError):
    """The upload no longer waits: replaced by a newer one, dropped or expired."""


@dataclass(frozen=True, slots=True)
class Taken:
    """A row a work process took, to read or to import."""

    key_hash: str
    token_hash: str
    person_id: int
    state: UploadState
    attempts: int
    path: Path
    """The archive; its folder holds what reading spills too."""


class UploadQueue:
    """The uploads' rows and their folders under ``root``, kept in step."""

    def __init__(self, engine: Engine, root: Path, *, max_held: int) -> None:
        self.engine, self.root, self.max_held = engine, root, max_held

    def folder(self, key_hash: str) -> Path:
        """Where an upload's bytes are."""
        return self.root / f"upload-{key_hash}"

    def open(self, token: str, person_id: int) -> tuple[str, Path]:
        """A new upload through the link ``token`` (checked by the caller): its key and
        its folder, made after its row. A newer upload replaces one the link already holds.

        Raises:
            QueueFullError: as many archives as the bound are held already.
        """
        key = secrets.token_urlsafe(16)
        now = utcnow()
        with Session(self.engine) as session, session.begin():
            replaced = self._held(session, hashed(token))
            session.execute(delete(ArchiveUpload).where(col(ArchiveUpload.key_hash).in_(replaced)))
            held = session.execute(
                select(func.count()).where(
                    col(ArchiveUpload.state).in_(HELD), col(ArchiveUpload.expires_at) > now
                )
            ).scalar_one()
            if held >= self.max_held:
                raise QueueFullError(
                    f"{self.max_held} archives already wait for confirmation: "
                    "try again in a few minutes"
                )
            session.add(
                ArchiveUpload(
                    key_hash=hashed(key),
                    token_hash=hashed(token),
                    person_id=person_id,
                    state=UploadState.RECEIVING,
                    expires_at=now + RECEIVE_TTL,
                )
            )
        for gone in replaced:
            self._remove(gone)
        folder = self.folder(hashed(key))
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.mkdir(mode=0o700)
        return key, folder

    def received(self, key: str) -> None:
        """The upload's bytes are all in: to be read.

        Raises:
            UploadGoneError: it was replaced or dropped meanwhile (its folder is gone).
        """
        moved = self._move(hashed(key), UploadState.RECEIVING, UploadState.READING, READ_TTL)
        if not moved:
            self._remove(hashed(key))
            raise UploadGoneError("a newer upload through this link replaced this one")

    def abandon(self, key: str) -> None:
        """Forget an upload that could not be received (refused as it came)."""
        self._delete(hashed(key))

    def find(self, token: str, key: str) -> ArchiveUpload | None:
        """The upload ``key`` of the link ``token``, unless it is gone or expired."""
        with Session(self.engine) as session:
            found = session.get(ArchiveUpload, hashed(key))
        if found is None or found.token_hash != hashed(token) or found.expires_at <= utcnow():
            return None
        return found

    def confirm(self, token: str, key: str) -> bool:
        """Its person confirmed the import (the link is claimed by the caller): to be
        imported; ``False`` if it no longer waits for that."""
        if self.find(token, key) is None:
            return False
        return self._move(hashed(key), UploadState.WAITING, UploadState.IMPORTING, READ_TTL)

    def drop(self, token: str, key: str) -> bool:
        """Its person does not want it imported; ``False`` if it no longer waited."""
        found = self.find(token, key)
        if found is None or found.state != UploadState.WAITING:
            return False
        self._delete(found.key_hash)
        return True

    def take(self, holder: str) -> Taken | None:
        """The oldest row waiting for a work process, taken for ``holder`` (a lease's);
        ``None`` when none waits. One statement, so that two takers never share a row."""
        oldest = (
            select(ArchiveUpload.key_hash)
            .where(
                col(ArchiveUpload.state).in_(TAKEN),
                col(ArchiveUpload.claimed_by).is_(None),
                col(ArchiveUpload.expires_at) > utcnow(),
            )
            .order_by(col(ArchiveUpload.created_at))
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        with Session(self.engine) as session, session.begin():
            row = session.execute(
                update(ArchiveUpload)
                .where(
                    col(ArchiveUpload.key_hash) == oldest, col(ArchiveUpload.claimed_by).is_(None)
                )
                .values(claimed_by=holder, attempts=ArchiveUpload.attempts + 1, updated_at=utcnow())
                .returning(
                    col(ArchiveUpload.key_hash),
                    col(ArchiveUpload.token_hash),
                    col(ArchiveUpload.person_id),
                    col(ArchiveUpload.state),
                    col(ArchiveUpload.attempts),
                )
            ).first()
        if row is None:
            return None
        key_hash, token_hash, person_id, state, attempts = row
        path = self.folder(key_hash) / "archive.zip"
        return Taken(key_hash, token_hash, person_id, UploadState(state), attempts, path)

    def read(self, taken: Taken, holder: str, summary: ArchiveSummary) -> bool:
        """What a taken archive holds, for its person to confirm; ``False`` if the row is
        no longer ``holder``'s (dropped, replaced, or taken over)."""
        values = {
            "state": UploadState.WAITING,
            "username": summary.username,
            "followers": summary.followers,
            "following": summary.following,
            "rejected_rows": summary.rejected_rows,
            "expires_at": utcnow() + STAGED_TTL,
        }
        return self._write_back(taken, holder, values)

    def imported(
        self, session: Session, taken: Taken, holder: str, summary: ArchiveSummary
    ) -> None:
        """Mark the row imported, in the import's own transaction.

        Raises:
            UploadGoneError: the row is no longer ``holder``'s: the import must not count.
        """
        done = session.execute(
            update(ArchiveUpload)
            .where(*self._own(taken, holder))
            .values(
                state=UploadState.IMPORTED,
                claimed_by=None,
                username=summary.username,
                followers=summary.followers,
                following=summary.following,
                expires_at=utcnow() + SHOWN_TTL,
                updated_at=utcnow(),
            )
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise UploadGoneError("this archive was taken over by another work process")

    def refuse(self, taken: Taken, holder: str, error: str, status: int) -> bool:
        """The archive is refused, for the one-line reason ``error`` (shown with ``status``)."""
        values = {
            "state": UploadState.REFUSED,
            "error": error[:1000],
            "error_status": status,
            "expires_at": utcnow() + SHOWN_TTL,
        }
        written = self._write_back(taken, holder, values)
        self._remove(taken.key_hash)
        return written

    def finished(self, taken: Taken) -> None:
        """An imported archive's bytes are no longer needed."""
        self._remove(taken.key_hash)

    def put_back(self, taken: Taken, holder: str) -> None:
        """Leave a taken row to a later turn (reading or importing failed for a reason not
        the archive's: the database was away, the schema is another release's). The taking
        does not count: only a taker's death does (see :data:`MAX_ATTEMPTS`)."""
        self._write_back(taken, holder, {"attempts": ArchiveUpload.attempts - 1})

    def recover(self) -> int:
        """Rows taken by processes whose lease has expired go back to the queue; return
        how many."""
        live = select(ServiceLease.holder).where(col(ServiceLease.expires_at) > utcnow())
        with Session(self.engine) as session, session.begin():
            result = session.execute(
                update(ArchiveUpload)
                .where(
                    col(ArchiveUpload.claimed_by).is_not(None),
                    col(ArchiveUpload.claimed_by).not_in(live),
                )
                .values(claimed_by=None, updated_at=utcnow())
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def prune(self, *, alone: bool = False) -> int:
        """Rows past their time, and folders without a row (their row went with its person
        or its link, or a crash came between them) a minute old; return how many folders
        went. ``alone``: no other process uses the queue (the all-in-one service, starting),
        so that uploads being received are a crash's, and every folder without a row."""
        with Session(self.engine) as session, session.begin():
            stale = col(ArchiveUpload.expires_at) <= utcnow()
            if alone:
                stale = stale | (col(ArchiveUpload.state) == UploadState.RECEIVING)
            gone = session.execute(
                delete(ArchiveUpload).where(stale).returning(col(ArchiveUpload.key_hash))
            ).scalars()
            expired = list(gone)
        for key_hash in expired:
            self._remove(key_hash)
        if not self.root.is_dir():
            return len(expired)
        with Session(self.engine) as session:
            kept = {f"upload-{h}" for h in session.exec(select(ArchiveUpload.key_hash))}
        removed = 0
        for path in self.root.iterdir():
            young = time.time() - path.lstat().st_mtime < ORPHAN_AGE_SEC
            if path.name in kept or (young and not alone):
                continue
            _remove_path(path)
            removed += 1
        return len(expired) + removed

    def counts(self) -> dict[UploadState, int]:
        """Rows in each state now (for ``/metrics``)."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(ArchiveUpload.state, func.count()).group_by(col(ArchiveUpload.state))
            ).all()
        return {UploadState(state): int(n) for state, n in rows}

    def _held(self, session: Session, token_hash: str) -> list[str]:
        return list(
            session.exec(
                select(ArchiveUpload.key_hash).where(
                    ArchiveUpload.token_hash == token_hash, col(ArchiveUpload.state).in_(HELD)
                )
            )
        )

    def _move(self, key_hash: str, before: UploadState, after: UploadState, ttl: timedelta) -> bool:
        with Session(self.engine) as session, session.begin():
            moved = session.execute(
                update(ArchiveUpload)
                .where(col(ArchiveUpload.key_hash) == key_hash, col(ArchiveUpload.state) == before)
                .values(state=after, expires_at=utcnow() + ttl, updated_at=utcnow())
            )
            return bool(moved.rowcount == 1)  # type: ignore[attr-defined]

    @staticmethod
    def _own(taken: Taken, holder: str) -> list[ColumnElement[bool]]:
        return [
            col(ArchiveUpload.key_hash) == taken.key_hash,
            col(ArchiveUpload.state) == taken.state,
            col(ArchiveUpload.claimed_by) == holder,
        ]

    def _write_back(self, taken: Taken, holder: str, values: dict[str, object]) -> bool:
        with Session(self.engine) as session, session.begin():
            written = session.execute(
                update(ArchiveUpload)
                .where(*self._own(taken, holder))
                .values(claimed_by=None, updated_at=utcnow(), **values)
            )
            return bool(written.rowcount == 1)  # type: ignore[attr-defined]

    def _delete(self, key_hash: str) -> None:
        with Session(self.engine) as session, session.begin():
            session.execute(delete(ArchiveUpload).where(col(ArchiveUpload.key_hash) == key_hash))
        self._remove(key_hash)

    def _remove(self, key_hash: str) -> None:
        _remove_path(self.folder(key_hash))


def _remove_path(path: Path) -> None:
    """Remove a folder or a file, whichever it is by now: a web process may be making an
    upload's folder (after its row) while a newer upload through the same link removes it."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
        return
    try:
        path.unlink(missing_ok=True)
    except IsADirectoryError:  # made between the look and the unlink
        shutil.rmtree(path, ignore_errors=True)
