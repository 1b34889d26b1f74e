"""Archive imports: the uploads' queue (:mod:`shared.portal.upload_queue`) read and imported
by a work process, a bounded number at once, on threads of their own (the bots' database
calls never wait behind an archive), each with a share of the CPUs. A web process only
writes uploads into the folder it shares with the work processes, and queues them."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from hqx.to_the_end import on_thread_to_the_end
from shared.archive_import import import_archive
from shared.db.migrate import SchemaError
from shared.errors import HqxError
from shared.identity import xtrust
from shared.portal import uploads
from shared.portal.upload_queue import MAX_ATTEMPTS, Taken, UploadGoneError, UploadQueue
from shared.vocabulary import UploadState
from shared.xarchive.parallel import usable_cpus
from shared.xarchive.reader import summarize_archive

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Engine
    from sqlmodel import Session

    from shared.config import ArchiveLimits, Settings
    from shared.xarchive.reader import ArchiveSummary

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger(__name__)

POLL_SEC = 1.0
"""How often an idle work process looks for uploads other processes queued."""
TIDY_SEC = 30.0
"""How often the queue is tidied (rows of stopped processes, rows past their time)."""
REFUSED = "Archive refusée / refused: "


def default_folder(database_url: str) -> Path:
    """A folder of the system's temporary folder, one per database (one machine's
    processes share it; on several machines ``HQX_UPLOAD_DIR`` names a shared volume)."""
    name = hashlib.sha256(database_url.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"helloquittex-uploads-{name}"


@dataclass
class ImportCounts:
    """What this process's imports did since it started (the queue's states are in the
    database, for all processes)."""

    read: int = 0
    done: int = 0
    failed: int = 0
    seconds: float = 0.0
    """Time spent reading and importing, all together."""


class Imports:
    """Owned by the application: the queue of every process; the workers of a work process
    (started by :meth:`forever`), stopped by :meth:`close`."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        limits = settings.upload_limits
        self.folder = limits.folder or default_folder(settings.database_url)
        self.queue = UploadQueue(engine, self.folder, max_held=limits.max_waiting)
        self.archive_limits: ArchiveLimits = replace(
            settings.archive_limits,
            max_processes=max(1, usable_cpus() // limits.import_concurrency),
        )
        self._workers = limits.import_concurrency
        self._threads = ThreadPoolExecutor(
            max_workers=limits.import_concurrency, thread_name_prefix="hqx-import"
        )
        self._notify_on = settings.message_networks
        self._wake = asyncio.Event()
        self.counts = ImportCounts()

    def wake(self) -> None:
        """Something was queued in this process: a worker looks at once."""
        self._wake.set()

    async def forever(
        self, holder: Callable[[], str | None], disputed: Callable[[list[int], str], None]
    ) -> None:
        """Read and import queued uploads, as many at once as configured, until cancelled:
        rows taken under ``holder()`` (this process's lease); ``disputed(person_ids,
        trigger)`` for the people whose X account an import put in dispute."""
        self._wake = asyncio.Event()  # of this event loop
        workers = [
            asyncio.create_task(self._work(holder, disputed), name=f"import-{n}")
            for n in range(self._workers)
        ]
        workers.append(asyncio.create_task(self._tidy(), name="imports-tidy"))
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                if not worker.cancelling():  # once: a worker gives back what it holds
                    worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _tidy(self) -> None:
        """Every little while: rows a stopped process held go back to the queue; rows past
        their time go, with their files."""
        while True:
            try:
                recovered = await asyncio.to_thread(self.queue.recover)
                if recovered:
                    log.info("%d uploads a stopped process held go back to the queue", recovered)
                await asyncio.to_thread(self.queue.prune)
            except Exception:  # the database is away: the next turn
                log.exception("tidying the uploads' queue failed; trying again")
            await asyncio.sleep(TIDY_SEC)

    async def _work(
        self, holder: Callable[[], str | None], disputed: Callable[[list[int], str], None]
    ) -> None:
        away = False
        while True:
            me = holder()
            try:
                taken = await self._take(me) if me else None
                away = False
            except Exception as e:  # the database is away: said once, tried again later
                if not away:
                    log.warning("taking an upload from the queue failed (%s); trying again", e)
                away, taken = True, None
            if taken is None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(POLL_SEC):
                        await self._wake.wait()
                self._wake.clear()
                continue
            assert me is not None  # noqa: S101  (taken under it)
            await self._one(taken, me, disputed)

    async def _take(self, me: str) -> Taken | None:
        """A row taken for ``me``; one taken as the process stops goes back at once."""

        def give_back(taken: Taken | None) -> None:
            if taken is not None:
                self.queue.put_back(taken, me)

        return await on_thread_to_the_end(functools.partial(self.queue.take, me), give_back)

    async def _one(self, taken: Taken, me: str, disputed: Callable[[list[int], str], None]) -> None:
        """Read or import one taken upload; whatever fails is said on its page."""
        started = time.monotonic()
        try:
            if taken.attempts > MAX_ATTEMPTS:
                raise HqxError(f"this archive stopped {MAX_ATTEMPTS} imports: it cannot be read")
            if taken.state == UploadState.READING:
                await self._read(taken, me)
            else:
                await self._import(taken, me, disputed)
        except SchemaError as e:  # an upgrade under way: a process of the new code takes it
            log.warning("an upload goes back to the queue: %s", e)
            await self._give_back(taken, me)
            await asyncio.sleep(POLL_SEC)
        except (HqxError, ValueError) as e:
            self.counts.failed += 1
            await self._refuse(taken, me, f"{REFUSED}{e}", 400)
        except UploadGoneError:
            pass  # another process has it now
        except FileNotFoundError:
            self.counts.failed += 1
            await self._refuse(taken, me, f"{REFUSED}the upload was lost: send it again", 410)
        except asyncio.CancelledError:  # stopping: back to the queue now, not at lease end
            await self._give_back(taken, me)
            raise
        except Exception:  # not the archive's doing (the database was away): a later turn
            log.exception("an upload could not be handled; it goes back to the queue")
            await self._give_back(taken, me)
        finally:
            self.counts.seconds += time.monotonic() - started

    async def _give_back(self, taken: Taken, me: str) -> None:
        """Put a taken row back to the queue, even as the process stops (else it would stay
        taken until the lease's end)."""
        with contextlib.suppress(Exception):
            await on_thread_to_the_end(functools.partial(self.queue.put_back, taken, me))

    async def _read(self, taken: Taken, me: str) -> None:
        summary = await self._run(
            summarize_archive, taken.path, self.archive_limits, spill_dir=taken.path.parent,
            keep=True,
        )  # fmt: skip
        await asyncio.to_thread(self.queue.read, taken, me, summary)
        self.counts.read += 1

    async def _import(
        self, taken: Taken, me: str, disputed: Callable[[list[int], str], None]
    ) -> None:
        def mark(session: Session, summary: ArchiveSummary) -> None:
            self.queue.imported(session, taken, me, summary)

        try:
            await self._run(
                import_archive, self.queue.engine, taken.path, self.archive_limits,
                for_person=taken.person_id, notify_on=self._notify_on,
                spill_dir=taken.path.parent, within=mark, kept_beside=True,
            )  # fmt: skip
        except (xtrust.ClaimRefusedError, xtrust.ClaimDisputedError) as e:
            # The link stays used: one link must not probe who holds which X account.
            await asyncio.to_thread(self.queue.refuse, taken, me, f"{REFUSED}{e}", 409)
            if isinstance(e, xtrust.ClaimDisputedError):  # the holder's attestation drops it
                for notice in e.notices:
                    trigger = f"disputed:{notice.event}"
                    await asyncio.to_thread(disputed, [notice.person_id], trigger)
            self.counts.failed += 1
            return
        await asyncio.to_thread(self.queue.finished, taken)
        self.counts.done += 1

    async def _refuse(self, taken: Taken, me: str, error: str, status: int) -> None:
        if taken.state == UploadState.IMPORTING:  # the link was claimed: given back
            await asyncio.to_thread(uploads.release, self.queue.engine, taken.token_hash)
        await asyncio.to_thread(self.queue.refuse, taken, me, error, status)

    async def _run(self, job: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, functools.partial(job, *args, **kwargs))

    def close(self) -> None:
        """Wait for the reads and imports under way (their transactions end cleanly)."""
        self._threads.shutdown(wait=True, cancel_futures=True)
