"""Property-based tests of the prefix and JSON handling, against a reference model of the spec.

Entries are generated as Python values, written as JSON with random whitespace, key order and
string escapes, and read back through the real reader; the accepted ids and the rejected count
must be what the reference model (written independently from the reader) says.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.xarchive import ytd
from shared.xarchive.reader import read_archive
from shared.xarchive.sample import account_js
from tests.archives import OWNER, OWNER_ID

KIND = "follower"
WHITESPACE = st.sampled_from(["", " ", "  ", "\n", "\r\n", "\t", "\n    "])
DIGIT_IDS = st.one_of(
    st.integers(0, 2**64 - 1).map(str),
    st.integers(0, 10**6).map(lambda n: "0" * (n % 3) + str(n)),  # leading zeros
)
BAD_IDS = st.one_of(
    st.text(max_size=6),
    st.integers(2**64, 10**21).map(str),
    st.integers(-(10**6), 10**6),
    st.none(),
    st.booleans(),
)
LINK_HOSTS = st.sampled_from(["https://twitter.com", "https://x.com", "http://mobile.twitter.com"])


@st.composite
def links(draw: st.DrawFn, account_id: Any) -> Any:
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return None
    if choice == 1 and isinstance(account_id, str):
        return f"{draw(LINK_HOSTS)}/intent/user?user_id={account_id}"
    if choice == 2:
        return f"{draw(LINK_HOSTS)}/intent/user?user_id={draw(DIGIT_IDS)}"
    if choice == 3:
        return draw(st.text(max_size=12))
    if choice == 4:
        return draw(st.integers())
    return f"{draw(LINK_HOSTS)}/{draw(st.from_regex(r'[a-z_]{1,8}', fullmatch=True))}"


@st.composite
def entries(draw: st.DrawFn) -> Any:
    shape = draw(st.integers(0, 9))
    if shape == 0:
        return draw(
            st.one_of(
                st.none(), st.integers(), st.text(max_size=5), st.lists(st.none(), max_size=2)
            )
        )
    if shape == 1:
        return {draw(st.sampled_from(["following", "Follower", "account"])): {"accountId": "1"}}
    account_id = draw(DIGIT_IDS) if shape < 7 else draw(BAD_IDS)
    inner: dict[str, Any] = {}
    if shape != 6:
        inner["accountId"] = account_id
    link = draw(links(account_id))
    if link is not None:
        inner["userLink"] = link
    if draw(st.booleans()):
        inner["extra"] = draw(st.one_of(st.none(), st.lists(st.integers(), max_size=2)))
    keys = draw(st.permutations(list(inner)))
    entry: dict[str, Any] = {KIND: {k: inner[k] for k in keys}}
    if draw(st.integers(0, 5)) == 0:
        entry["note"] = "x"
    return entry


def expected_id(entry: Any) -> int | None:
    """The reference model: the entry's X id, or None when it must be rejected."""
    if not isinstance(entry, dict) or not isinstance(entry.get(KIND), dict):
        return None
    inner = entry[KIND]
    raw, link = inner.get("accountId"), inner.get("userLink")
    if link is not None and not isinstance(link, str):
        return None
    link_ids = re.findall(r"user_id=([0-9]+)", link or "")
    link_id = link_ids[-1] if link_ids else None
    if raw is None:
        raw = link_id
    if not isinstance(raw, str) or not re.fullmatch(r"[0-9]{1,20}", raw) or int(raw) >= 2**64:
        return None
    if link_id is not None and int(link_id) != int(raw):
        return None
    return int(raw)


