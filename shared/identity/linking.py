"""Linking a person's accounts: a request issues a challenge code; the code, posted from the
other account, proves that account belongs to the same person.

The author of a proof is the one the network's server reports (:attr:`IncomingPost.author`),
never one named in the text. Everything here runs inside the caller's transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from shared.clock import utcnow
from shared.db.models import (
    Consent,
    FollowEdge,
    Identity,
    InboundPost,
    JoinOffer,
    LinkProof,
    LinkRequest,
    OutboundAction,
    Person,
    XClaim,
    XIdentity,
)
from shared.identity import challenge, xtrust
from shared.identity.accounts import Account, ShownAccount, Thread, XPost
from shared.identity.challenge import Binding, ChallengeError
from shared.reconnection import matching
from shared.vocabulary import Network, TrustLevel, XStanding

if TYPE_CHECKING:
    from datetime import datetime

    from shared.protocol import Author, IncomingPost


JOIN_TTL = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Linked:
    """A proof that was accepted."""

    requester: Identity
    target: Identity
    request: LinkRequest | None
    """The request, when it is still known: the confirmation goes to its thread."""
    left_apart: list[ShownAccount]
    """Accounts that belonged with the target and stayed apart: (network, handle, trust)."""


def identity_of(session: Session, network: Network, author: Author) -> Identity:
    """The identity of a post's author (created with a new person on first contact); its
    handle is kept current, since handles change."""
    identity = Identity.find(session, network, author.subject)
    if identity is None:
        person = Person()
        session.add(person)
        session.flush()
        assert person.id is not None  # noqa: S101  (flushed)
        identity = Identity(
            person_id=person.id, network=network, subject=author.subject, handle=author.handle
        )
    elif identity.handle != author.handle:
        identity.handle, identity.updated_at = author.handle, utcnow()
    session.add(identity)
    session.flush()
    return identity


def refresh_author(session: Session, network: Network, author: Author) -> Identity | None:
    """Bring what is stored of a post's author up to date with what the network reports: an
    identity stored under a former id is re-keyed, a changed handle is kept. ``None`` when
    the service does not know the author."""
    identity = Identity.find(session, network, author.subject)
    for former in author.former_subjects:
        if identity is not None:
            break
        identity = Identity.find(session, network, former)
        if identity is not None:
            rekey(session, network, former, author.subject)
            session.refresh(identity)
    if identity is not None and identity.handle != author.handle:
        identity.handle, identity.updated_at = author.handle, utcnow()
        session.add(identity)
        session.flush()
    return identity


def keep_thread(session: Session, post: IncomingPost, lang: str) -> None:
    """Remember the author's last post to the bot (and the language they were answered in):
    what the service has to say to them later goes there, in a thread they started."""
    identity = Identity.find(session, post.network, post.author.subject)
    if identity is not None:
        identity.thread = Thread(post.post_id, post.direct, lang, dict(post.reply_context))
        session.add(identity)


def rekey(session: Session, network: Network, old: str, new: str) -> bool:
    """Everything stored under an account's former id, under its stable id; ``False`` (and
    nothing changed) when the stable id is already stored for another identity."""
    if Identity.find(session, network, new) is not None:
        return False
    session.execute(
        update(Identity)
        .where(col(Identity.network) == network, col(Identity.subject) == old)
        .values(subject=new, updated_at=utcnow())
    )
    session.execute(
        update(LinkProof)
        .where(col(LinkProof.network) == network, col(LinkProof.subject) == old)
        .values(subject=new)
    )
    session.execute(
        update(InboundPost)
        .where(col(InboundPost.network) == network, col(InboundPost.author) == old)
        .values(author=new)
    )
    session.flush()
    return True


def stored_accounts(session: Session, network: Network) -> list[Account]:
    """Every account the service keeps on ``network``."""
    return [
        Account(network, i.subject, i.handle)
        for i in session.exec(select(Identity).where(Identity.network == network))
    ]


def update_handles(session: Session, network: Network, handles: dict[str, str]) -> int:
    """Keep the handles a network reports for its accounts (by subject); return how many
    changed."""
    changed = 0
    for identity in session.exec(
        select(Identity).where(
            Identity.network == network, col(Identity.subject).in_(list(handles))
        )
    ):
        if identity.handle != handles[identity.subject]:
            identity.handle, identity.updated_at = handles[identity.subject], utcnow()
            session.add(identity)
            changed += 1
    session.flush()
    return changed


def request_link(
    session: Session,
    *,
    key: str,
    requester: Identity,
    target: Account,
    reply: dict[str, Any],
    now: datetime,
) -> str:
    """Issue a code that ``target`` can post to prove it belongs to ``requester``'s person."""
    assert requester.id is not None  # noqa: S101  (a stored identity)
    binding = Binding(requester.id, requester.subject, target.network, target.subject)
    text = challenge.issue(key, binding, now=now)
    code = challenge.read(text)
    session.add(
        LinkRequest(
            code=code.digest,
            identity_id=requester.id,
            target_network=target.network,
            target_handle=target.handle,
            reply=reply,
            expires_at=code.expires_at,
        )
    )
    return text


