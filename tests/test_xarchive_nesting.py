"""Nesting is bounded before any parser sees it: a 973-byte follower.js of nested arrays once
took the whole service down (yajl's memory grows with the square of the depth). It is refused
in one line, quickly, under a memory limit; and the nesting check reads JSON as JSON (strings
and their escapes are not structure) whatever the chunks it comes in."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.xarchive.errors import ArchiveError
from shared.xarchive.reader import read_archive
from shared.xarchive.ytd import MAX_NESTING, _Nesting
from tests.archives import follower_js, zip_of

if TYPE_CHECKING:
    from pathlib import Path

MEMORY_LIMIT_BYTES = 1 << 30


def nested_archive(path: Path, depth: int, *, closed: bool = False) -> Path:
    """A follower.js whose second entry opens ``depth`` arrays (and closes them, or not)."""
    body = b'[{"follower": {"accountId": "12"}}, ' + b"[" * depth
    if closed:
        body += b"]" * depth + b"]"
    return zip_of(path, {"data/follower.js": follower_js(body)})


def test_a_small_deeply_nested_file_is_refused_in_one_line(tmp_path: Path) -> None:
    path = nested_archive(tmp_path / "nested.zip", 940)  # 973 bytes, as the attack
    with pytest.raises(ArchiveError) as caught, read_archive(path) as archive:
        list(archive.followers.sorted_blocks())
    assert str(caught.value) == (
        "data/follower.js nests arrays or objects deeper than an archive row can "
        f"({MAX_NESTING} levels): refused"
    )


@pytest.mark.parametrize(("depth", "closed"), [(940, False), (100_000, False), (100_000, True)])
def test_the_refusal_holds_under_a_memory_limit(tmp_path: Path, depth: int, closed: bool) -> None:
    """`hqx archive inspect` in a process limited to 1 GiB of address space."""
    path = nested_archive(tmp_path / "nested.zip", depth, closed=closed)
    script = (
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT_BYTES}, {MEMORY_LIMIT_BYTES}))\n"
        "from hqx.cli import main\n"
        f"sys.exit(main(['archive', 'inspect', {str(path)!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 1, done.stderr
    assert "deeper than an archive row can" in done.stderr
    assert "MemoryError" not in done.stderr and "Traceback" not in done.stderr


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


# Strings full of what looks like structure: brackets, quotes and backslashes.
tricky_text = st.text(alphabet=st.sampled_from('[]{}"\\ab\n'), max_size=12)
documents = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(tricky_text, inner, max_size=4),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(document=documents, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_the_check_agrees_with_a_json_parser_in_any_chunks(document: Any, cuts: list[int]) -> None:
    data = json.dumps(document).encode()
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    nesting = _Nesting("data/follower.js")
    deep = depth_of(document) > MAX_NESTING
    try:
        for start, end in itertools.pairwise(bounds):
            nesting.check(data[start:end])
    except ArchiveError:
        assert deep, "refused a document within the bound"
        return
    assert not deep, "let a document past the bound through"
