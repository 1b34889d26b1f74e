"""The campaign's media directory: outlets and organisations with where they stand with X
and their accounts on each network. An outlet asks through its space on the portal; an
operator approves (``hqx directory approve``); only approved entries are public, each with
the accounts the service has proven to be theirs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from shared.clock import utcnow
from shared.db.models import DirectoryEntry, Identity, Person, XIdentity
from shared.errors import HqxError
from shared.vocabulary import DirectoryStatus, Network, PersonKind, TrustLevel

if TYPE_CHECKING:
    from datetime import datetime

NAME_MAX = 120


class DirectoryError(HqxError):
    """A request the directory cannot take, said in one line."""


@dataclass(frozen=True, slots=True)
class Listed:
    person: int
    name: str
    status: str
    accounts: dict[Network, str]
    """Network -> handle: the accounts proven theirs (X: a verified or proven username)."""
    requested_at: datetime
    approved_at: datetime | None


def ask(session: Session, person_id: int, name: str, status: str) -> DirectoryEntry:
    """The person asks to be listed, or changes their entry: a new name waits for an
    operator again; a new status alone shows at once."""
    name = " ".join(name.split())
    if not name or len(name) > NAME_MAX:
        raise DirectoryError(f"the name must be 1 to {NAME_MAX} characters, not {len(name)}")
    if status not in {s.value for s in DirectoryStatus}:
        raise DirectoryError(f"unknown status {status!r}: considering, committed or left")
    entry = session.get(DirectoryEntry, person_id)
    now = utcnow()
    if entry is None:
        entry = DirectoryEntry(person_id=person_id, name=name, status=status, requested_at=now)
    elif entry.name != name:
        entry.name, entry.approved_at, entry.requested_at = name, None, now
    entry.status, entry.updated_at = status, now
    session.add(entry)
    return entry


def approve(session: Session, person_id: int) -> DirectoryEntry:
    """Show the entry; its person is an organisation from now on."""
    entry = _entry(session, person_id)
    entry.approved_at = entry.updated_at = utcnow()
    person = session.get_one(Person, person_id)
    person.kind = PersonKind.ORGANISATION.value
    session.add_all([entry, person])
    return entry


def remove(session: Session, person_id: int) -> None:
    """Take the entry out of the directory (asked again, it waits for approval again)."""
    session.delete(_entry(session, person_id))


def entries(session: Session, *, approved: bool | None = True) -> list[Listed]:
    """Entries by name: approved ones (``True``), pending (``False``) or all (``None``)."""
    query = select(DirectoryEntry).order_by(col(DirectoryEntry.name))
    if approved is True:
        query = query.where(col(DirectoryEntry.approved_at).is_not(None))
    elif approved is False:
        query = query.where(col(DirectoryEntry.approved_at).is_(None))
    return [
        Listed(
            e.person_id,
            e.name,
            e.status,
            _accounts(session, e.person_id),
            e.requested_at,
            e.approved_at,
        )
        for e in session.exec(query)
    ]


def _entry(session: Session, person_id: int) -> DirectoryEntry:
    entry = session.get(DirectoryEntry, person_id)
    if entry is None:
        raise DirectoryError(f"person {person_id} has not asked to be in the directory")
    return entry


def _accounts(session: Session, person_id: int) -> dict[Network, str]:
    identities = Identity.of_person(session, person_id)
    accounts: dict[Network, str] = {i.network: i.handle for i in identities}
    for x in XIdentity.of_person(session, person_id):
        if x.trust == TrustLevel.VERIFIED or x.username_proven_at is not None:
            accounts[Network.X] = x.username
    return accounts
