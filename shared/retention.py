"""Keeping no more than needed: what only served to handle posts once, or a request that
expired, is deleted once it can no longer serve."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete
from sqlmodel import Session, col

from shared.db.models import InboundPost, LinkRequest, UploadToken, utcnow

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.engine import Engine

# Far beyond any watermark overlap or replay: a post older than this is never fetched again.
INBOUND_KEPT = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Pruned:
    """How many rows of each kind were deleted."""

    inbound_posts: int
    link_requests: int
    upload_tokens: int


def prune(engine: Engine, now: datetime | None = None) -> Pruned:
    """Delete handled posts past :data:`INBOUND_KEPT`, expired link requests and tokens."""
    now = now or utcnow()
    with Session(engine) as session, session.begin():
        posts = session.execute(
            delete(InboundPost).where(col(InboundPost.received_at) < now - INBOUND_KEPT)
        )
        requests = session.execute(delete(LinkRequest).where(col(LinkRequest.expires_at) < now))
        tokens = session.execute(delete(UploadToken).where(col(UploadToken.expires_at) < now))
    return Pruned(
        int(posts.rowcount),  # type: ignore[attr-defined]
        int(requests.rowcount),  # type: ignore[attr-defined]
        int(tokens.rowcount),  # type: ignore[attr-defined]
    )
