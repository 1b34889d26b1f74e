"""Storing an X archive's follow graph for its owner, replacing an earlier import atomically."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from shared.db import bulk
from shared.db.migrate import require_current
from shared.db.models import (
    ArchiveImport,
    Direction,
    Person,
    PersonKind,
    TrustLevel,
    XIdentity,
    utcnow,
)
from shared.xarchive.reader import ArchiveSummary, XArchive, read_archive
from shared.xarchive.xid import to_db

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine

    from shared.config import ArchiveLimits
    from shared.xarchive.reader import Progress


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import stored."""

    summary: ArchiveSummary
    person_id: int
    replaced_edges: int
    """Edges of an earlier import of the same account, now replaced."""
    new_person: bool


def import_archive(
    engine: Engine,
    path: Path,
    limits: ArchiveLimits | None = None,
    *,
    kind: PersonKind = PersonKind.INDIVIDUAL,
    progress: Progress | None = None,
) -> ImportResult:
    """Read the archive at ``path`` whole, then store it in one transaction.

    Reading comes first, so a refused archive leaves the database untouched; the transaction
    makes a re-import replace the earlier one all at once, never half.
    """
    require_current(engine)
    with read_archive(path, limits, progress=progress) as archive:
        return store_archive(engine, archive, kind=kind)


def store_archive(engine: Engine, archive: XArchive, *, kind: PersonKind) -> ImportResult:
    """Store an archive that was read; see :func:`import_archive`."""
    owner = to_db(archive.account.account_id)
    with Session(engine) as session, session.begin():
        identity, new_person = _owner_identity(session, owner, archive.account.username, kind)
        connection = session.connection()
        replaced = bulk.delete_edges(connection, owner)
        bulk.insert_edges(connection, owner, Direction.FOLLOWER, archive.followers.sorted_blocks())
        bulk.insert_edges(connection, owner, Direction.FOLLOWING, archive.following.sorted_blocks())
        summary = archive.summary  # after the inserts, which counted the ids as they went
        record = session.exec(
            select(ArchiveImport).where(ArchiveImport.x_account_id == owner)
        ).first()
        record = record or ArchiveImport(x_account_id=owner)
        record.followers = summary.followers
        record.following = summary.following
        record.rejected_rows = summary.rejected_rows
        record.duplicate_rows = summary.duplicate_rows
        record.files = summary.files
        record.imported_at = utcnow()
        session.add(record)
        return ImportResult(summary, identity.person_id, replaced, new_person)


def _owner_identity(
    session: Session, owner: int, username: str, kind: PersonKind
) -> tuple[XIdentity, bool]:
    """The owner's X identity, created with its person if new, locked for this transaction."""
    statement = select(XIdentity).where(XIdentity.x_account_id == owner).with_for_update()
    identity = session.exec(statement).first()
    if identity is not None:
        identity.username = username
        identity.updated_at = utcnow()
        session.add(identity)
        return identity, False
    person = Person(kind=kind)
    session.add(person)
    session.flush()
    if person.id is None:
        raise RuntimeError("the database assigned no id to a new person")
    identity = XIdentity(
        x_account_id=owner, person_id=person.id, username=username, trust=TrustLevel.CLAIMED
    )
    session.add(identity)
    session.flush()
    return identity, True