def prove(
    session: Session,
    *,
    key: str,
    post: IncomingPost,
    code_text: str,
    now: datetime,
    old_keys: tuple[str, ...] = (),
) -> Linked:
    """Accept ``code_text`` posted in ``post`` as proof, and link the two accounts.

    The post must name the account that asked (the text the bot handed over does), so a
    person tricked into posting someone else's code sees whom they link to. The posting
    account joins the asker's person; if it belonged with other accounts, they stay apart
    until their person confirms (:func:`join`).

    Raises:
        ChallengeError: ``malformed``, ``forged``, ``expired``, ``unnamed`` or ``used``.
    """
    code = challenge.read(code_text)
    requester = session.get(Identity, code.requester_id)
    if requester is None:
        raise ChallengeError("forged", "the code names no known account")
    binding = Binding(code.requester_id, requester.subject, post.network, post.author.subject)
    challenge.verify(key, code, binding, now=now, old_keys=old_keys)
    if not names(post.text, requester.handle):
        raise ChallengeError("unnamed", f"the post does not name {requester.handle}")
    _record_proof(
        session,
        LinkProof(
            person_id=requester.person_id,
            network=post.network,
            subject=post.author.subject,
            code=code.digest,
            post_uri=post.post_id,
            post_url=post.url,
        ),
    )
    target = identity_of(session, post.network, post.author)
    left_apart: list[ShownAccount] = []
    if target.person_id != requester.person_id:
        left_apart = _join_alone(session, target, requester.person_id, now=now)
    target.trust, target.updated_at = TrustLevel.PROVEN, utcnow()
    session.add(target)
    request = session.get(LinkRequest, code.digest)
    if request is not None:
        session.delete(request)
    return Linked(requester=requester, target=target, request=request, left_apart=left_apart)


def names(text: str, handle: str) -> bool:
    """Whether ``text`` names the account ``handle`` (as a whole word, with or without ``@``)."""
    pattern = rf"(?<![\w.@-])@?{re.escape(handle)}(?![\w@-]|\.\w)"
    return re.search(pattern, text, re.IGNORECASE) is not None


def _join_alone(
    session: Session, target: Identity, person_id: int, *, now: datetime
) -> list[ShownAccount]:
    """Move ``target`` to ``person_id``: its former person goes with it only if ``target``
    was all it had. Otherwise return the accounts left apart, and offer to join them."""
    former = target.person_id
    others = [a for a in _accounts(session, former) if a[0] is not target]
    if not others:
        merge_persons(session, keep=person_id, gone=former)
        session.refresh(target)
        return []
    matching.request(session, person_id, former)
    target.person_id = person_id
    session.add(target)
    session.execute(
        update(LinkProof)
        .where(col(LinkProof.network) == target.network, col(LinkProof.subject) == target.subject)
        .values(person_id=person_id)
    )
    assert target.id is not None  # noqa: S101  (stored)
    session.add(
        JoinOffer(
            identity_id=target.id,
            from_person=former,
            to_person=person_id,
            expires_at=now + JOIN_TTL,
        )
    )
    session.flush()
    return [shown for _, shown in others]


def _accounts(
    session: Session, person_id: int
) -> list[tuple[Identity | XIdentity | XClaim, ShownAccount]]:
    """A person's accounts with how each is known: X accounts as :func:`x_standing` says,
    and their claims on X accounts others hold, ``disputed``."""
    claims = session.exec(select(XClaim).where(XClaim.person_id == person_id))
    return (
        [
            (i, ShownAccount(i.network, i.handle, i.trust))
            for i in Identity.of_person(session, person_id)
        ]
        + [
            (x, ShownAccount(Network.X, x.username, x_standing(session, x)))
            for x in XIdentity.of_person(session, person_id)
        ]
        + [(c, ShownAccount(Network.X, c.username, XStanding.DISPUTED)) for c in claims]
    )


def x_standing(session: Session, x: XIdentity) -> XStanding:
    """How an X account stands, in one word (the one rule for it)."""
    if xtrust.disputed(session, x.x_account_id):
        return XStanding.DISPUTED
    if x.trust == TrustLevel.CLAIMED and x.username_proven_at is not None:
        return XStanding.USERNAME
    return XStanding(x.trust.value)


