"""Parsing a large list file on every core.

The main process decompresses and cuts the array into blocks after a ``},``, unverified;
worker processes parse each block with orjson (which verifies the cut: a cut inside an element
or a string cannot parse) and validate its entries. If a block does not parse, everything from
that block on is handed, exactly as it was, to the sequential parser of :mod:`ytd`, whose
verdict is final. So the result is the sequential one, only sooner.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING

import orjson

from shared.xarchive import ytd
from shared.xarchive.entries import ValidatedBlock, validate_block

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# Below this size a file is parsed in-process: starting workers costs more than it saves.
PARALLEL_MIN_BYTES = 64 << 20
IN_FLIGHT_PER_WORKER = 2

InFlight = deque[tuple[Future[ValidatedBlock | None], bytes]]


def usable_cpus() -> int:
    """CPUs this process may use for workers: 1 when workers cannot be started here."""
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    # A spawned worker re-imports the main module: impossible for code run from stdin.
    if getattr(main, "__spec__", None) is None and not (main_file and Path(main_file).is_file()):
        return 1
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse_block(block: bytes, kind: str) -> ValidatedBlock | None:
    """In a worker: the block's validated ids, or None if it does not parse as elements."""
    try:
        entries = orjson.loads(b"[" + block + b"]")
    except orjson.JSONDecodeError:
        return None
    return validate_block(entries, kind)


class _CutFailedError(Exception):
    """A block did not parse; ``rest`` is the text from its start to the last cut."""

    def __init__(self, rest: bytes) -> None:
        super().__init__("a block did not parse")
        self.rest = rest


class BlockPool:
    """Worker processes that parse blocks; use it with ``with``, one per archive."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        # spawn, not fork: a forked child would inherit the parent's open database handles.
        self._executor = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        )

    def __enter__(self) -> BlockPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def blocks(
        self, name: str, stream: IO[bytes], kind: str, on_bytes: Callable[[int], None]
    ) -> Iterator[ValidatedBlock]:
        """The file's entries, validated, block by block, in order."""
        counted = ytd.Counted(stream, on_bytes)
        in_flight: InFlight = deque()
        consumed = False
        with ytd.damage_reported(name):
            pending = ytd.read_list_header(name, counted, kind)
            try:
                while chunk := counted.read(ytd.FAST_BLOCK_BYTES):
                    pending += chunk
                    if len(pending) < ytd.FAST_BLOCK_BYTES:
                        continue
                    brace = pending.rfind(b"},")
                    if brace < 0:
                        break
                    block, pending = pending[: brace + 1], pending[brace + 2 :]
                    in_flight.append((self._executor.submit(parse_block, block, kind), block))
                    for result in _settle(in_flight, self.workers * IN_FLIGHT_PER_WORKER - 1):
                        consumed = True
                        yield result
                for result in _settle(in_flight, 0):
                    consumed = True
                    yield result
            except _CutFailedError as failed:
                pending = failed.rest + b"," + pending
            finally:
                for future, _ in in_flight:
                    future.cancel()
            opening = ytd.AFTER_COMMA if consumed else ytd.AT_START
            for entries in ytd.continue_batches(name, counted, pending, opening):
                yield validate_block(entries, kind)


def _settle(in_flight: InFlight, keep: int) -> Iterator[ValidatedBlock]:
    """Results of the oldest blocks, in order, until ``keep`` remain in flight."""
    while len(in_flight) > keep:
        future, block = in_flight.popleft()
        result = future.result()
        if result is None:
            rest = b",".join([block, *(later for _, later in in_flight)])
            for later, _ in in_flight:
                later.cancel()
            in_flight.clear()
            raise _CutFailedError(rest)
        yield result
