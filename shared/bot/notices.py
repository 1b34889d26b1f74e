"""Telling a person something the service did about them, privately, outside any thread
(their X account was disputed, superseded, settled): a direct message on the first of their
networks whose bot sends them, in their language."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared import outbox
from shared.actions import DirectMessage, Recipient
from shared.bot.messages import Lang, say
from shared.db.models import Identity, Person

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlmodel import Session


@dataclass(frozen=True, slots=True)
class Notice:
    """What to tell whom: ``key`` names the message, ``event`` makes it sent once."""

    person_id: int
    key: str
    event: str
    params: dict[str, Any] = field(default_factory=dict)


def queue(session: Session, notices: Iterable[Notice], networks: Iterable[str]) -> int:
    """Queue each notice as a direct message on the first network of ``networks`` (those
    whose bot sends messages) where the person has an account; return how many went."""
    usable = list(networks)
    queued = 0
    for notice in notices:
        person = session.get(Person, notice.person_id)
        identities = Identity.of_person(session, notice.person_id)
        to = next((i for n in usable for i in identities if i.network == n), None)
        if person is None or to is None:
            continue  # nobody to tell (an operator's import): the operator sees it in hqx
        lang = Lang(person.locale) if person.locale in tuple(Lang) else Lang.FR
        text = say(notice.key, lang, **notice.params)
        queued += outbox.queue(
            session,
            key=f"notice:{notice.key}:{notice.event}:{notice.person_id}",
            network=to.network,
            action=DirectMessage(Recipient(to.subject, to.handle), text, lang),
            person_id=notice.person_id,
        )
    return queued
