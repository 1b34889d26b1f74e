"""The outbox: every message, record or follow is recorded before it is sent.

An action moves pending -> sending -> done. It is claimed (marked ``sending``, only if it is
still pending) in its own commit before the network is called, so a crash leaves it
``sending``; :func:`recover` (at a work process's start and every
:data:`RECOVER_INTERVAL_SEC`) puts it back to ``pending`` and the adapter,
whose delivery is idempotent for one action (see :meth:`shared.protocol.Protocol.deliver`),
sends it at most once. The unique idempotency
key makes queuing the same action twice a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from shared import actions, lease
from shared.actions import Action, FollowAccount, Recipient, Reply
from shared.clock import utcnow
from shared.db.models import Delivery, OutboundAction, ServiceLease
from shared.vocabulary import ActionStatus, Network, Via

if TYPE_CHECKING:
    from collections.abc import Collection

    from sqlalchemy.engine import Engine

    from shared.protocol import IncomingPost

MAX_ATTEMPTS = 8
FIRST_RETRY_SEC = 5.0
LAST_ERROR_MAX_CHARS = 2000
QUEUE_CHUNK = 1000
"""Actions one statement inserts."""
RECOVER_INTERVAL_SEC = 15.0


@dataclass(frozen=True, slots=True)
class Queued:
    """An action to queue under ``key``: ``after``, the key of an action that must be done
    first; ``cost``, what it spends of the network's write budget; ``not_before``, not sent
    before then (pacing)."""

    key: str
    network: Network
    action: Action
    person_id: int | None = None
    after: str | None = None
    cost: int = 0
    not_before: datetime | None = None


def queue(
    session: Session,
    *,
    key: str,
    network: Network,
    action: Action,
    person_id: int | None = None,
    after: str | None = None,
    cost: int = 0,
    not_before: datetime | None = None,
) -> bool:
    """Add an action in the caller's transaction; ``False`` if ``key`` was queued before."""
    queued = Queued(key, network, action, person_id, after, cost, not_before)
    return bool(queue_many(session, [queued]))


