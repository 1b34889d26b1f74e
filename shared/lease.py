"""One service per database: ``hqx run`` holds a lease in the database, renewed while it
runs; a second one refuses to start until the lease is released or has expired (its holder
died). Several cooperating workers, later, will share work through the outbox's own
per-action leases, not through this one."""

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


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease this process holds."""

    name: str
    holder: str
    """Who holds it, as people read it: host, process id and a random part."""


def holder_name() -> str:
    """This process, named for an operator who finds its lease."""
    return f"{socket.gethostname()} pid {os.getpid()}, {uuid.uuid4().hex[:8]}"


def gone(holder: str) -> bool:
    """Whether a lease's holder is provably dead: a process of this host that no longer
    exists (a supervisor restarting a killed service must not wait out its lease). Of
    another host, nothing is proven: its lease expires."""
    host, _, rest = holder.partition(" pid ")
    pid_text = rest.split(",", 1)[0].strip()
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return _zombie(pid)


def _zombie(pid: int) -> bool:
    """A process that exited but was not reaped yet (its parent has not waited for it)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:  # noqa: PTH123
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def acquire(engine: Engine, name: str = SERVICE, ttl: timedelta = LEASE_TTL) -> Lease:
    """Take the lease ``name`` for this process.

    Raises:
        LeaseHeldError: another live process holds it (it names the holder and until when).
    """
    lease = Lease(name, holder_name())
    for _ in range(2):  # a race to create the row is lost at most once
        try:
            with Session(engine) as session, session.begin():
                found = session.get(ServiceLease, name, with_for_update=True)
                now = utcnow()
                if found is None:
                    session.add(ServiceLease(name=name, holder=lease.holder, expires_at=now + ttl))
                elif found.expires_at > now and not gone(found.holder):
                    raise LeaseHeldError(
                        f"another hqx run ({found.holder}) is running on this database "
                        f"(its lease runs until {iso_utc(found.expires_at)}): stop it first"
                    )
                else:
                    found.holder, found.expires_at, found.acquired_at = lease.holder, now + ttl, now
                    session.add(found)
            return lease
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
