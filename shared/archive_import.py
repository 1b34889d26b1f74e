"""Storing an X archive's follow graph for its owner, replacing an earlier import atomically."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from shared.bot import notices
from shared.clock import utcnow
from shared.db import bulk
from shared.db.migrate import require_current
from shared.db.models import ArchiveImport, Person, XIdentity
from shared.identity import xtrust
from shared.reconnection import matching
from shared.vocabulary import Direction, PersonKind, TrustLevel
from shared.xarchive.reader import ArchiveSummary, XArchive, read_archive
from shared.xarchive.xid import to_db

if TYPE_CHECKING:
    from collections.abc import Callable
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
    notify_on: tuple[str, ...] = (),
    spill_dir: Path | None = None,
    within: Callable[[Session, ArchiveSummary], None] | None = None,
    kept_beside: bool = False,
) -> ImportResult:
    """Read the archive at ``path`` whole, then store it in one transaction; with
    ``kept_beside``, what a first read kept beside it is stored (read again if none is).

    Reading comes first, so a refused archive leaves the database untouched; the transaction
    makes a re-import replace the earlier one all at once, never half. With ``for_person``,
    the X account is claimed for that person (the one who uploaded it through the bot's
    link; see :mod:`shared.identity.xtrust` for what a claim can and cannot take); without, an
    operator imports it, and it is reserved for its owner. People told of a dispute are told
    on the first of ``notify_on`` (networks whose bot sends messages) where they are.
    ``within(session, summary)`` runs in the import's transaction, last: what it raises
    undoes the import (an upload queue marks its row imported there, once).

    Raises:
        ClaimRefusedError: a verified holder has the X account.
        ClaimDisputedError: another person holds it: the claim is recorded, the account is
            disputed, nothing of the archive is stored.
    """
    require_current(engine)
    kept = XArchive.kept(path.parent) if kept_beside else None
    with kept or read_archive(path, limits, progress=progress, spill_dir=spill_dir) as archive:
        return store_archive(
            engine, archive, kind=kind, for_person=for_person, notify_on=notify_on, within=within
        )


def store_archive(
    engine: Engine,
    archive: XArchive,
    *,
    kind: PersonKind,
    for_person: int | None = None,
    notify_on: tuple[str, ...] = (),
    within: Callable[[Session, ArchiveSummary], None] | None = None,
) -> ImportResult:
    """Store an archive that was read; see :func:`import_archive`."""
    owner = to_db(archive.account.account_id)
    disputed: xtrust.ClaimDisputedError | None = None
    with Session(engine) as session, session.begin():
        try:
            identity, new_person = _owner_identity(
                session, owner, archive.account.username, kind, for_person
            )
        except xtrust.ClaimDisputedError as e:  # the claim stands: kept, and the holder told
            notices.queue(session, e.notices, notify_on)
            disputed = e
        else:
            result = _store_graph(session, archive, owner, identity.person_id, new_person)
            if within is not None:
                within(session, result.summary)
            return result
    raise disputed


def _store_graph(
    session: Session, archive: XArchive, owner: int, person_id: int, new_person: bool
) -> ImportResult:
    connection = session.connection()
    replaced = bulk.delete_edges(connection, owner)
    bulk.insert_edges(connection, owner, Direction.FOLLOWER, archive.followers.sorted_blocks())
    bulk.insert_edges(connection, owner, Direction.FOLLOWING, archive.following.sorted_blocks())
    summary = archive.summary  # after the inserts, which counted the ids as they went
    record = session.exec(select(ArchiveImport).where(ArchiveImport.x_account_id == owner)).first()
    record = record or ArchiveImport(x_account_id=owner)
    record.followers = summary.followers
    record.following = summary.following
    record.rejected_rows = summary.rejected_rows
    record.duplicate_rows = summary.duplicate_rows
    record.files = summary.files
    record.imported_at = utcnow()
    session.add(record)
    matching.request(session, person_id)  # who the new graph finds, and who finds it
    return ImportResult(summary, person_id, replaced, new_person)


def _owner_identity(
    session: Session, owner: int, username: str, kind: PersonKind, for_person: int | None
) -> tuple[XIdentity, bool]:
    """The owner's X identity: claimed for ``for_person``, or (an operator's import) updated,
    or created reserved with a new person."""
    if for_person is not None:
        return xtrust.claim(session, for_person, owner, username).identity, False
    statement = select(XIdentity).where(XIdentity.x_account_id == owner).with_for_update()
    identity = session.exec(statement).first()
    if identity is not None:
        identity.username, identity.updated_at = username, utcnow()
        session.add(identity)
        return identity, False
    person = Person(kind=kind)
    session.add(person)
    session.flush()
    if person.id is None:
        raise RuntimeError("the database assigned no id to a new person")
    identity = XIdentity(
        x_account_id=owner, person_id=person.id, username=username, trust=TrustLevel.RESERVED
    )
    session.add(identity)
    session.flush()
    return identity, True
