"""What the service knows of a person, gathered for operators (``hqx person show``) and for
the person themself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlmodel import Session, select

from shared.db.models import ArchiveImport, Consent, Identity, LinkProof, Person, XClaim, XIdentity
from shared.identity.linking import x_standing
from shared.vocabulary import XStanding

if TYPE_CHECKING:
    from datetime import datetime


def find_person(session: Session, account: str) -> int | None:
    """The person with this account: a current handle (any network; ``@`` and case
    ignored), a DID, a Mastodon account URI, or an X username."""
    wanted = account.removeprefix("@").casefold()
    person_id = session.exec(
        select(Identity.person_id).where(
            (func.lower(Identity.handle) == wanted) | (Identity.subject == account.strip())
        )
    ).first()
    if person_id is None:
        person_id = session.exec(
            select(XIdentity.person_id).where(func.lower(XIdentity.username) == wanted)
        ).first()
    return person_id


def describe(session: Session, person_id: int) -> dict[str, Any]:
    """Everything stored about a person, as plain data."""
    person = session.get_one(Person, person_id)
    consents = {
        c.purpose: c.granted
        for c in session.exec(select(Consent).where(Consent.person_id == person_id))
    }
    return {
        "person": person_id,
        "kind": person.kind,
        "since": _iso(person.created_at),
        "accounts": _network_accounts(session, person_id) + _x_accounts(session, person_id),
        "consents": consents,
    }


def _network_accounts(session: Session, person_id: int) -> list[dict[str, Any]]:
    """Their Bluesky and Mastodon accounts, each with the posts that proved it."""
    proofs = list(session.exec(select(LinkProof).where(LinkProof.person_id == person_id)))
    return [
        {
            "network": identity.network,
            "handle": identity.handle,
            "subject": identity.subject,
            "trust": identity.trust,
            "since": _iso(identity.created_at),
            "proofs": [
                {"post": p.post_uri, "url": p.post_url, "verified_at": _iso(p.verified_at)}
                for p in proofs
                if p.network == identity.network and p.subject == identity.subject
            ],
        }
        for identity in Identity.of_person(session, person_id)
    ]


def _x_accounts(session: Session, person_id: int) -> list[dict[str, Any]]:
    """Their X accounts, at their standing with their archive's counts, then their claims
    on accounts someone else holds."""
    accounts: list[dict[str, Any]] = []
    for x in XIdentity.of_person(session, person_id):
        archive = session.exec(
            select(ArchiveImport).where(ArchiveImport.x_account_id == x.x_account_id)
        ).one_or_none()
        accounts.append(
            {
                "network": "x",
                "handle": x.username,
                "subject": str(x.x_account_id),
                "trust": x_standing(session, x),
                "since": _iso(x.created_at),
                "archive": None
                if archive is None
                else {
                    "followers": archive.followers,
                    "following": archive.following,
                    "imported_at": _iso(archive.imported_at),
                },
            }
        )
    for claim in session.exec(select(XClaim).where(XClaim.person_id == person_id)):
        accounts.append(
            {
                "network": "x",
                "handle": claim.username,
                "subject": str(claim.x_account_id),
                "trust": XStanding.DISPUTED,
                "since": _iso(claim.created_at),
            }
        )
    return accounts


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
