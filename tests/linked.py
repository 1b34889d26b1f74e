"""People put in the database as the bot would have linked them, for tests that start from
there: a person with one proven account, and a one-time sign-in link to their space."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import Session

from shared.clock import utcnow
from shared.db.models import Identity, Person
from shared.portal import uploads
from shared.vocabulary import Network, TrustLevel

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def add_linked(session: Session, network: Network, subject: str, handle: str) -> int:
    """A new person with this account proven theirs (in the caller's transaction)."""
    person = Person()
    session.add(person)
    session.flush()
    assert person.id is not None
    session.add(Identity(person_id=person.id, network=network, subject=subject, handle=handle,
                         trust=TrustLevel.PROVEN))  # fmt: skip
    return person.id


def linked_with_space(
    engine: Engine, network: Network, subject: str, handle: str
) -> tuple[int, str]:
    """A new person with this account, and a sign-in token to their space."""
    with Session(engine) as session, session.begin():
        person = add_linked(session, network, subject, handle)
        return person, uploads.issue(session, person, now=utcnow(), purpose=uploads.SPACE)
