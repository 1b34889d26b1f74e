"""Benchmark: reading and importing X archives, beside two baselines on the same bytes.

    python benchmarks/archive_import.py [--sizes 100000,1000000,10000000] [--no-postgres]

For each size it writes (once, cached) an archive in X's real format, then runs every step in a
fresh process and reports wall time of the step itself, the process's peak memory (RSS), and
rows per second:

- unzip: decompress follower.js into memory (the floor of any approach);
- orjson: the fastest JSON library here, parsing the whole file in memory;
- duckdb: DuckDB's read_json loading the ids into a table (the file extracted first, untimed);
- hqx inspect: the reader (unzip, stream-parse, validate, de-duplicate), storing nothing;
- hqx import: reading plus storing into SQLite, and into PostgreSQL (a local server);
- hqx read and keep: the upload's first read (what its page shows), keeping the ids beside
  the archive;
- hqx confirm: storing what the first read kept (no second read), into SQLite; beside it,
  the import's own write (timed apart in its step), and the import whole: what confirming
  cost when it read the archive again.

"peak MB" is the step's process plus its parser workers (the sum of each one's peak: an upper
bound of the whole); "(main)" is the step's process alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CACHE = ROOT / ".hqx-cache" / "bench"
DEFAULT_SIZES = "100000,1000000,10000000"
PREFIX_BYTES = len(b"window.YTD.follower.part0 = ")


def archive_for(size: int) -> Path:
    from shared.xarchive.sample import random_ids, write_archive

    path = CACHE / f"followers-{size}.zip"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.zip")
        started = time.perf_counter()
        write_archive(partial, 1_000_000_001, "bench_media", random_ids(size, seed=size), [])
        partial.rename(path)
        print(f"  (wrote {path.name} in {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return path


def follower_member(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        return next(n for n in z.namelist() if n.endswith("data/follower.js"))


# --- steps, each run in its own process -------------------------------------------------------


def step_unzip(path: Path, _arg: str) -> int:
    with zipfile.ZipFile(path) as z:
        data = z.read(follower_member(path))
    return len(data)


def step_orjson(path: Path, _arg: str) -> int:
    import orjson

    with zipfile.ZipFile(path) as z:
        data = z.read(follower_member(path))
    entries = orjson.loads(memoryview(data)[PREFIX_BYTES:])
    return len({int(e["follower"]["accountId"]) for e in entries})


def step_duckdb(_path: Path, json_file: str) -> int:
    import duckdb

    con = duckdb.connect()
    con.execute(
        "CREATE TABLE follower AS SELECT CAST(follower.accountId AS UBIGINT) AS id "
        f"FROM read_json('{json_file}', format='array', maximum_object_size=1048576)"
    )
    return int(con.execute("SELECT count(DISTINCT id) FROM follower").fetchone()[0])  # type: ignore[index]


def step_inspect(path: Path, _arg: str) -> int:
    from shared.xarchive.reader import read_archive

    with read_archive(path) as archive:
        return archive.summary.followers


def prepare_import(database_url: str) -> None:
    from shared.db import migrate
    from shared.db.engine import create_sync_engine

    engine = create_sync_engine(database_url)
    migrate.upgrade(engine)
    engine.dispose()


def step_import(path: Path, database_url: str) -> int:
    """As :func:`shared.archive_import.import_archive`, the write timed apart."""
    from shared.archive_import import store_archive
    from shared.db.engine import create_sync_engine
    from shared.vocabulary import PersonKind
    from shared.xarchive.reader import read_archive

    engine = create_sync_engine(database_url)
    with read_archive(path) as archive:
        started = time.perf_counter()
        stored = store_archive(engine, archive, kind=PersonKind.INDIVIDUAL)
        print(json.dumps({"wrote": time.perf_counter() - started}), file=sys.stderr)
    return stored.summary.followers


def step_keep(path: Path, folder: str) -> int:
    from shared.xarchive.reader import read_archive

    with read_archive(path) as archive:
        archive.keep(Path(folder))
        return archive.summary.followers


def step_confirm(_path: Path, arg: str) -> int:
    from shared.archive_import import store_archive
    from shared.db.engine import create_sync_engine
    from shared.vocabulary import PersonKind
    from shared.xarchive.reader import XArchive

    folder, database_url = arg.split("::", 1)
    kept = XArchive.kept(Path(folder))
    assert kept is not None, "nothing kept"
    with kept as archive:
        engine = create_sync_engine(database_url)
        return store_archive(engine, archive, kind=PersonKind.INDIVIDUAL).summary.followers


STEPS = {
    "unzip": step_unzip,
    "orjson": step_orjson,
    "duckdb": step_duckdb,
    "inspect": step_inspect,
    "import": step_import,
    "keep": step_keep,
    "confirm": step_confirm,
}


class ChildrenPeak:
    """Samples the peak memory (VmHWM) of this process's children: the parser workers.

    rusage's maxrss of a child would count the parent's pages it shared before exec; VmHWM
    is the child's own, reset at exec.
    """

    def __init__(self) -> None:
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ChildrenPeak:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.05):
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    if int(stat.read_text().split()[3]) != me:
                        continue
                    status = stat.with_name("status").read_text()
                except (OSError, IndexError, ValueError):
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        pid = int(stat.parent.name)
                        self.peaks[pid] = max(self.peaks.get(pid, 0), int(line.split()[1]) / 1024)

    @property
    def total_mb(self) -> float:
        return sum(self.peaks.values())


# Untimed work before a step: creating the schema is not part of an import.
def prepare_confirm(arg: str) -> None:
    prepare_import(arg.split("::", 1)[1])


PREPARE = {"import": prepare_import, "confirm": prepare_confirm}


def worker(step: str, path: Path, arg: str) -> None:
    if step in PREPARE:
        PREPARE[step](arg)
    started = time.perf_counter()
    with ChildrenPeak() as children:
        rows = STEPS[step](path, arg)
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": rows, "seconds": seconds, "workers_mb": children.total_mb}))


def measure(step: str, path: Path, arg: str = "") -> dict[str, float]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--worker", step, str(path), arg],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    output = process.stdout.read()
    said = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"step {step} failed on {path.name}")
    result = json.loads(output)
    for line in said.splitlines():  # what a step measured of itself
        if line.startswith("{"):
            result.update(json.loads(line))
    result["main_mb"] = usage.ru_maxrss / 1024
    result["peak_mb"] = result["main_mb"] + result["workers_mb"]
    return dict(result)


# --- the run ----------------------------------------------------------------------------------


def extract_json(path: Path, into: Path) -> Path:
    out = into / "follower.json"
    with zipfile.ZipFile(path) as z, z.open(follower_member(path)) as src, out.open("wb") as dst:
        src.read(PREFIX_BYTES)
        while chunk := src.read(1 << 22):
            dst.write(chunk)
    return out


def run(sizes: list[int], with_postgres: bool) -> None:
    postgres = None
    if with_postgres:
        from testworld.bluesky.services import PostgresServer

        postgres = PostgresServer().start()
    print(
        f"{'followers':>10}  {'step':<28}{'seconds':>9}{'peak MB':>10}{'(main)':>8}{'rows/s':>12}"
    )
    try:
        for size in sizes:
            path = archive_for(size)
            with tempfile.TemporaryDirectory(prefix="hqx-bench-") as tmp:
                json_file = extract_json(path, Path(tmp))
                rows = [
                    ("unzip to memory", measure("unzip", path)),
                    ("baseline: orjson whole file", measure("orjson", path)),
                    ("baseline: duckdb read_json", measure("duckdb", path, str(json_file))),
                    ("hqx archive inspect", measure("inspect", path)),
                    ("hqx import -> sqlite", measure("import", path, f"sqlite:///{tmp}/b.db")),
                ]
                if postgres is not None:
                    url = postgres.create_database(f"bench_{size}")
                    rows.append(("hqx import -> postgresql", measure("import", path, url)))
                kept = Path(tmp) / "upload"
                kept.mkdir()
                rows.append(("hqx read and keep", measure("keep", path, str(kept))))
                confirm = f"{kept}::sqlite:///{tmp}/c.db"
                rows.append(("hqx confirm -> sqlite", measure("confirm", path, confirm)))
            for label, result in rows:
                rate = size / result["seconds"] if result["seconds"] else 0
                print(
                    f"{size:>10,}  {label:<28}{result['seconds']:>9.2f}"
                    f"{result['peak_mb']:>10.0f}{result['main_mb']:>8.0f}{rate:>12,.0f}"
                )
            by_label = {label: r["seconds"] for label, r in rows}
            imported = by_label["hqx import -> sqlite"]
            confirmed = dict(rows)["hqx confirm -> sqlite"]
            wrote = dict(rows)["hqx import -> sqlite"]["wrote"]
            print(
                f"{'':>10}  confirm {confirmed['seconds']:.2f} s: the write {wrote:.2f} s (as the "
                f"import's) + {confirmed['seconds'] - wrote:.2f} s (target <= 0.3 s); reading "
                f"the archive again cost {imported:.2f} s"
            )
            print(
                f"{'':>10}  import/orjson {imported / by_label['baseline: orjson whole file']:.2f}x"
                f" (target <= 1.5x), import/duckdb "
                f"{imported / by_label['baseline: duckdb read_json']:.2f}x (target <= 3x)"
            )
            sys.stdout.flush()
    finally:
        if postgres is not None:
            postgres.stop()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], Path(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "")
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="follower counts, comma-separated")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL import")
    args = parser.parse_args()
    run([int(s) for s in args.sizes.split(",")], with_postgres=not args.no_postgres)


if __name__ == "__main__":
    main()
