"""The campaign's media directory: outlets and organisations with where they stand with X
and their accounts on each network. An outlet asks through its space on the portal; an
operator approves (``hqx directory approve``); only approved entries are public, each with
the accounts the service has proven to be theirs."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from shared.clock import utcnow
from shared.db.models import DirectoryEntry, Identity, Person, XIdentity
from shared.errors import HqxError
from shared.vocabulary import DirectoryStatus, Network, PersonKind, TrustLevel, XButton

if TYPE_CHECKING:
    from datetime import datetime

NAME_MAX = 120
SLUG_BASE_MAX = 40
"""A slug's length before its ``-N`` (one more outlet of the same name)."""
_SLUG_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class DirectoryError(HqxError):
    """A request the directory cannot take, said in one line."""


@dataclass(frozen=True, slots=True)
class Listed:
    person: int
    name: str
    slug: str
    status: str
    x_button: XButton | None
    accounts: dict[Network, str]
    """Network -> handle: the accounts proven theirs (X: a verified or proven username)."""
    requested_at: datetime
    approved_at: datetime | None


def ask(
    session: Session, person_id: int, name: str, status: str, x_button: str = ""
) -> DirectoryEntry:
    """The person asks to be listed, or changes their entry: a new name waits for an
    operator again; a new status, or what they say of X's button, shows at once."""
    name = " ".join(name.split())
    if not name or len(name) > NAME_MAX:
        raise DirectoryError(f"the name must be 1 to {NAME_MAX} characters, not {len(name)}")
    if status not in {s.value for s in DirectoryStatus}:
        raise DirectoryError(f"unknown status {status!r}: considering, committed or left")
    if x_button and x_button not in {b.value for b in XButton}:
        raise DirectoryError(f"unknown answer about X's button {x_button!r}: shown or removed")
    entry = session.get(DirectoryEntry, person_id)
    now = utcnow()
    if entry is None:
        entry = DirectoryEntry(
            person_id=person_id, name=name, slug=_free_slug(session, name), requested_at=now
        )
    elif entry.name != name:
        entry.name, entry.approved_at, entry.requested_at = name, None, now
    entry.status, entry.updated_at = status, now
    entry.x_button = XButton(x_button) if x_button else None
    session.add(entry)
    return entry


def slug_of(name: str) -> str:
    """``name`` as it may be written in an address: ASCII letters and digits in lower case,
    words joined by ``-`` (accents dropped: ``Le Média`` is ``le-media``)."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")
    return slug[:SLUG_BASE_MAX].strip("-") or "outlet"


def _free_slug(session: Session, name: str) -> str:
    base = slug_of(name)
    taken = set(
        session.exec(select(DirectoryEntry.slug).where(col(DirectoryEntry.slug).startswith(base)))
    )
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug


def listed(session: Session, slug: str) -> Listed | None:
    """The approved outlet of this slug, or ``None`` (unknown, malformed or not approved)."""
    if len(slug) > DirectoryEntry.SLUG_MAX or not _SLUG_RE.match(slug):
        return None
    entry = session.exec(
        select(DirectoryEntry).where(
            DirectoryEntry.slug == slug, col(DirectoryEntry.approved_at).is_not(None)
        )
    ).first()
    return None if entry is None else listing(session, entry)


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
    return [listing(session, e) for e in session.exec(query)]


def listing(session: Session, e: DirectoryEntry) -> Listed:
    """``e`` as the directory shows it, with its proven accounts."""
    return Listed(
        e.person_id,
        e.name,
        e.slug,
        e.status,
        e.x_button,
        _accounts(session, e.person_id),
        e.requested_at,
        e.approved_at,
    )


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
