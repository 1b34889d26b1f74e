"""The portal's imports, bounded: a fixed number at once, on threads of their own (the bots'
database calls never wait behind an archive), each with a share of the CPUs, and a folder of
their own, swept at start so that a crash leaves no upload behind.

An upload is read first and waits (:class:`Staged`) for its person to confirm what it holds;
a bounded number wait at once, each for a bounded time, one per link."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import secrets
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from shared.errors import HqxError
from shared.xarchive.parallel import usable_cpus

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from shared.config import ArchiveLimits, Settings
    from shared.xarchive.reader import ArchiveSummary

P = ParamSpec("P")
T = TypeVar("T")


def default_folder(database_url: str) -> Path:
    """A folder of the system's temporary folder, one per database (one service each)."""
    name = hashlib.sha256(database_url.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"helloquittex-uploads-{name}"


STAGED_TTL_SEC = 30 * 60.0
"""How long a read archive waits for its person to confirm the import."""


class StagingFullError(HqxError):
    """Too many archives already wait for their people to confirm them."""


@dataclass(frozen=True, slots=True)
class Staged:
    """An archive read and kept, until its person confirms the import or it expires."""

    link: str
    """The upload link's token: confirming still needs the link."""
    person_id: int
    folder: Path
    """Its own folder, holding ``archive.zip``; removed with it."""
    summary: ArchiveSummary
    until: float
    """On :func:`time.monotonic`'s clock."""

    @property
    def path(self) -> Path:
        return self.folder / "archive.zip"


@dataclass
class ImportCounts:
    """What a process's imports did since it started."""

    queued: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0
    seconds: float = 0.0
    """Time spent in them, all together."""


class Imports:
    """Owned by the application: created with it, swept at its start, closed at its end."""

    def __init__(self, settings: Settings) -> None:
        limits = settings.upload_limits
        self.folder = limits.folder or default_folder(settings.database_url)
        self.archive_limits: ArchiveLimits = replace(
            settings.archive_limits,
            max_processes=max(1, usable_cpus() // limits.import_concurrency),
        )
        self._turns = asyncio.Semaphore(limits.import_concurrency)
        self._threads = ThreadPoolExecutor(
            max_workers=limits.import_concurrency, thread_name_prefix="hqx-import"
        )
        self._staged: dict[str, Staged] = {}
        self.max_staged = limits.max_waiting
        self.counts = ImportCounts()
        """What this process's imports did (for ``/metrics``)."""

    def sweep(self) -> int:
        """Remove what an earlier run left (it crashed mid-upload); return how many."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        left = list(self.folder.iterdir())
        for path in left:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        return len(left)

    @contextlib.contextmanager
    def workspace(self) -> Iterator[Path]:
        """A private folder for one upload, removed whatever happens unless it was staged."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix="upload-", dir=self.folder))
        try:
            yield path
        finally:
            if not any(s.folder == path for s in self._staged.values()):
                shutil.rmtree(path, ignore_errors=True)

    def stage(self, link: str, person_id: int, folder: Path, summary: ArchiveSummary) -> str:
        """Keep the archive read in ``folder`` for its person to confirm; return the key of
        its page. A newer upload through the same link replaces the one waiting."""
        self._expire()
        for key, waiting in list(self._staged.items()):
            if waiting.link == link:
                self._drop(key)
        if len(self._staged) >= self.max_staged:
            raise StagingFullError(
                f"{self.max_staged} archives already wait for confirmation: "
                "try again in a few minutes"
            )
        key = secrets.token_urlsafe(16)
        until = time.monotonic() + STAGED_TTL_SEC
        self._staged[key] = Staged(link, person_id, folder, summary, until)
        return key

    @contextlib.contextmanager
    def taken(self, link: str, key: str) -> Iterator[Staged | None]:
        """Take the archive waiting under ``key`` for that link (``None`` if none waits)
        to import or drop; its folder is removed once done, whatever happens."""
        self._expire()
        found = self._staged.get(key)
        if found is None or found.link != link:
            yield None
            return
        del self._staged[key]
        try:
            yield found
        finally:
            shutil.rmtree(found.folder, ignore_errors=True)

    def waiting(self, link: str, key: str) -> Staged | None:
        """The archive waiting under ``key`` for that link, if it still waits."""
        self._expire()
        found = self._staged.get(key)
        return found if found is not None and found.link == link else None

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, s in self._staged.items() if s.until <= now]:
            self._drop(key)

    def _drop(self, key: str) -> None:
        shutil.rmtree(self._staged.pop(key).folder, ignore_errors=True)

    async def run(self, job: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run an import when its turn comes, on the imports' own threads."""
        self.counts.queued += 1
        async with self._turns:
            self.counts.queued -= 1
            self.counts.running += 1
            started = time.monotonic()
            loop = asyncio.get_running_loop()
            try:
                done = await loop.run_in_executor(
                    self._threads, functools.partial(job, *args, **kwargs)
                )
            except BaseException:
                self.counts.failed += 1
                raise
            finally:
                self.counts.running -= 1
                self.counts.seconds += time.monotonic() - started
            self.counts.done += 1
            return done

    @property
    def staged(self) -> int:
        """Archives read, waiting for their people to confirm them."""
        return len(self._staged)

    def close(self) -> None:
        """Stop taking imports; wait for those under way (their transactions end cleanly);
        remove the folder, which only ever holds uploads in progress."""
        self._threads.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.folder, ignore_errors=True)
