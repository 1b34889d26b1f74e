"""The portal's imports, bounded: a fixed number at once, on threads of their own (the bots'
database calls never wait behind an archive), each with a share of the CPUs, and a folder of
their own, swept at start so that a crash leaves no upload behind."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from shared.xarchive.parallel import usable_cpus

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from shared.config import ArchiveLimits, Settings

P = ParamSpec("P")
T = TypeVar("T")


def default_folder(database_url: str) -> Path:
    """A folder of the system's temporary folder, one per database (one service each)."""
    name = hashlib.sha256(database_url.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"helloquittex-uploads-{name}"


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
        """A private folder for one upload, removed whatever happens."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix="upload-", dir=self.folder))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    async def run(self, job: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run an import when its turn comes, on the imports' own threads."""
        async with self._turns:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._threads, functools.partial(job, *args, **kwargs)
            )

    def close(self) -> None:
        """Stop taking imports; wait for those under way (their transactions end cleanly);
        remove the folder, which only ever holds uploads in progress."""
        self._threads.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.folder, ignore_errors=True)
