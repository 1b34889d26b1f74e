"""Public attestations (lexicon ``org.helloquittex.attestation``, in ``lexicons/``): written by
the Bluesky bot in its own repo, only for a person who consented, when they have two linked
accounts or more; rewritten when they link another; deleted when they withdraw.

Writing uses a fixed record key per person (put is an upsert, delete of a missing record is a
no-op), so a repeated delivery changes nothing.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, select

from shared.actions import WithdrawAttestation, WriteAttestation
from shared.bot.commands import Outbound
from shared.clock import iso_utc
from shared.db.models import Consent, Identity, LinkProof, XIdentity
from shared.identity import linking
from shared.vocabulary import Network, Purpose, XStanding

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from shared.bot.commands import Environment

COLLECTION = "org.helloquittex.attestation"


def consented(session: Session, person_id: int) -> bool:
    """Whether the person said yes to a public attestation."""
    consent = session.get(Consent, (person_id, Purpose.PUBLIC_ATTESTATION.value))
    return consent is not None and consent.granted


def record_key(identities: list[Identity]) -> str:
    """The person's Bluesky DID, else a digest of their first account (stable across links)."""
    for identity in identities:
        if identity.network == Network.BLUESKY:
            return identity.subject
    return "p" + hashlib.sha256(identities[0].subject.encode()).hexdigest()[:40]


def proven_accounts(
    session: Session, person_id: int, identities: list[Identity]
) -> list[dict[str, Any]]:
    """A person's accounts on the networks, as attestations and the registry show them: each
    with how the service knows it is theirs, and the post that proved it."""
    proofs = {
        (p.network, p.subject): p
        for p in session.exec(select(LinkProof).where(LinkProof.person_id == person_id))
    }
    accounts: list[dict[str, Any]] = []
    for identity in identities:
        account = {
            "network": identity.network,
            "id": identity.subject,
            "handle": identity.handle,
            "trust": identity.trust,
        }
        proof = proofs.get((identity.network, identity.subject))
        if proof is not None:
            account["proof"] = proof.post_url or proof.post_uri
            account["provenAt"] = iso_utc(proof.verified_at)
        accounts.append(account)
    return accounts


def record(session: Session, person_id: int, now: datetime) -> dict[str, Any] | None:
    """The attestation of a person's accounts, or ``None`` with fewer than two."""
    identities = Identity.of_person(session, person_id)
    if not identities:
        return None
    accounts = proven_accounts(session, person_id, identities)
    xs = XIdentity.of_person(session, person_id)
    accounts += [shown for x in xs if (shown := _x_account(session, x)) is not None]
    if len(accounts) < 2:  # a disputed or reserved X account does not count
        return None
    return {
        "$type": COLLECTION,
        "rkey": record_key(identities),
        "accounts": accounts,
        "createdAt": iso_utc(now),
    }


def _x_account(session: Session, x: XIdentity) -> dict[str, Any] | None:
    """An X account as far as it is known, never further: its id only when X itself
    reported it; a username proven by a post, with that post; a disputed or reserved one
    not at all."""
    standing = linking.x_standing(session, x)
    if standing in (XStanding.DISPUTED, XStanding.RESERVED):
        return None
    account: dict[str, Any] = {"network": "x", "handle": x.username, "trust": standing}
    if standing == XStanding.VERIFIED:
        account["id"] = str(x.x_account_id)
    elif standing == XStanding.USERNAME and x.username_proven_at is not None:
        account["proof"] = x.username_proof
        account["provenAt"] = iso_utc(x.username_proven_at)
    return account


def publish(session: Session, person_id: int, *, trigger: str, env: Environment) -> list[Outbound]:
    """The write of a consenting person's attestation (none without consent, without two
    accounts, or without a bot that writes attestations). ``trigger`` names what caused it,
    once."""
    network = env.network_delivering(WriteAttestation)
    if network is None or not consented(session, person_id):
        return []
    built = record(session, person_id, env.now)
    if built is None:
        return []
    rkey = built.pop("rkey")
    return [
        Outbound(
            key=f"{WriteAttestation.kind}:{trigger}",
            network=network,
            action=WriteAttestation(rkey, built),
            person_id=person_id,
        )
    ]


def refresh(session: Session, person_id: int, *, trigger: str, env: Environment) -> list[Outbound]:
    """After a change to a consenting person's accounts: their attestation rewritten, or
    withdrawn when fewer than two accounts are left to attest."""
    if not consented(session, person_id):
        return []
    return publish(session, person_id, trigger=trigger, env=env) or withdraw(
        session, person_id, trigger=trigger, env=env
    )


def after_x_change(
    session: Session, person_ids: Iterable[int], *, trigger: str, env: Environment
) -> list[Outbound]:
    """The one rule for X accounts that change standing (verified, disputed, settled,
    moved): the attestations of everyone involved rewritten (or withdrawn), each named by
    ``trigger`` and the person, once."""
    return [
        outbound
        for someone in sorted(set(person_ids))
        for outbound in refresh(session, someone, trigger=f"{trigger}:{someone}", env=env)
    ]


def withdraw(session: Session, person_id: int, *, trigger: str, env: Environment) -> list[Outbound]:
    """The deletion of a person's attestation."""
    network = env.network_delivering(WithdrawAttestation)
    identities = Identity.of_person(session, person_id)
    if network is None or not identities:
        return []
    return [
        Outbound(
            key=f"{WithdrawAttestation.kind}:{trigger}",
            network=network,
            action=WithdrawAttestation(record_key(identities)),
            person_id=person_id,
        )
    ]
