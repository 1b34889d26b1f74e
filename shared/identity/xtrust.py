"""Who holds an X account, and on what proof.

An X account is known by its numeric id. What the service can learn of it, weakest first:

- ``reserved``: an operator imported its archive (a media outlet): held for its owner's
  proof; an archive uploaded by anyone else never takes it.
- ``claimed``: an archive uploaded through a person's link says it is theirs. An archive is a
  file anyone can write: a claim proves nothing, and a competing claim never takes the
  account; it makes it ``disputed``.
- a post on X carrying a person's code proves that they controlled the *username* when they
  posted; it says nothing of the id (which only the archive pairs with that username). It is
  kept beside the claim (:attr:`XIdentity.username_proven_at`), never as a level of the id.
- ``verified``: X itself reported the id to the person ("Sign in with X", OAuth 2.0). It
  takes the account from any weaker holder, settles every dispute, and those who lose are
  told.

An account verified for one person never moves silently: X's word for another person (a
shared X account, or someone signing in from a link that was not theirs) makes it disputed,
both are told, and it stays its holder's until an operator settles it.

A disputed account is used for nothing (no matching, no attestation) until an operator
settles it (``hqx x settle``) or a verified proof does. An operator never gives an account
verified for its holder to someone X did not verify it for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, exists
from sqlmodel import Session, col, select

from shared.bot.notices import Notice
from shared.clock import utcnow
from shared.db.models import ArchiveImport, FollowEdge, Identity, Person, XClaim, XIdentity
from shared.errors import HqxError
from shared.reconnection import matching
from shared.vocabulary import TrustLevel

if TYPE_CHECKING:
    from sqlmodel.sql.expression import SelectOfScalar


class ClaimRefusedError(HqxError):
    """An archive cannot claim this X account (it says nothing about who holds it)."""


class ClaimDisputedError(HqxError):
    """The claim was recorded against another person's: the account is now disputed.
    :attr:`notices` tell the holder."""

    def __init__(self, message: str, notices: list[Notice]) -> None:
        super().__init__(message)
        self.notices = notices


@dataclass(frozen=True, slots=True)
class Claimed:
    """What a claim or a proof did: the X identity it landed on, and who to tell."""

    identity: XIdentity
    notices: list[Notice]


def disputed(session: Session, x_account_id: int) -> bool:
    """Whether someone else claims this X account too."""
    query = select(XClaim.id).where(XClaim.x_account_id == x_account_id)
    return session.exec(query).first() is not None


def undisputed() -> SelectOfScalar[int]:
    """The X ids the service may use (for matching): every one held, none disputed."""
    contested = exists().where(col(XClaim.x_account_id) == col(XIdentity.x_account_id))
    return select(XIdentity.x_account_id).where(~contested)


def claim(session: Session, person_id: int, x_account_id: int, username: str) -> Claimed:
    """``person_id`` uploaded an archive of ``x_account_id``: take it if free or theirs.

    Raises:
        ClaimRefusedError: a verified holder has it (the refusal says nothing of them).
        ClaimDisputedError: another person holds it on a claim or a reservation: both
            claims now stand against each other, and the holder is told.
    """
    held = session.exec(
        select(XIdentity).where(XIdentity.x_account_id == x_account_id).with_for_update()
    ).first()
    if held is None:
        held = XIdentity(
            x_account_id=x_account_id,
            person_id=person_id,
            username=username,
            trust=TrustLevel.CLAIMED,
        )
        session.add(held)
        session.flush()
        matching.request(session, person_id)
        return Claimed(held, [])
    if held.person_id == person_id:
        if held.username.casefold() != username.casefold():  # a new name, not the one proven
            held.username_proven_at, held.username_proof = None, None
        held.username, held.updated_at = username, utcnow()
        session.add(held)
        session.execute(
            delete(XClaim).where(
                col(XClaim.x_account_id) == x_account_id, col(XClaim.person_id) == person_id
            )
        )
        return Claimed(held, [])
    if held.trust == TrustLevel.VERIFIED:
        raise ClaimRefusedError(
            "this X account is held on X's own word: an archive cannot claim it"
        )
    _record_claim(session, person_id, x_account_id, username)
    matching.request(session, held.person_id)  # its X account is disputed now: unmatched
    event = f"{x_account_id}:{person_id}"
    raise ClaimDisputedError(
        "another person claims this X account too: it is now disputed, and used for nothing "
        "until settled (Sign in with X settles it at once)",
        notices=[Notice(held.person_id, "x.disputed", event, {"username": held.username})],
    )


def _record_claim(
    session: Session, person_id: int, x_account_id: int, username: str, *, verified: bool = False
) -> None:
    found = session.exec(
        select(XClaim).where(XClaim.x_account_id == x_account_id, XClaim.person_id == person_id)
    ).first()
    found = found or XClaim(x_account_id=x_account_id, person_id=person_id, username=username)
    found.username, found.verified = username, found.verified or verified
    session.add(found)
    session.flush()


def verify(session: Session, person_id: int, x_account_id: int, username: str) -> Claimed:
    """X reported to ``person_id`` that they are ``x_account_id`` (@``username``): the account
    is theirs, whoever held or claimed it on weaker proof (they are told). Held verified by
    another person, it never moves: it becomes disputed, both told (:func:`verified_elsewhere`
    says so of the result)."""
    notices: list[Notice] = []
    event = f"verified:{x_account_id}:{person_id}:{utcnow().isoformat()}"
    held = session.exec(
        select(XIdentity).where(XIdentity.x_account_id == x_account_id).with_for_update()
    ).first()
    if held is not None and held.person_id != person_id and held.trust == TrustLevel.VERIFIED:
        _record_claim(session, person_id, x_account_id, username, verified=True)
        matching.request(session, held.person_id)  # disputed now: unmatched
        shown = {"username": held.username}
        return Claimed(held, [Notice(held.person_id, "x.disputed_verified", event, shown),
                              Notice(person_id, "x.disputed_verified", event, shown)])  # fmt: skip
    if held is None:
        held = XIdentity(x_account_id=x_account_id, person_id=person_id, username=username)
    elif held.person_id != person_id:
        if held.trust != TrustLevel.RESERVED:  # an operator's import is the owner's own graph
            _forget_graph(session, x_account_id)
        notices.append(Notice(held.person_id, "x.superseded", event, {"username": username}))
        _move(session, held, person_id)
    rivals = session.exec(select(XClaim).where(XClaim.x_account_id == x_account_id))
    for rival in rivals:
        if rival.person_id != person_id:
            notices.append(Notice(rival.person_id, "x.superseded", event, {"username": username}))
        session.delete(rival)
    if held.username.casefold() != username.casefold():
        held.username_proven_at, held.username_proof = None, None
    held.username, held.trust, held.updated_at = username, TrustLevel.VERIFIED, utcnow()
    session.add(held)
    session.flush()
    matching.request(session, person_id, *(n.person_id for n in notices))
    return Claimed(held, notices)


def verified_elsewhere(done: Claimed, person_id: int) -> bool:
    """Whether :func:`verify` left the account with another person (held verified there,
    now disputed)."""
    return done.identity.person_id != person_id


def settle(session: Session, x_account_id: int, winner: int) -> list[Notice]:
    """An operator's word on a disputed account: ``winner`` (the holder or a claimant) keeps
    or gets it; the other claims are dropped; everyone involved is told.

    An account verified for its holder goes only to a claimant X verified it for too: an
    operator never moves it on an archive's word.

    Raises:
        HqxError: the account is not disputed, ``winner`` is not among its claimants, or it
            is verified for its holder and not for ``winner``.
    """
    held = session.get(XIdentity, x_account_id)
    rivals = list(session.exec(select(XClaim).where(XClaim.x_account_id == x_account_id)))
    if held is None or not rivals:
        raise HqxError(f"X account {x_account_id} is not disputed")
    claimants = {held.person_id, *(r.person_id for r in rivals)}
    if winner not in claimants:
        raise HqxError(
            f"person {winner} does not claim X account {x_account_id} "
            f"(its claimants: {', '.join(map(str, sorted(claimants)))})"
        )
    won = next((r for r in rivals if r.person_id == winner), None)
    if won is not None and held.trust == TrustLevel.VERIFIED and not won.verified:
        raise HqxError(
            f"X verified account {x_account_id} for person {held.person_id}, and not for "
            f"person {winner}: it cannot be given to them (only X's word can)"
        )
    event = f"settled:{x_account_id}:{utcnow().isoformat()}"
    notices = [
        Notice(p, "x.settled_won" if p == winner else "x.settled_lost", event, {})
        for p in sorted(claimants)
    ]
    if won is not None:
        _forget_graph(session, x_account_id)  # the loser's archive: the winner uploads theirs
        _move(session, held, winner)
        held.username, held.username_proven_at, held.username_proof = won.username, None, None
        held.trust = TrustLevel.VERIFIED if won.verified else TrustLevel.CLAIMED
    for rival in rivals:
        session.delete(rival)
    held.updated_at = utcnow()
    session.add(held)
    session.flush()
    matching.request(session, *claimants)
    return notices


def disputes(session: Session) -> list[tuple[XIdentity, list[XClaim]]]:
    """Every disputed X account, with the claims against its holder, oldest first."""
    rivals = list(session.exec(select(XClaim).order_by(col(XClaim.created_at))))
    by_account: dict[int, list[XClaim]] = {}
    for rival in rivals:
        by_account.setdefault(rival.x_account_id, []).append(rival)
    found = []
    for x_account_id, claims in by_account.items():
        held = session.get(XIdentity, x_account_id)
        if held is not None:
            found.append((held, claims))
    return found


def _forget_graph(session: Session, x_account_id: int) -> None:
    session.execute(delete(FollowEdge).where(col(FollowEdge.owner_x_id) == x_account_id))
    session.execute(delete(ArchiveImport).where(col(ArchiveImport.x_account_id) == x_account_id))


def _move(session: Session, held: XIdentity, person_id: int) -> None:
    """Give ``held`` to ``person_id``; a person left with nothing (an operator's import) goes."""
    previous = held.person_id
    held.person_id = person_id
    session.add(held)
    session.flush()
    left = Identity.of_person(session, previous) or XIdentity.of_person(session, previous)
    if not left:
        session.execute(delete(Person).where(col(Person.id) == previous))
