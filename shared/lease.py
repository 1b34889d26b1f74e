"""Leases on the database: the all-in-one ``hqx run`` holds one (a second one refuses to
start until it is released or expired, or its holder is provably gone); with several
processes, a network's active bots process holds that network's, a scheduled job's runner
the job's. Each taking of a lease counts one more (its fence): a write made under a lease
checks it in its own transaction (:func:`fenced`), so a process that lost its lease (frozen
past its expiry, cut off from the database) cannot write. Delivery shares its work through
the outbox's own per-action claims, not through these."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from shared.clock import iso_utc, utcnow
from shared.db.models import ServiceLease
from shared.errors import HqxError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

LEASE_TTL = timedelta(seconds=60)
"""How long a lease outlives its last renewal (its holder renews it every third of this)."""
WAIT_POLL_SEC = 2.0
"""How often a waiting service asks for the lease again."""
SERVICE = "service"


class LeaseHeldError(HqxError):
    """Another process runs the service on this database."""


class LeaseLostError(HqxError):
    """This process no longer holds the lease it would write under."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease this process holds."""

    name: str
    holder: str
    """Who holds it, as people read it: host, process id and start, and a random part."""
    fence: int = 0
    """Which taking of the lease this is (see :func:`fenced`)."""


def holder_name() -> str:
    """This process, named for an operator who finds its lease (and for :func:`gone`)."""
    pid, since = os.getpid(), _started(os.getpid())
    started = f" since {since}" if since is not None else ""
    return f"{socket.gethostname()} pid {pid}{started}, {uuid.uuid4().hex[:8]}"


def gone(holder: str) -> bool:
    """Whether a lease's holder is provably dead: a process of this host that no longer
    exists, or whose process id another process has taken since (a container restarted
    runs as the same pid 1). A supervisor restarting a killed service must not wait out
    its lease. Of another host, nothing is proven: its lease expires."""
    host, _, rest = holder.partition(" pid ")
    pid_text, _, since = rest.split(",", 1)[0].strip().partition(" since ")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if since and _started(pid) not in (None, since):
        return True  # that pid is another process now
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return _stat(pid)[0] == "Z"  # exited, not reaped yet by its parent


def _stat(pid: int) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command's name (``[""]``: none to read)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:  # noqa: PTH123
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return [""]


def _started(pid: int) -> str | None:
    """When a process started (clock ticks since boot), where the system says it."""
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else None  # field 22 of proc(5)


def fenced(session: Session, lease: Lease) -> None:
    """Refuse, in the caller's transaction, to write under ``lease`` unless this process
    still holds it, unexpired, from the same taking; the lease's row stays locked until that
    transaction ends, so that nobody takes it over between this check and the commit.

    Raises:
        LeaseLostError: the lease expired or another process took it.
    """
    found = session.get(ServiceLease, lease.name, with_for_update=True, populate_existing=True)
    if found is None or (found.holder, found.fence) != (lease.holder, lease.fence):
        raise LeaseLostError(f"the lease {lease.name!r} is no longer this process's")
    if found.expires_at <= utcnow():
        raise LeaseLostError(f"the lease {lease.name!r} expired at {iso_utc(found.expires_at)}")


def acquire(engine: Engine, name: str = SERVICE, ttl: timedelta = LEASE_TTL) -> Lease:
    """Take the lease ``name`` for this process.

    Raises:
        LeaseHeldError: another live process holds it (it names the holder and until when).
    """
    holder = holder_name()
    for _ in range(2):  # a race to create the row is lost at most once
        try:
            with Session(engine) as session, session.begin():
                found = session.get(ServiceLease, name, with_for_update=True)
                now = utcnow()
                if found is None:
                    found = ServiceLease(name=name, holder=holder, expires_at=now + ttl)
                elif found.expires_at > now and not gone(found.holder):
                    raise LeaseHeldError(
                        f"another hqx run ({found.holder}) is running on this database "
                        f"(its lease {name!r} runs until {iso_utc(found.expires_at)}): "
                        "stop it first"
                    )
                found.holder, found.expires_at, found.acquired_at = holder, now + ttl, now
                found.fence += 1
                session.add(found)
                taken = Lease(name, holder, found.fence)
            return taken
        except IntegrityError:
            continue
    raise LeaseHeldError(f"another hqx run took the database lease {name!r} at the same time")


def renew(engine: Engine, lease: Lease, ttl: timedelta = LEASE_TTL) -> bool:
    """Extend the lease; ``False`` when this process no longer holds it (it expired and
    another took it over: this one must stop)."""
    with Session(engine) as session, session.begin():
        renewed = session.execute(
            update(ServiceLease)
            .where(col(ServiceLease.name) == lease.name, col(ServiceLease.holder) == lease.holder)
            .values(expires_at=utcnow() + ttl)
        )
        return bool(renewed.rowcount)  # type: ignore[attr-defined]


def release(engine: Engine, lease: Lease) -> None:
    """Give the lease up (at a clean stop), so the next start needs not wait."""
    with Session(engine) as session, session.begin():
        session.execute(
            delete(ServiceLease).where(
                col(ServiceLease.name) == lease.name, col(ServiceLease.holder) == lease.holder
            )
        )
