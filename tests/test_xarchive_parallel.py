"""The multi-process reader gives exactly the sequential reader's results, errors included."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from unittest import mock

import pytest

from shared.xarchive import reader, ytd
from shared.xarchive.errors import ArchiveError
from shared.xarchive.reader import read_archive
from shared.xarchive.sample import random_ids
from tests.archives import follower_js, make_archive, zip_of

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from shared.xarchive.reader import XArchive


@pytest.fixture
def small_blocks() -> Iterator[None]:
    """Make small files take the parallel path, cut into many small blocks."""
    with (
        mock.patch.object(reader, "PARALLEL_MIN_BYTES", 1),
        mock.patch.object(reader, "usable_cpus", return_value=2),
        mock.patch.object(ytd, "FAST_BLOCK_BYTES", 2048),
    ):
        yield


def outcome(archive: XArchive) -> tuple[object, ...]:
    summary = archive.summary
    ids = [int(x) for block in archive.followers.sorted_blocks() for x in block]
    return ids, summary.rejections, summary.rejection_examples, summary.duplicate_rows


def test_parallel_and_sequential_agree_on_a_real_archive(
    tmp_path: Path, small_blocks: None
) -> None:
    followers = list(random_ids(5000, seed=4))
    path = make_archive(tmp_path / "a.zip", followers + followers[:100])
    with read_archive(path) as parallel:
        got = outcome(parallel)
    with read_archive(path, parallel=False) as sequential:
        assert got == outcome(sequential)
    assert got[0] == sorted(followers)


def test_a_cut_inside_an_element_hands_over_to_the_sequential_parser(
    tmp_path: Path, small_blocks: None
) -> None:
    # "}," also closes the nested objects inside these entries: some cuts fall inside them.
    entries = []
    for n in range(3000):
        if n % 7 == 0:
            entries.append({"follower": {"accountId": str(n), "meta": {"a": {"b": n}}, "z": 1}})
        elif n % 97 == 0:
            entries.append({"follower": {"accountId": f"x{n}"}})
        else:
            entries.append({"follower": {"accountId": str(n)}})
    text = json.dumps(entries, indent=1)
    path = zip_of(tmp_path / "a.zip", {"data/follower.js": follower_js(text)})
    with read_archive(path) as parallel:
        got = outcome(parallel)
    with read_archive(path, parallel=False) as sequential:
        assert got == outcome(sequential)
    expected = 3000 - len([n for n in range(3000) if n % 97 == 0 and n % 7])
    assert len(got[0]) == expected  # type: ignore[arg-type]


def test_errors_are_the_same_on_the_parallel_path(tmp_path: Path, small_blocks: None) -> None:
    body = json.dumps([{"follower": {"accountId": str(n)}} for n in range(2000)])
    path = zip_of(tmp_path / "a.zip", {"data/follower.js": follower_js(body + " trailing")})
    with pytest.raises(ArchiveError) as parallel:
        read_archive(path)
    with pytest.raises(ArchiveError) as sequential:
        read_archive(path, parallel=False)
    assert str(parallel.value) == str(sequential.value)
    assert str(parallel.value).startswith("data/follower.js has data after its JSON array")