def queue_many(session: Session, queued: list[Queued]) -> set[str]:
    """Add actions in the caller's transaction, in order, in one statement (a delivery pass
    queues thousands); the keys that were new (one queued before is left as it was)."""
    if not queued:
        return set()
    session.flush()  # what the caller added first (a collection a write names) goes first
    now = utcnow()
    rows = [
        {
            "idempotency_key": q.key,
            "network": q.network,
            "kind": q.action.kind,
            "payload": actions.encode(q.action),
            "person_id": q.person_id,
            "after": q.after,
            "cost": q.cost,
            "not_before": q.not_before or now,
            "status": ActionStatus.PENDING,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        for q in queued
    ]
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    table = OutboundAction.__table__  # type: ignore[attr-defined]
    statement = (
        dialect.insert(table)
        .on_conflict_do_nothing(index_elements=[table.c.idempotency_key])
        .returning(table.c.idempotency_key)
    )
    added: set[str] = set()
    for start in range(0, len(rows), QUEUE_CHUNK):
        result = session.connection().execute(statement, rows[start : start + QUEUE_CHUNK])
        added.update(result.scalars())
    return added


def reply_to(post: IncomingPost, text: str, lang: str, *, scrub: bool = False) -> Reply:
    """The answer ``text`` to ``post``, in its thread (privately if it was private); with
    ``scrub``, it is forgotten once sent (it names someone who asked to be forgotten)."""
    return Reply(
        to_post=post.post_id,
        to=Recipient(post.author.subject, post.author.handle),
        text=text,
        lang=lang,
        direct=post.direct,
        context=post.reply_context,
        scrub=scrub,
    )


def recover(engine: Engine) -> int:
    """Actions a crash left ``sending`` become ``pending`` again, once the lease of the
    process that was sending them has expired or its holder is provably gone (killed on
    this host): a live process's sends are never touched. Work processes call it at start
    and every :data:`RECOVER_INTERVAL_SEC`: a process that died is not always restarted,
    and one restarted at once finds its predecessor's lease unexpired. Return how many."""
    with Session(engine) as session, session.begin():
        unexpired = session.exec(
            select(ServiceLease.holder).where(col(ServiceLease.expires_at) > utcnow())
        ).all()
        live = [holder for holder in unexpired if not lease.gone(holder)]
        result = session.execute(
            update(OutboundAction)
            .where(
                col(OutboundAction.status) == ActionStatus.SENDING,
                col(OutboundAction.claimed_by).is_(None)  # no lease: earlier releases
                | col(OutboundAction.claimed_by).not_in(live),
            )
            .values(status=ActionStatus.PENDING, claimed_by=None, updated_at=utcnow())
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def release(engine: Engine, holder: str, keep: Collection[int], claimed_before: datetime) -> int:
    """Actions ``holder`` (this live process) claimed before ``claimed_before`` and is not
    sending (``keep``: those it is) become ``pending`` again: a claim whose commit was
    answered by a database going down (the row says sending, the process never knew), or an
    outcome that could not be recorded before the process gave up. Nothing else would free
    them while the process lives. Return how many."""
    with Session(engine) as session, session.begin():
        result = session.execute(
            update(OutboundAction)
            .where(
                col(OutboundAction.status) == ActionStatus.SENDING,
                col(OutboundAction.claimed_by) == holder,
                col(OutboundAction.updated_at) < claimed_before,
                col(OutboundAction.id).not_in(keep),
            )
            .values(status=ActionStatus.PENDING, claimed_by=None, updated_at=utcnow())
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def _due_statement(*, follows: bool) -> Any:
    """Pending actions of a network (``:network``) whose time has come (``:now``) and whose
    prerequisite is done (or gone: finished rows are pruned), the longest due first, follows
    or the others; built once. Kinds named, not excluded: the due index is then read in
    order (``ix_outbound_action_due``), where sorting every due row would cost a campaign's
    millions of paced follows at each pass."""
    first = aliased(OutboundAction)
    waiting = (
        select(first.id)
        .where(
            first.idempotency_key == OutboundAction.after,
            first.status != ActionStatus.DONE,
        )
        .exists()
    )
    follow = FollowAccount.kind
    kinds = [follow] if follows else [kind for kind in actions.KINDS if kind != follow]
    return (
        select(OutboundAction)
        .where(
            OutboundAction.network == bindparam("network"),
            OutboundAction.status == ActionStatus.PENDING,
            col(OutboundAction.kind).in_(kinds),
            col(OutboundAction.not_before) <= bindparam("now"),
            col(OutboundAction.after).is_(None) | ~waiting,
        )
        .order_by(col(OutboundAction.not_before), col(OutboundAction.id))
        .limit(bindparam("limit"))
    )


_DUE_FIRST = _due_statement(follows=False)
_DUE_FOLLOWS = _due_statement(follows=True)


def due(engine: Engine, network: Network, limit: int = 50) -> list[OutboundAction]:
    """Pending actions of ``network`` whose time has come and whose prerequisite is done,
    the longest due first; follows last. A follow reaches one contact of one person, while
    an answer is awaited and a message or a pack reaches many: at the cutover a crowd's
    follows (thousands a person, paced by each one's limit) must not hold them up for
    hours."""
    with Session(engine) as session:
        values = {"network": network, "now": utcnow(), "limit": limit}
        found = list(session.exec(_DUE_FIRST, params=values))
        if len(found) < limit:
            values["limit"] = limit - len(found)
            found += session.exec(_DUE_FOLLOWS, params=values)
        return found


def claim(engine: Engine, action_id: int, by: str | None = None) -> OutboundAction | None:
    """Record that a send starts (committed before the network is called), if the action is
    still pending and due, by the holder of the lease ``by``; ``None`` when another delivery
    (task or process) claimed it first, or it was held back since it was listed (its
    person's limit reached: :func:`mark_retry`)."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        claimed = session.execute(
            update(OutboundAction)
            .where(
                col(OutboundAction.id) == action_id,
                col(OutboundAction.status) == ActionStatus.PENDING,
                col(OutboundAction.not_before) <= utcnow(),
            )
            .values(
                status=ActionStatus.SENDING,
                attempts=OutboundAction.attempts + 1,
                claimed_by=by,
                updated_at=utcnow(),
            )
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return session.get_one(OutboundAction, action_id)


def still_claimed(engine: Engine, action_id: int, attempts: int) -> bool:
    """Whether the action is still ``sending`` under the claim that counted ``attempts``
    (an outcome recorded meanwhile, or a later claim, says no)."""
    with Session(engine) as session:
        found = session.exec(
            select(OutboundAction.id).where(
                col(OutboundAction.id) == action_id,
                col(OutboundAction.status) == ActionStatus.SENDING,
                col(OutboundAction.attempts) == attempts,
            )
        ).first()
        return found is not None


def mark_done(engine: Engine, action_id: int, remote_ref: str) -> OutboundAction:
    """Record where the action landed, and forget what it said (a message may hold a
    one-time link): only where it landed is kept, for erasure on request, unless it must be
    scrubbed (it names someone who asked to be forgotten)."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        action = session.get_one(OutboundAction, action_id)
        scrub = bool(action.payload.get("scrub"))
        action.status, action.last_error, action.updated_at = ActionStatus.DONE, None, utcnow()
        action.remote_ref, action.claimed_by = None if scrub else remote_ref, None
        action.payload = {}
        session.add(action)
    return action


def mark_retry(
    engine: Engine, action_id: int, error: str, retry_at: datetime | None
) -> OutboundAction:
    """Put the action back for later: at ``retry_at`` (a rate limit's reset), else after an
    exponential backoff; after :data:`MAX_ATTEMPTS` it fails for good. A rate limit's refusal
    holds back what else the same limit governs until the same reset (:func:`_hold_back`)."""
    with Session(engine) as session:
        attempts = session.get_one(OutboundAction, action_id).attempts
    if attempts >= MAX_ATTEMPTS:
        return mark_failed(engine, action_id, f"gave up after {attempts} attempts: {error}")
    backoff = timedelta(seconds=FIRST_RETRY_SEC * 2 ** max(attempts - 1, 0))
    retried = _change(
        engine,
        action_id,
        status=ActionStatus.PENDING,
        last_error=error[:LAST_ERROR_MAX_CHARS],
        not_before=retry_at or utcnow() + backoff,
    )
    if retry_at is not None:
        _hold_back(engine, retried, retry_at)
    return retried


def _hold_back(engine: Engine, refused: OutboundAction, until: datetime) -> int:
    """What the same rate limit governs waits for its reset, in one statement, rather than
    be tried and refused one by one (when sends fall behind, hours of paced writes come due
    at once): a follow is made with its person's grant, under their own limit, so their
    other follows on that network wait; anything else is the bot's, and the bot's actions
    of the same kind wait (its kinds may be limited apart: Bluesky's chat and repository)."""
    same_limit = col(OutboundAction.kind) == refused.kind
    if refused.kind == FollowAccount.kind:
        if refused.person_id is None:
            return 0
        same_limit &= col(OutboundAction.person_id) == refused.person_id
    with Session(engine) as session, session.begin():
        result = session.execute(
            update(OutboundAction)
            .where(
                col(OutboundAction.network) == refused.network,
                col(OutboundAction.status) == ActionStatus.PENDING,
                col(OutboundAction.not_before) < until,
                same_limit,
            )
            .values(not_before=until)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def _not_delivered(session: Session, failed: OutboundAction) -> None:
    """A follow that cannot be made (the grant revoked, the account unknown to the
    person's server) delivered nothing: its contact is due again, to be suggested."""
    if failed.kind != FollowAccount.kind or failed.person_id is None:
        return
    session.execute(
        delete(Delivery).where(
            col(Delivery.person_id) == failed.person_id,
            col(Delivery.contact_id) == int(failed.payload["contact"]),
            col(Delivery.network) == failed.network,
            col(Delivery.via) == Via.FOLLOWED,
        )
    )


def failed_follows(session: Session, network: Network, since: datetime) -> set[int]:
    """The people whose follows on ``network`` failed since ``since``: the contacts they
    were to be given are due again (:func:`_not_delivered`)."""
    rows = session.exec(
        select(OutboundAction.person_id)
        .where(
            OutboundAction.network == network,
            OutboundAction.status == ActionStatus.FAILED,
            OutboundAction.kind == FollowAccount.kind,
            col(OutboundAction.updated_at) >= since,
        )
        .distinct()
    )
    return {int(p) for p in rows if p is not None}


def mark_failed(engine: Engine, action_id: int, error: str) -> OutboundAction:
    """Record that the action will not be sent (trying again cannot help), nor anything
    that was to come after it."""
    failed = _change(
        engine, action_id, status=ActionStatus.FAILED, last_error=error[:LAST_ERROR_MAX_CHARS]
    )
    keys = [failed.idempotency_key]
    with Session(engine) as session, session.begin():
        _not_delivered(session, failed)
        while keys:  # a chain: each failure fails the next
            keys = list(
                session.exec(
                    select(OutboundAction.idempotency_key).where(
                        col(OutboundAction.after).in_(keys),
                        OutboundAction.status == ActionStatus.PENDING,
                    )
                )
            )
            session.execute(
                update(OutboundAction)
                .where(col(OutboundAction.idempotency_key).in_(keys))
                .values(
                    status=ActionStatus.FAILED,
                    last_error=f"{failed.idempotency_key} before it failed",
                    updated_at=utcnow(),
                )
            )
    return failed


def _change(engine: Engine, action_id: int, **values: Any) -> OutboundAction:
    with Session(engine, expire_on_commit=False) as session, session.begin():
        action = session.get_one(OutboundAction, action_id)
        for name, value in values.items():
            setattr(action, name, value)
        action.updated_at, action.claimed_by = utcnow(), None
        session.add(action)
    return action
