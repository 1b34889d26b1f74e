"""Several processes on one database, each in its roles (:class:`~shared.vocabulary.Role`):
the leases that keep each thing done by one process at a time. A bots process takes its
network's seat (``bots:NETWORK``) before it receives, and waits while another holds it; a
scheduled job runs under its own lease (``job:NAME``), skipped where another process runs
it; every role process holds a lease of its own (``process:…``), which its sends are
claimed under and which keeps an all-in-one service from starting beside it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from shared import lease
from shared.clock import utcnow
from shared.db.models import ServiceLease

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine
    from typing import Any

    from sqlalchemy.engine import Engine

    from shared.vocabulary import Network

log = logging.getLogger(__name__)

PROCESS = "process:"
"""Leases of the role processes, one each."""
SEAT_TTL = timedelta(seconds=20)
"""How long a bots seat outlives its holder's last renewal: a waiting process takes over
within this when the active one dies on another host (at once on the same host)."""


def seat(network: Network) -> str:
    """The lease of the active bots process of ``network``."""
    return f"bots:{network}"


def live(engine: Engine, prefix: str) -> list[str]:
    """The holders of unexpired leases whose name starts with ``prefix``."""
    with Session(engine) as session:
        found = session.exec(
            select(ServiceLease.holder).where(
                col(ServiceLease.name).startswith(prefix, autoescape=True),
                col(ServiceLease.expires_at) > utcnow(),
            )
        )
        return [h for h in found if not lease.gone(h)]


def join(engine: Engine) -> lease.Lease:
    """This role process's own lease, once no all-in-one service runs on the database.

    Raises:
        LeaseHeldError: an all-in-one ``hqx run`` holds the database.
    """
    running = live(engine, lease.SERVICE)
    if running:
        raise lease.LeaseHeldError(
            f"an all-in-one hqx run ({running[0]}) is running on this database: stop it "
            "before running roles"
        )
    return lease.acquire(engine, f"{PROCESS}{lease.holder_name()}")


async def hold(
    engine: Engine, held: lease.Lease, lost: Callable[[str], None], ttl: timedelta | None = None
) -> None:
    """Renew ``held`` (for ``ttl``, the leases' default unless said) while running;
    ``lost(why)`` once another process took it over."""
    ttl = ttl or lease.LEASE_TTL
    while True:
        await asyncio.sleep(ttl.total_seconds() / 3)
        try:
            renewed = await asyncio.to_thread(lease.renew, engine, held, ttl)
        except Exception:  # the database is away: the lease may outlive it a while
            log.exception("renewing the lease %s failed; trying again", held.name)
            continue
        if not renewed:
            lost(f"another process took over the lease {held.name!r}")
            return


async def take(engine: Engine, name: str, ttl: timedelta) -> lease.Lease:
    """Wait for the lease ``name`` (its holder stops, dies or freezes past its expiry)."""
    said = False
    while True:
        try:
            return await asyncio.to_thread(lease.acquire, engine, name, ttl)
        except lease.LeaseHeldError as e:
            if not said:
                log.info("waiting for %s: %s", name, e)
                said = True
        await asyncio.sleep(lease.WAIT_POLL_SEC)


async def seated(
    engine: Engine,
    network: Network,
    receive: Callable[[lease.Lease], Coroutine[Any, Any, None]],
) -> None:
    """Receive for ``network`` whenever this process holds its seat: wait for it, run
    ``receive(seat)`` while holding it, and wait again once it is lost (never two bots
    processes of one network receiving at once). Runs until cancelled, or until
    ``receive`` returns (receiving stopped for good here: the seat is left to others)."""
    while True:
        held = await take(engine, seat(network), SEAT_TTL)
        log.info("%s: this process is the active bot (fence %d)", network, held.fence)
        receiving = asyncio.create_task(receive(held), name=f"receive-{network}")
        kept = hold(engine, held, lambda why: None, SEAT_TTL)
        losing = asyncio.create_task(kept, name=f"seat-{network}")
        try:
            await asyncio.wait({receiving, losing}, return_when=asyncio.FIRST_COMPLETED)
            ended = receiving.done() and not receiving.cancelled() and not receiving.exception()
        finally:
            for task in (receiving, losing):
                task.cancel()
            await asyncio.gather(receiving, losing, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(lease.release, engine, held)
        if ended:
            log.error("%s: receiving stopped for good in this process", network)
            return
        log.warning("%s: the seat was lost; waiting for it again", network)


@contextlib.asynccontextmanager
async def job(engine: Engine, name: str) -> AsyncIterator[bool]:
    """Run a scheduled job's body if this process may (``True``): one process at a time
    runs it, the others skip this turn (``False``)."""
    try:
        held = await asyncio.to_thread(lease.acquire, engine, f"job:{name}")
    except lease.LeaseHeldError:
        yield False
        return
    renewing = asyncio.create_task(hold(engine, held, log.warning), name=f"job-{name}")
    try:
        yield True
    finally:
        renewing.cancel()
        await asyncio.gather(renewing, return_exceptions=True)
        await asyncio.to_thread(lease.release, engine, held)
