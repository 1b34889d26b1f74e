"""Read an X archive: the owner's account and the unique ids of followers and followings."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from shared.config import ArchiveLimits
from shared.xarchive.container import Container, open_container
from shared.xarchive.entries import validate_block
from shared.xarchive.errors import ArchiveError, RowError
from shared.xarchive.idset import DEFAULT_RUN_CAPACITY, IdSet
from shared.xarchive.parallel import PARALLEL_MIN_BYTES, BlockPool, usable_cpus
from shared.xarchive.xid import parse_x_id
from shared.xarchive.ytd import iter_batches

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from shared.xarchive.entries import ValidatedBlock

EDGE_KINDS = ("follower", "following")
ACCOUNT_FILE = "account.js"
PART_RE = re.compile(r"^(follower|following)(?:-part(\d+))?\.js$")
USERNAME_RE = re.compile(r"^[A-Za-z0-9_]{1,50}$")
MAX_ACCOUNT_FILE_BYTES = 16 << 20
MAX_REJECTION_EXAMPLES = 5
KEPT_FILE = "read.json"
"""What a read found, kept beside its archive (with the ids, ``<kind>.u64``): written last,
so that it names only complete files."""
KEPT_VERSION = 1

Progress = Callable[[int, int], None]
"""Called with (bytes read so far, bytes to read in all)."""


@dataclass(frozen=True, slots=True)
class XAccount:
    """The archive's owner: all that is kept of ``account.js``."""

    account_id: int
    username: str


