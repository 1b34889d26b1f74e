"""What other apps may ask of the service: for an X account, the accounts of the person who
holds it, only if that person chose to be in the public directory; for a person who proved
who they are, their own standing and the contacts found for them. Served over XRPC by the
composition root; nothing here knows a protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from shared.clock import iso_utc
from shared.db.models import Consent, Identity, XClaim, XIdentity
from shared.identity.attestation import proven_accounts
from shared.portal.space import contacts_of, space_of
from shared.vocabulary import Network, Purpose, TrustLevel

if TYPE_CHECKING:
    from shared.portal.space import Contact

X_ID_MAX = 2**63 - 1
LISTED_TRUST = {TrustLevel.CLAIMED.value, TrustLevel.VERIFIED.value}
"""X accounts shown: claimed by an archive or verified by X (never one reserved for an owner
who is not here, nor one disputed)."""


class NotFoundError(LookupError):
    """Nothing to show: no such account here, or its person did not choose to be shown."""


@dataclass(frozen=True, slots=True)
class Page:
    contacts: list[dict[str, Any]]
    cursor: str | None


def lookup(session: Session, x: str) -> dict[str, Any]:
    """The listed person holding X account ``x`` (an id, or a username with or without
    ``@``): their X account and their other accounts, each with its proof."""
    identity = _x_identity(session, x.strip().removeprefix("@"))
    if identity is None or not _listed(session, identity):
        raise NotFoundError(f"no one listed here holds the X account {x!r}")
    return {
        "x": _x_account(identity),
        "accounts": _accounts(session, identity.person_id),
    }


def person_of(session: Session, network: Network, subject: str) -> int:
    """The person an account (a DID, an ActivityPub id) is linked to."""
    found = Identity.find(session, network, subject)
    if found is None:
        raise NotFoundError(f"{subject} is linked to no one here")
    return found.person_id


def status(session: Session, person_id: int) -> dict[str, Any]:
    """A person's own standing: accounts, choices, what was found and delivered."""
    space = space_of(session, person_id, lambda _network, _collection: None)
    return {
        "accounts": _accounts(session, person_id),
        "x": [_x_account(x) for x in XIdentity.of_person(session, person_id)],
        "consents": sorted(p.value for p, granted in space.consents.items() if granted),
        "reconnect": space.reconnect,
        "findable": space.findable,
        "contactsFound": len(space.contacts),
        "awaited": space.awaited,
        "follows": space.follows,
    }


def contacts(session: Session, person_id: int, *, limit: int, cursor: str | None) -> Page:
    """A page of the contacts found for a person (as their space shows them)."""
    start = int(cursor) if cursor and cursor.isdigit() else 0
    found = contacts_of(session, person_id)
    page = found[start : start + limit]
    after = start + len(page)
    return Page([_contact(c) for c in page], str(after) if after < len(found) else None)


def _x_identity(session: Session, x: str) -> XIdentity | None:
    if x.isdigit():
        number = int(x)
        return session.get(XIdentity, number) if 0 < number <= X_ID_MAX else None
    query = select(XIdentity).where(func.lower(XIdentity.username) == x.lower())
    return session.exec(query.order_by(col(XIdentity.updated_at).desc())).first()


def _listed(session: Session, identity: XIdentity) -> bool:
    if identity.trust not in LISTED_TRUST:
        return False
    if session.exec(select(XClaim).where(XClaim.x_account_id == identity.x_account_id)).first():
        return False  # disputed: used for nothing
    consent = session.get(Consent, (identity.person_id, Purpose.PUBLIC_DIRECTORY.value))
    return consent is not None and consent.granted


def _x_account(identity: XIdentity) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": str(identity.x_account_id),
        "username": identity.username,
        "trust": identity.trust,
    }
    if identity.username_proof:
        shown["usernameProof"] = identity.username_proof
    return shown


def _accounts(session: Session, person_id: int) -> list[dict[str, Any]]:
    return proven_accounts(session, person_id, Identity.of_person(session, person_id))


def _contact(contact: Contact) -> dict[str, Any]:
    return {
        "accounts": [{"network": n, "handle": h} for n, h in sorted(contact.accounts.items())],
        "relations": sorted(contact.relations),
        "delivered": [
            {"network": n, "via": v, "at": iso_utc(contact.delivered_at[n])}
            for n, v in sorted(contact.delivered.items())
        ],
    }
