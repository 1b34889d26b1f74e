"""A set of X ids built in bounded memory, whatever its size.

Ids are gathered in a buffer; a full buffer is sorted, de-duplicated and, once there is more
than one, spilled to a temporary file as a sorted run. Reading merges the runs in blocks.
Memory stays near two buffers (``run_capacity`` ids of 8 bytes) however many ids arrive,
and the ids come out sorted, which is also the fastest order to insert them into a B-tree.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from collections.abc import Iterator

IdArray = npt.NDArray[np.uint64]

DEFAULT_RUN_CAPACITY = 500_000
MERGE_BLOCK_IDS = 1 << 16
# Ids read from all runs at once while merging, shared among the runs.
MERGE_BUDGET_IDS = 1 << 19
MIN_RUN_BLOCK_IDS = 4096


class IdSet:
    """Unique unsigned 64-bit ids. Add with :meth:`add`, then :meth:`freeze` and read."""

    def __init__(
        self, run_capacity: int = DEFAULT_RUN_CAPACITY, spill_dir: Path | None = None
    ) -> None:
        self._capacity = run_capacity
        self._spill_dir = spill_dir
        self._pending: list[IdArray] = []
        self._pending_count = 0
        self._runs: list[Path] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._memory_run: IdArray | None = None
        self._frozen = False
        self._count: int | None = None
        self.added = 0
        """Ids added, duplicates included."""

    @classmethod
    def of_file(cls, path: Path, added: int) -> IdSet:
        """The set written by :meth:`write` (frozen; the file is not this set's to delete);
        ``added``, as the set that wrote it counted."""
        count, rest = divmod(path.stat().st_size, 8)
        if rest:
            raise ValueError(f"{path.name}: not a file of 8-byte ids")
        kept = cls()
        kept._runs, kept._frozen, kept._count, kept.added = [path], True, count, added
        return kept

    def write(self, path: Path) -> int:
        """Write the ids, sorted, 8 bytes each, to ``path``; return how many."""
        count = 0
        with path.open("wb") as out:
            for block in self.sorted_blocks():
                block.astype("<u8", copy=False).tofile(out)
                count += len(block)
        return count

    def add(self, ids: IdArray) -> None:
        """Add a batch of ids (duplicates allowed)."""
        if self._frozen:
            raise RuntimeError("IdSet.add after freeze")
        self._pending.append(ids)
        self._pending_count += len(ids)
        self.added += len(ids)
        if self._pending_count >= self._capacity:
            self._spill(self._sorted_pending())

    def freeze(self) -> None:
        """Finish adding; count the unique ids."""
        if self._frozen:
            return
        self._frozen = True
        last = self._sorted_pending()
        if self._runs:
            self._spill(last)
        else:
            self._memory_run = last
            self._count = len(last)

    @property
    def count(self) -> int:
        """How many unique ids; known after a full read of :meth:`sorted_blocks`, else merged."""
        if self._count is None:
            self._count = sum(len(block) for block in self.sorted_blocks())
        return self._count

    def sorted_blocks(self) -> Iterator[IdArray]:
        """The unique ids in ascending order, in blocks of bounded size."""
        if not self._frozen:
            raise RuntimeError("IdSet read before freeze")
        if self._memory_run is not None:
            for start in range(0, len(self._memory_run), MERGE_BLOCK_IDS):
                yield self._memory_run[start : start + MERGE_BLOCK_IDS]
            return
        count = 0
        for merged in _merge(self._runs):
            count += len(merged)
            # A merge step yields up to one block per run: cut it back to the block size.
            for start in range(0, len(merged), MERGE_BLOCK_IDS):
                yield merged[start : start + MERGE_BLOCK_IDS]
        self._count = count

    def close(self) -> None:
        """Delete the spilled runs (those it made)."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        self._runs = []
        self._memory_run = None

    def __enter__(self) -> IdSet:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _sorted_pending(self) -> IdArray:
        ids = np.concatenate(self._pending) if self._pending else np.empty(0, np.uint64)
        self._pending = []
        self._pending_count = 0
        ids.sort()
        return _unique_sorted(ids)

    def _spill(self, run: IdArray) -> None:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="hqx-ids-", dir=self._spill_dir)
        path = Path(self._tmp.name) / f"run{len(self._runs)}.u64"
        run.tofile(path)
        self._runs.append(path)


def _unique_sorted(ids: IdArray) -> IdArray:
    if len(ids) < 2:
        return ids
    keep = np.empty(len(ids), dtype=bool)
    keep[0] = True
    np.not_equal(ids[1:], ids[:-1], out=keep[1:])
    return ids[keep]


class _RunReader:
    """Reads a sorted run file block by block."""

    def __init__(self, path: Path, block_ids: int) -> None:
        self._file = path.open("rb")
        self._block_ids = block_ids
        self.block: IdArray = np.empty(0, np.uint64)
        self.exhausted = False
        self.refill()

    def refill(self) -> None:
        if self.block.size or self.exhausted:
            return
        self.block = np.fromfile(self._file, dtype=np.uint64, count=self._block_ids)
        if not self.block.size:
            self.exhausted = True
            self._file.close()


def _merge(runs: list[Path]) -> Iterator[IdArray]:
    """K-way merge of sorted, internally unique runs, one block at a time."""
    block_ids = max(MIN_RUN_BLOCK_IDS, MERGE_BUDGET_IDS // len(runs))
    readers = [_RunReader(path, block_ids) for path in runs]
    while True:
        live = [r for r in readers if r.block.size]
        if not live:
            return
        # Every id up to the smallest block end is present in the blocks at hand.
        bound = min(r.block[-1] for r in live)
        parts = []
        for reader in live:
            cut = int(np.searchsorted(reader.block, bound, side="right"))
            parts.append(reader.block[:cut])
            reader.block = reader.block[cut:]
            reader.refill()
        merged = np.concatenate(parts)
        merged.sort()
        yield _unique_sorted(merged)
