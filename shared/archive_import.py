"""Storing an X archive's follow graph for its owner, replacing an earlier import atomically."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete
from sqlmodel import Session, col, select

from shared.db import bulk
from shared.db.migrate import require_current
from shared.db.models import (
    ArchiveImport,
    Direction,
    Identity,
    Person,
    PersonKind,
    TrustLevel,
    XIdentity,
    utcnow,
)
from shared.errors import HqxError
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
    for_person: int | None = None,
) -> ImportResult:
    """Read the archive at ``path`` whole, then store it in one transaction.

    Reading comes first, so a refused archive leaves the database untouched; the transaction
    makes a re-import replace the earlier one all at once, never half. With ``for_person``,
    the X account is claimed for that person (the one who uploaded it through the bot's link).

    Raises:
        ArchiveClaimError: the X account is already linked to someone else.
    """
    require_current(engine)
    with read_archive(path, limits, progress=progress) as archive:
        return store_archive(engine, archive, kind=kind, for_person=for_person)


class ArchiveClaimError(HqxError):
    """An archive's X account already belongs to another person of the service."""


def store_archive(
    engine: Engine, archive: XArchive, *, kind: PersonKind, for_person: int | None = None
) -> ImportResult:
    """Store an archive that was read; see :func:`import_archive`."""
    owner = to_db(archive.account.account_id)
    with Session(engine) as session, session.begin():
        identity, new_person = _owner_identity(
            session, owner, archive.account.username, kind, for_person
        )
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
    session: Session, owner: int, username: str, kind: PersonKind, for_person: int | None
) -> tuple[XIdentity, bool]:
    """The owner's X identity, created (with its person, unless ``for_person``) if new, locked
    for this transaction."""
    statement = select(XIdentity).where(XIdentity.x_account_id == owner).with_for_update()
    identity = session.exec(statement).first()
    if identity is not None:
        if for_person is not None and identity.person_id != for_person:
            _move_to(session, identity, for_person)
        identity.username = username
        identity.updated_at = utcnow()
        session.add(identity)
        return identity, False
    new_person = for_person is None
    if for_person is None:
        person = Person(kind=kind)
        session.add(person)
        session.flush()
        if person.id is None:
            raise RuntimeError("the database assigned no id to a new person")
        for_person = person.id
    identity = XIdentity(
        x_account_id=owner, person_id=for_person, username=username, trust=TrustLevel.CLAIMED
    )
    session.add(identity)
    session.flush()
    return identity, new_person


def _move_to(session: Session, identity: XIdentity, person_id: int) -> None:
    """Give an X identity to ``person_id``: only if its person has no other account (an
    operator's import), never taking it from someone who linked accounts."""
    if Identity.of_person(session, identity.person_id):
        raise ArchiveClaimError(
            f"the X account @{identity.username} is already linked to someone else"
        )
    previous = identity.person_id
    identity.person_id = person_id
    session.add(identity)
    session.flush()
    session.execute(delete(Person).where(col(Person.id) == previous))
