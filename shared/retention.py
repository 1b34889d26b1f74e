"""Keeping no more than needed: what only served to handle posts once, or a request that
expired, is deleted once it can no longer serve."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, or_
from sqlmodel import Session, col

from shared.clock import utcnow
from shared.db.models import (
    InboundPost,
    JoinOffer,
    LinkRequest,
    OutboundAction,
    ReconnectRun,
    UploadToken,
)
from shared.vocabulary import ActionStatus, RunKind

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.engine import Engine

# Far beyond any watermark overlap or replay: a post older than this is never fetched again.
INBOUND_KEPT = timedelta(days=30)
# Sent actions, for an operator looking into a complaint; those that record a post of the
# bot's about a person stay while the person does (erasing them on request needs them).
OUTBOX_KEPT = timedelta(days=30)
# Reconnection runs made because someone joined: one each time, kept for an operator's look
# back (what each delivered stays recorded in ``delivery`` without them).
WATCH_RUNS_KEPT = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class Pruned:
    """How many rows of each kind were deleted."""

    inbound_posts: int
    link_requests: int
    upload_tokens: int
    outbound_actions: int
    runs: int = 0


def prune(engine: Engine, now: datetime | None = None) -> Pruned:
    """Delete handled posts past :data:`INBOUND_KEPT`, expired link requests, tokens and
    join offers, finished actions past :data:`OUTBOX_KEPT`, and watch runs past
    :data:`WATCH_RUNS_KEPT`."""
    now = now or utcnow()
    with Session(engine) as session, session.begin():
        posts = session.execute(
            delete(InboundPost).where(col(InboundPost.received_at) < now - INBOUND_KEPT)
        )
        requests = session.execute(delete(LinkRequest).where(col(LinkRequest.expires_at) < now))
        tokens = session.execute(delete(UploadToken).where(col(UploadToken.expires_at) < now))
        session.execute(delete(JoinOffer).where(col(JoinOffer.expires_at) < now))
        runs = session.execute(
            delete(ReconnectRun).where(
                col(ReconnectRun.kind) == RunKind.WATCH,
                col(ReconnectRun.finished_at) < now - WATCH_RUNS_KEPT,
            )
        )
        finished = session.execute(
            delete(OutboundAction).where(
                col(OutboundAction.updated_at) < now - OUTBOX_KEPT,
                or_(
                    col(OutboundAction.status) == ActionStatus.FAILED,
                    (col(OutboundAction.status) == ActionStatus.DONE)
                    & (
                        col(OutboundAction.person_id).is_(None)
                        | col(OutboundAction.remote_ref).is_(None)
                    ),
                ),
            )
        )
    return Pruned(
        int(posts.rowcount),  # type: ignore[attr-defined]
        int(requests.rowcount),  # type: ignore[attr-defined]
        int(tokens.rowcount),  # type: ignore[attr-defined]
        int(finished.rowcount),  # type: ignore[attr-defined]
        int(runs.rowcount),  # type: ignore[attr-defined]
    )