@dataclass(frozen=True, slots=True)
class ArchiveSummary:
    """What an archive holds, as ``hqx archive inspect`` reports it."""

    account_id: int
    username: str
    followers: int
    following: int
    rejected_rows: int
    duplicate_rows: int
    rejections: dict[str, int]
    rejection_examples: list[str]
    files: list[str]

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict; the id is a string, as 64-bit ids lose precision in JavaScript."""
        return {
            "account_id": str(self.account_id),
            "username": self.username,
            "followers": self.followers,
            "following": self.following,
            "rejected_rows": self.rejected_rows,
            "duplicate_rows": self.duplicate_rows,
            "rejections": self.rejections,
            "rejection_examples": self.rejection_examples,
            "files": self.files,
        }


@dataclass
class _Rejections:
    counts: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def add(self, name: str, index: int, reason: str) -> None:
        self.counts[reason] += 1
        if len(self.examples) < MAX_REJECTION_EXAMPLES:
            self.examples.append(f"{name} entry {index + 1}: {reason}")


class XArchive:
    """A read archive. Close it (or use ``with``) to delete the spilled id runs."""

    def __init__(
        self,
        account: XAccount,
        followers: IdSet,
        following: IdSet,
        files: list[str],
        rejections: _Rejections,
    ) -> None:
        self.account = account
        self.followers = followers
        self.following = following
        self.files = files
        self._rejections = rejections

    @property
    def summary(self) -> ArchiveSummary:
        """Counts of what was read."""
        sets = (self.followers, self.following)
        return ArchiveSummary(
            account_id=self.account.account_id,
            username=self.account.username,
            followers=self.followers.count,
            following=self.following.count,
            rejected_rows=sum(self._rejections.counts.values()),
            duplicate_rows=sum(s.added - s.count for s in sets),
            rejections=dict(self._rejections.counts.most_common()),
            rejection_examples=list(self._rejections.examples),
            files=list(self.files),
        )

    def keep(self, folder: Path) -> None:
        """Keep what was read in ``folder`` (its archive's), so that storing it later needs
        no second read: the ids sorted, 8 bytes each (bounded as the archive is), and the
        rest in :data:`KEPT_FILE`, written last."""
        sets: dict[str, dict[str, int]] = {}
        for kind, ids in zip(EDGE_KINDS, (self.followers, self.following), strict=True):
            partial = folder / f"{kind}.u64.partial"
            count = ids.write(partial)
            partial.replace(folder / f"{kind}.u64")
            sets[kind] = {"count": count, "added": ids.added}
        kept = {
            "version": KEPT_VERSION,
            "account_id": str(self.account.account_id),
            "username": self.account.username,
            "files": self.files,
            "rejections": dict(self._rejections.counts),
            "rejection_examples": self._rejections.examples,
            "ids": sets,
        }
        partial = folder / f"{KEPT_FILE}.partial"
        partial.write_text(json.dumps(kept))
        partial.replace(folder / KEPT_FILE)

    @classmethod
    def kept(cls, folder: Path) -> XArchive | None:
        """What :meth:`keep` kept in ``folder``; ``None`` if nothing complete is there (it
        is then read again)."""
        try:
            kept = json.loads((folder / KEPT_FILE).read_text())
            if kept.get("version") != KEPT_VERSION:
                return None
            sets = []
            for kind in EDGE_KINDS:
                ids = IdSet.of_file(folder / f"{kind}.u64", int(kept["ids"][kind]["added"]))
                if ids.count != int(kept["ids"][kind]["count"]):
                    return None
                sets.append(ids)
            account = XAccount(int(kept["account_id"]), str(kept["username"]))
            rejections = _Rejections(Counter(kept["rejections"]), list(kept["rejection_examples"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return cls(account, sets[0], sets[1], list(kept["files"]), rejections)

    def close(self) -> None:
        """Delete temporary files."""
        self.followers.close()
        self.following.close()

    def __enter__(self) -> XArchive:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def read_archive(
    path: Path,
    limits: ArchiveLimits | None = None,
    *,
    progress: Progress | None = None,
    spill_dir: Path | None = None,
    run_capacity: int = DEFAULT_RUN_CAPACITY,
    parallel: bool = True,
) -> XArchive:
    """Read and validate the archive at ``path``; raise :class:`ArchiveError` to refuse it."""
    with open_container(path, limits or ArchiveLimits()) as container:
        data_dir = _data_dir(container)
        parts = _edge_files(container, data_dir)
        account_file = data_dir + ACCOUNT_FILE
        to_read = [name for kind in EDGE_KINDS for name in parts[kind]]
        container.check_bounds([account_file, *to_read])
        account = _read_account(container, account_file)
        meter = _Meter(sum(container.members[n].size for n in to_read), progress)
        rejections = _Rejections()
        sets = [IdSet(run_capacity, spill_dir) for _ in EDGE_KINDS]
        large = any(container.members[n].size >= PARALLEL_MIN_BYTES for n in to_read)
        cpus = usable_cpus()
        most = (limits.max_processes if limits else 0) or cpus
        workers = min(cpus, most) if large and parallel else 1
        try:
            with BlockPool(workers) if workers > 1 else nullcontext() as pool:
                for kind, ids in zip(EDGE_KINDS, sets, strict=True):
                    for name in parts[kind]:
                        reader = _EdgeReader(container, name, kind, meter, pool)
                        reader.read_into(ids, rejections)
                    ids.freeze()
        except BaseException:
            for ids in sets:
                ids.close()
            raise
    return XArchive(account, sets[0], sets[1], [account_file, *to_read], rejections)


def summarize_archive(
    path: Path,
    limits: ArchiveLimits | None = None,
    *,
    progress: Progress | None = None,
    spill_dir: Path | None = None,
    keep: bool = False,
) -> ArchiveSummary:
    """What the archive at ``path`` holds, read whole and validated; with ``keep``, what
    was read is kept beside it (:meth:`XArchive.keep`), else nothing is."""
    with read_archive(path, limits, progress=progress, spill_dir=spill_dir) as archive:
        if keep:
            archive.keep(path.parent)
        return archive.summary


class _Meter:
    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total = total
        self.done = 0
        self._progress = progress

    def __call__(self, n: int) -> None:
        self.done += n
        if self._progress is not None:
            self._progress(min(self.done, self.total), self.total)


def _data_dir(container: Container) -> str:
    """The ``data/`` folder holding ``account.js``, at whatever depth the archive put it."""
    found = sorted(
        name[: -len(ACCOUNT_FILE)]
        for name in container.members
        if name == f"data/{ACCOUNT_FILE}" or name.endswith(f"/data/{ACCOUNT_FILE}")
    )
    if not found:
        raise ArchiveError("no data/account.js in it: this is not an X archive, or not all of one")
    if len(found) > 1:
        raise ArchiveError(f"it holds {len(found)} X archives ({', '.join(found)}): send one")
    return found[0]


def _edge_files(container: Container, data_dir: str) -> dict[str, list[str]]:
    """``follower.js``, ``follower-part1.js``, ... (and the same for following), in part order."""
    parts: dict[str, list[tuple[int, str]]] = {kind: [] for kind in EDGE_KINDS}
    for name in container.members:
        if not name.startswith(data_dir):
            continue
        match = PART_RE.match(name[len(data_dir) :])
        if match:
            parts[match.group(1)].append((int(match.group(2) or 0), name))
    return {kind: [name for _, name in sorted(found)] for kind, found in parts.items()}


def _read_account(container: Container, name: str) -> XAccount:
    with container.open(name) as stream:
        data = stream.read(MAX_ACCOUNT_FILE_BYTES + 1)
    if len(data) > MAX_ACCOUNT_FILE_BYTES:
        raise ArchiveError(f"{name} is larger than {MAX_ACCOUNT_FILE_BYTES:,} bytes")
    # Only the id and the username are taken; e-mail, phone and the rest are never kept.
    entries = [e for batch in iter_batches(name, io.BytesIO(data), "account") for e in batch]
    account = entries[0].get("account") if entries and isinstance(entries[0], dict) else None
    if not isinstance(account, dict):
        raise ArchiveError(f"{name} has no account entry")
    raw_id, username = account.get("accountId"), account.get("username")
    try:
        account_id = parse_x_id(raw_id if isinstance(raw_id, str) else "")
    except RowError as e:
        raise ArchiveError(f"{name}: {e}") from None
    if not isinstance(username, str) or not USERNAME_RE.match(username):
        raise ArchiveError(f"{name}: username is missing or not an X username")
    return XAccount(account_id=account_id, username=username)


@dataclass(frozen=True, slots=True)
class _EdgeReader:
    """Reads one follower/following file, on every core when it is large."""

    container: Container
    name: str
    kind: str
    meter: _Meter
    pool: BlockPool | None

    def read_into(self, ids: IdSet, rejections: _Rejections) -> None:
        index = 0
        with self.container.open(self.name) as stream:
            for block in self._blocks(stream):
                ids.add(np.frombuffer(block.ids, dtype=np.uint64))
                for position, reason in block.rejections:
                    rejections.add(self.name, index + position, reason)
                index += block.count

    def _blocks(self, stream: IO[bytes]) -> Iterator[ValidatedBlock]:
        size = self.container.members[self.name].size
        if self.pool is not None and size >= PARALLEL_MIN_BYTES:
            return self.pool.blocks(self.name, stream, self.kind, self.meter)
        batches = iter_batches(self.name, stream, self.kind, self.meter)
        return (validate_block(entries, self.kind) for entries in batches)
