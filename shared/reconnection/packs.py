"""Taking a person out of the packs the bot keeps (they turned being found off, or are
forgotten), and their own packs with them."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import Session, col, select

from shared.actions import (
    WithdrawMembers,
)
from shared.bot.commands import Outbound
from shared.db.models import Collection, CollectionMember, Delivery
from shared.vocabulary import Via


def withdraw(session: Session, person_id: int, *, own: bool) -> list[Outbound]:
    """Take a person out of every pack the bot keeps (they turned being found off, or are
    forgotten), and with ``own`` delete their own packs too; return the deletions to queue.
    What was delivered of them through packs is forgotten: if they may be found again, they
    are delivered again."""
    deletions: list[Outbound] = []
    places = session.exec(
        select(CollectionMember, Collection)
        .join(Collection, col(Collection.id) == col(CollectionMember.collection_id))
        .where(CollectionMember.contact_id == person_id)
    )
    for member, collection in places:
        deletions.append(_withdrawal(collection, [member.seq], drop=False))
        session.delete(member)
    if own:
        for collection in session.exec(select(Collection).where(Collection.person_id == person_id)):
            deletions.append(_withdrawal(collection, list(range(collection.members)), drop=True))
            session.delete(collection)
    session.execute(
        delete(Delivery).where(
            col(Delivery.contact_id) == person_id, col(Delivery.via).in_(Via.in_packs())
        )
    )
    return deletions


def _withdrawal(collection: Collection, seqs: list[int], *, drop: bool) -> Outbound:
    assert collection.id is not None  # noqa: S101  (stored)
    what = "all" if drop else ",".join(map(str, seqs))
    return Outbound(
        key=f"{WithdrawMembers.kind}:{collection.network}:{collection.id}:{what}",
        network=collection.network,
        action=WithdrawMembers(collection.id, seqs, drop),
    )