def join(session: Session, me: Identity, *, now: datetime) -> int | None:
    """Join the accounts left apart by a proof, on the word of one of them (or of the account
    that moved): return the person they joined, or ``None`` when there is nothing to join."""
    offer = session.exec(
        select(JoinOffer)
        .where(
            (col(JoinOffer.identity_id) == me.id) | (col(JoinOffer.from_person) == me.person_id),
            col(JoinOffer.expires_at) > now,
        )
        .order_by(col(JoinOffer.id).desc())
    ).first()
    if offer is None:
        return None
    keep, gone = offer.to_person, offer.from_person
    session.delete(offer)
    session.flush()
    if session.get(Person, keep) is None or session.get(Person, gone) is None:
        return None
    merge_persons(session, keep=keep, gone=gone)
    return keep


def merge_persons(session: Session, *, keep: int, gone: int) -> None:
    """Move everything of person ``gone`` to person ``keep``, then delete ``gone``.

    Where both said something (consents), ``keep``'s word stands.
    """
    for model in (Identity, XIdentity, LinkProof, OutboundAction):
        session.execute(update(model).where(col(model.person_id) == gone).values(person_id=keep))
    kept = set(session.exec(select(Consent.purpose).where(Consent.person_id == keep)))
    session.execute(
        delete(Consent).where(col(Consent.person_id) == gone, col(Consent.purpose).in_(kept))
    )
    session.execute(update(Consent).where(col(Consent.person_id) == gone).values(person_id=keep))
    session.execute(delete(Person).where(col(Person.id) == gone))
    session.flush()
    matching.request(session, keep)


def accounts_of(session: Session, person_id: int) -> list[ShownAccount]:
    """A person's accounts on every network, X included."""
    return [shown for _, shown in _accounts(session, person_id)]


def unlink(session: Session, person_id: int, network: Network, handle: str) -> bool:
    """Remove the person's account ``handle`` on ``network`` (for X: their X accounts, with
    their archives); ``False`` if they have no such account."""
    if network == "x":  # "x" alone names them all; "@name@x" one of them
        named = None if handle.casefold() in ("", "x") else handle.casefold()
        ids = [
            x.x_account_id
            for x in XIdentity.of_person(session, person_id)
            if named is None or x.username.casefold() == named
        ]
        mine = col(XClaim.person_id) == person_id
        claims = session.execute(
            delete(XClaim).where(mine, func.lower(XClaim.username) == named if named else mine)
        )
        if not ids:
            return bool(claims.rowcount)  # type: ignore[attr-defined]
        session.execute(delete(FollowEdge).where(col(FollowEdge.owner_x_id).in_(ids)))
        session.execute(delete(XIdentity).where(col(XIdentity.x_account_id).in_(ids)))
        matching.request(session, person_id)
        return True
    for identity in Identity.of_person(session, person_id):
        if identity.network == network and identity.handle.casefold() == handle.casefold():
            session.execute(
                delete(LinkProof).where(
                    col(LinkProof.network) == network, col(LinkProof.subject) == identity.subject
                )
            )
            session.delete(identity)
            session.flush()
            matching.request(session, person_id)  # with no account left, unmatched
            return True
    return False


def x_account(session: Session, person_id: int, username: str | None = None) -> XIdentity | None:
    """The person's X account (the one named ``username``, if given)."""
    for x in XIdentity.of_person(session, person_id):
        if username is None or x.username.casefold() == username.casefold():
            return x
    return None


def prove_x(
    session: Session,
    *,
    key: str,
    sender: Identity,
    post: XPost,
    now: datetime,
    old_keys: tuple[str, ...] = (),
) -> XIdentity:
    """Accept a post on X carrying a code as proof that the sender's person controls the
    username of their X account (not its id: see :mod:`shared.identity.xtrust`).

    Raises:
        ChallengeError: ``no_code``, ``not_yours``, ``malformed``, ``forged``, ``expired``,
            ``used``.
    """
    text = challenge.find(post.text)
    if text is None:
        raise ChallengeError("no_code", "the post holds no code")
    x = x_account(session, sender.person_id, post.author)
    if x is None:
        raise ChallengeError("not_yours", f"@{post.author} is not an X account of this person")
    code = challenge.read(text)
    requester = session.get(Identity, code.requester_id)
    if requester is None or requester.person_id != sender.person_id:
        raise ChallengeError("forged", "the code was not issued to this person")
    binding = Binding(code.requester_id, requester.subject, Network.X, str(x.x_account_id))
    challenge.verify(key, code, binding, now=now, old_keys=old_keys)
    _record_proof(
        session,
        LinkProof(
            person_id=sender.person_id,
            network=Network.X,
            subject=str(x.x_account_id),
            code=code.digest,
            post_uri=post.url,
            post_url=post.url,
        ),
    )
    # Control of the username at this moment; the id stays as the archive claimed it.
    x.username_proven_at, x.username_proof, x.updated_at = now, post.url, utcnow()
    session.add(x)
    return x


def _record_proof(session: Session, proof: LinkProof) -> None:
    """Keep the proof; its code's nonce is unique, so a code is accepted once."""
    try:
        with session.begin_nested():
            session.add(proof)
    except IntegrityError:
        raise ChallengeError("used", "the code was used already") from None
