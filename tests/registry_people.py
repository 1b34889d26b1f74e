"""People the registry tests put in the database: one listed in the public directory (with a
proof of each account), one who is not."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import Session

from shared.clock import utcnow
from shared.db.models import Consent, LinkProof, XIdentity
from shared.vocabulary import Network, Purpose, TrustLevel
from tests.linked import add_linked

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def add_person(
    engine: Engine, *, x_id: int, username: str, did: str, handle: str, listed: bool,
    x_trust: TrustLevel = TrustLevel.CLAIMED,
) -> int:  # fmt: skip
    """A person with a Bluesky account proven by a post, and an X account."""
    with Session(engine) as session, session.begin():
        person = add_linked(session, Network.BLUESKY, did, handle)
        session.add(LinkProof(person_id=person, network=Network.BLUESKY, subject=did,
                              code=f"code-{x_id}", post_uri=f"at://{did}/app.bsky.feed.post/3k",
                              verified_at=utcnow()))  # fmt: skip
        session.add(XIdentity(x_account_id=x_id, person_id=person, username=username,
                              trust=x_trust))  # fmt: skip
        session.add(Consent(person_id=person, purpose=Purpose.PUBLIC_DIRECTORY,
                            granted=listed))  # fmt: skip
        return person