@st.composite
def json_text(draw: st.DrawFn, value: Any) -> str:
    """``value`` as JSON, with random whitespace and random (valid) string escapes."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + "".join(draw(escaped(c)) for c in value) + '"'
    if isinstance(value, list):
        items = [draw(WHITESPACE) + draw(json_text(v)) + draw(WHITESPACE) for v in value]
        return "[" + draw(WHITESPACE) + ",".join(items) + "]"
    pairs = [
        draw(WHITESPACE)
        + draw(json_text(k))
        + draw(WHITESPACE)
        + ":"
        + draw(WHITESPACE)
        + draw(json_text(v))
        + draw(WHITESPACE)
        for k, v in value.items()
    ]
    return "{" + draw(WHITESPACE) + ",".join(pairs) + "}"


@st.composite
def escaped(draw: st.DrawFn, char: str) -> str:
    code = ord(char)
    if char in '"\\' or code < 0x20 or draw(st.integers(0, 7)) == 0:
        if code > 0xFFFF:
            high, low = divmod(code - 0x10000, 0x400)
            return f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04X}"
        return f"\\u{code:04x}" if char not in '"\\' or draw(st.booleans()) else "\\" + char
    return char


@st.composite
def prefixes(draw: st.DrawFn, kind: str, part: int) -> bytes:
    bom = b"\xef\xbb\xbf" if draw(st.booleans()) else b""
    before = draw(st.sampled_from(["", "\n", "\r\n", "  "]))
    around = draw(st.sampled_from(["", " ", "  ", "\t", "\r\n"]))
    after = draw(st.sampled_from(["", " ", "\n", "\r\n "]))
    return bom + f"{before}window.YTD.{kind}.part{part}{around}={after}".encode()


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "data" / "account.js").write_bytes(account_js(OWNER_ID, OWNER))
    for name, content in files.items():
        (root / "data" / name).write_bytes(content)
    return root


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    values=st.lists(entries(), max_size=25),
    parts=st.integers(1, 3),
    # Small blocks make the fast path cut, fail to cut and hand over at every position.
    block=st.one_of(st.integers(1, 400), st.just(ytd.FAST_BLOCK_BYTES)),
)
def test_reader_matches_the_reference_model(
    data: st.DataObject, values: list[Any], parts: int, block: int
) -> None:
    chunks = [values[i::parts] for i in range(parts)]
    files = {}
    for part, chunk in enumerate(chunks):
        name = "follower.js" if part == 0 else f"follower-part{part}.js"
        body = data.draw(json_text(chunk)) + data.draw(WHITESPACE)
        files[name] = data.draw(prefixes(KIND, part)) + body.encode()
    expected = [expected_id(v) for v in values]
    accepted = sorted({x for x in expected if x is not None})
    with (
        tempfile.TemporaryDirectory() as tmp,
        mock.patch.object(ytd, "FAST_BLOCK_BYTES", block),
        read_archive(write_folder(Path(tmp), files)) as archive,
    ):
        got = [int(x) for ids in archive.followers.sorted_blocks() for x in ids]
        assert got == accepted
        assert archive.summary.rejected_rows == expected.count(None)
        assert archive.summary.duplicate_rows == len(expected) - expected.count(None) - len(
            accepted
        )


@settings(max_examples=60, deadline=None)
@given(data=st.data(), kind=st.sampled_from(["follower", "following", "like", "tweets"]))
def test_prefix_must_name_the_file_kind(data: st.DataObject, kind: str) -> None:
    prefix = data.draw(prefixes(kind, data.draw(st.integers(0, 12))))
    files = {"follower.js": prefix + b'[{"follower": {"accountId": "42"}}]'}
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_folder(Path(tmp), files)
        if kind == "follower":
            with read_archive(folder) as archive:
                assert archive.summary.followers == 1
        else:
            try:
                read_archive(folder).close()
            except Exception as e:
                assert str(e) == f"data/follower.js holds '{kind}' data, not 'follower'"
            else:
                raise AssertionError("a file of another kind was accepted")


@settings(max_examples=80, deadline=None)
# yajl, like many parsers, also skips form feeds and vertical tabs as whitespace.
@given(garbage=st.text(min_size=1, max_size=8).filter(lambda s: s.strip(" \t\r\n\f\v") != ""))
def test_anything_after_the_array_is_refused(garbage: str) -> None:
    files = {
        "follower.js": b'window.YTD.follower.part0 = [{"follower": {"accountId": "1"}}]'
        + garbage.encode()
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_folder(Path(tmp), files)
        try:
            read_archive(folder).close()
        except Exception as e:
            assert str(e).startswith("data/follower.js")
            assert "\n" not in str(e)
        else:
            raise AssertionError(f"trailing {garbage!r} was accepted")
