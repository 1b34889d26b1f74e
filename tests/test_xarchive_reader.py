"""The X archive reader on archives in the real format, their variants, and hostile ones."""

from __future__ import annotations

import zipfile
from typing import TYPE_CHECKING

import numpy as np
import pytest

from shared.config import ArchiveLimits
from shared.xarchive.errors import ArchiveError
from shared.xarchive.idset import IdSet
from shared.xarchive.reader import XArchive, read_archive
from shared.xarchive.sample import ArchiveStyle, random_ids
from tests.archives import OWNER, OWNER_ID, follower_js, make_archive, zip_of

if TYPE_CHECKING:
    from pathlib import Path

FOLLOWERS = list(random_ids(2500, seed=1))
FOLLOWING = list(random_ids(700, seed=2))


def ids_of(ids: IdSet) -> list[int]:
    return [int(x) for block in ids.sorted_blocks() for x in block]


def read(path: Path, **kwargs: object) -> XArchive:
    return read_archive(path, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("as_zip", [True, False], ids=["zip", "folder"])
@pytest.mark.parametrize(
    "style",
    [
        ArchiveStyle(),
        ArchiveStyle(link_host="x"),
        ArchiveStyle(link_host=None),
        ArchiveStyle(crlf=True, bom=True),
        ArchiveStyle(root=""),
        ArchiveStyle(root="exports/nested/deeper/twitter-2025-01-19"),
        ArchiveStyle(entries_per_part=1000),
    ],
    ids=["twitter-links", "x-links", "no-links", "crlf-bom", "data-at-top", "deep", "split-parts"],
)
def test_reads_every_variant_of_the_real_format(
    tmp_path: Path, style: ArchiveStyle, as_zip: bool
) -> None:
    path = make_archive(tmp_path / ("a.zip" if as_zip else "a"), FOLLOWERS, FOLLOWING, style)
    with read(path) as archive:
        summary = archive.summary
        assert (summary.account_id, summary.username) == (OWNER_ID, OWNER)
        assert ids_of(archive.followers) == sorted(FOLLOWERS)
        assert ids_of(archive.following) == sorted(FOLLOWING)
        assert (summary.followers, summary.following) == (len(FOLLOWERS), len(FOLLOWING))
        assert summary.rejected_rows == 0
        assert summary.duplicate_rows == 0


def test_split_parts_are_all_read_in_order_and_listed(tmp_path: Path) -> None:
    path = make_archive(
        tmp_path / "a.zip", FOLLOWERS, FOLLOWING, ArchiveStyle(entries_per_part=1000)
    )
    with read(path) as archive:
        root = ArchiveStyle().root + "/data/"
        assert archive.summary.files == [
            root + name
            for name in (
                "account.js",
                "follower.js",
                "follower-part1.js",
                "follower-part2.js",
                "following.js",
            )
        ]


def test_duplicates_within_and_across_parts_count_once(tmp_path: Path) -> None:
    followers = FOLLOWERS[:1500] + FOLLOWERS[:10] + FOLLOWERS[1000:1500]
    path = make_archive(tmp_path / "a.zip", followers, style=ArchiveStyle(entries_per_part=700))
    with read(path) as archive:
        assert ids_of(archive.followers) == sorted(FOLLOWERS[:1500])
        assert archive.summary.duplicate_rows == 510


def test_ids_across_the_whole_64_bit_range(tmp_path: Path) -> None:
    edge_ids = [1, 2**63 - 1, 2**63, 2**64 - 1, 10**19]
    path = make_archive(tmp_path / "a.zip", edge_ids)
    with read(path) as archive:
        assert ids_of(archive.followers) == sorted(edge_ids)


def test_spilled_runs_merge_to_the_same_set(tmp_path: Path) -> None:
    followers = FOLLOWERS + FOLLOWERS[::3]
    path = make_archive(tmp_path / "a.zip", followers)
    with read(path, run_capacity=300, spill_dir=tmp_path) as archive:
        assert ids_of(archive.followers) == sorted(FOLLOWERS)
        assert archive.summary.followers == len(FOLLOWERS)
        assert list(tmp_path.glob("hqx-ids-*")), "small runs should have spilled to disk"
    assert not list(tmp_path.glob("hqx-ids-*")), "closing the archive deletes its spilled runs"


def test_malformed_rows_are_counted_with_reasons_and_the_rest_kept(tmp_path: Path) -> None:
    body = """[
      {"follower": {"accountId": "111", "userLink": "https://twitter.com/intent/user?user_id=111"}},
      {"follower": {"accountId": "12a"}},
      {"follower": {"accountId": "123456789012345678901"}},
      {"follower": {"accountId": "99999999999999999999"}},
      {"follower": {"accountId": ""}},
      {"follower": {"accountId": 222}},
      {"follower": {"userLink": "https://x.com/intent/user?user_id=333"}},
      {"follower": {"accountId": "444", "userLink": "https://x.com/intent/user?user_id=445"}},
      {"follower": {}},
      {"following": {"accountId": "555"}},
      "666",
      null,
      {"follower": {"accountId": "\\u0037\\u0037\\u0037", "extra": [1, {"a": null}]}},
      {"follower": {"accountId": "\u0668\u0668"}},
      {"follower": {"accountId": "888", "userLink": "https://x.com/someone"}}
    ]"""
    path = zip_of(tmp_path / "a.zip", {"data/follower.js": follower_js(body)})
    with read(path) as archive:
        assert ids_of(archive.followers) == [111, 333, 777, 888]
        summary = archive.summary
        assert summary.rejected_rows == 11
        assert summary.rejections == {
            "accountId is not decimal digits": 2,
            "entry has no 'follower' object": 1,
            "entry is not an object": 2,
            "accountId is longer than 20 digits": 1,
            "accountId does not fit in 64 bits": 1,
            "accountId is empty": 1,
            "accountId is not a string": 1,
            "userLink names another account than accountId": 1,
            "entry has no accountId": 1,
        }
        assert (
            summary.rejection_examples[0]
            == "data/follower.js entry 2: accountId is not decimal digits"
        )


def test_missing_lists_are_empty_not_errors(tmp_path: Path) -> None:
    path = zip_of(tmp_path / "a.zip", {})
    with read(path) as archive:
        assert (archive.summary.followers, archive.summary.following) == (0, 0)
        assert archive.summary.files == ["data/account.js"]


def test_keeps_nothing_of_account_js_but_id_and_username(tmp_path: Path) -> None:
    path = make_archive(tmp_path / "a.zip", FOLLOWERS[:5])
    with read(path) as archive:
        text = repr(archive.summary) + repr(archive.account) + repr(vars(archive))
    assert "example.org" not in text and "+336" not in text


REFUSALS = {
    "trailing-data": (
        {"data/follower.js": follower_js('[{"follower": {"accountId": "1"}}] ;')},
        "data/follower.js has data after its JSON array",
    ),
    "second-array": (
        {"data/follower.js": follower_js('[{"follower": {"accountId": "1"}}]\n[]')},
        "data/follower.js has data after its JSON array",
    ),
    "truncated-json": (
        {"data/follower.js": follower_js('[{"follower": {"accountId": "1"}}, ')},
        "data/follower.js ends in the middle of its JSON array",
    ),
    "truncated-in-a-string": (
        {"data/follower.js": follower_js('[{"follower": {"accountId": "1"}}, {"foll')},
        "data/follower.js ends inside an unfinished string",
    ),
    "unfinished-string-after-array": (
        {"data/follower.js": follower_js('[{"follower": {"accountId": "1"}}] "abc')},
        "data/follower.js has data after its JSON array",
    ),
    "not-json": (
        {"data/follower.js": follower_js("[{follower: 1}]")},
        "data/follower.js is not valid JSON near byte",
    ),
    "no-prefix": (
        {"data/follower.js": b'[{"follower": {"accountId": "1"}}]'},
        "data/follower.js does not start with 'window.YTD.<kind>.part<N> ='",
    ),
    "wrong-kind": (
        {"data/follower.js": follower_js("[]", kind="following")},
        "data/follower.js holds 'following' data, not 'follower'",
    ),
    "object-not-array": (
        {"data/follower.js": follower_js('{"follower": []}')},
        "data/follower.js holds no JSON array",
    ),
    "prefix-only": (
        {"data/follower.js": follower_js("   ")},
        "data/follower.js ends after its 'window.YTD' prefix",
    ),
}


@pytest.mark.parametrize("case", REFUSALS, ids=list(REFUSALS))
def test_refuses_malformed_files_with_one_clear_line(tmp_path: Path, case: str) -> None:
    files, message = REFUSALS[case]
    with pytest.raises(ArchiveError) as caught:
        read(zip_of(tmp_path / "a.zip", files))
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_refuses_an_archive_without_account_js(tmp_path: Path) -> None:
    path = zip_of(tmp_path / "a.zip", {"data/follower.js": follower_js("[]")}, account=False)
    with pytest.raises(ArchiveError, match=r"no data/account\.js in it"):
        read(path)


def test_refuses_an_archive_holding_two_accounts(tmp_path: Path) -> None:
    path = zip_of(tmp_path / "a.zip", {"other/data/account.js": b""})
    with pytest.raises(ArchiveError, match="it holds 2 X archives"):
        read(path)


@pytest.mark.parametrize(
    ("account", "message"),
    [
        ('[{"account": {"username": "a"}}]', "accountId is empty"),
        ('[{"account": {"accountId": "12", "username": "bad name!"}}]', "username is missing"),
        ("[]", "has no account entry"),
    ],
)
def test_refuses_an_unusable_account_js(tmp_path: Path, account: str, message: str) -> None:
    path = zip_of(
        tmp_path / "a.zip", {"data/account.js": follower_js(account, kind="account")}, account=False
    )
    with pytest.raises(ArchiveError, match=message):
        read(path)


def test_refuses_a_file_that_is_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "archive.zip"
    path.write_bytes(b"window.YTD.follower.part0 = []")
    with pytest.raises(ArchiveError, match=r"^archive.zip is not a zip file$"):
        read(path)


def test_refuses_a_truncated_zip(tmp_path: Path) -> None:
    path = make_archive(tmp_path / "a.zip", FOLLOWERS)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ArchiveError, match="is a truncated or damaged zip"):
        read(path)


def test_refuses_a_member_whose_data_is_corrupt(tmp_path: Path) -> None:
    path = make_archive(tmp_path / "a.zip", FOLLOWERS, style=ArchiveStyle(root=""))
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("data/follower.js")
        offset = (
            info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size // 2
        )
    data = bytearray(path.read_bytes())
    data[offset : offset + 64] = bytes(64)
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match=r"^data/follower\.js is"):
        read(path)


@pytest.mark.parametrize(
    "name", ["../evil.js", "data/../../evil.js", "/etc/cron.d/evil", "C:/evil.js", "..\\evil.js"]
)
def test_refuses_member_names_that_escape_the_archive(tmp_path: Path, name: str) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data/account.js", b"")
        z.writestr(zipfile.ZipInfo(name), b"x")
    with pytest.raises(ArchiveError, match="escapes the archive"):
        read(path)
    assert not (tmp_path.parent / "evil.js").exists()


def test_refuses_a_zip_bomb_before_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("data/account.js", b"")  # would fail if read: the bomb must be seen first
        z.writestr("data/follower.js", b"window.YTD.follower.part0 = [" + b" " * (64 << 20) + b"]")
    with pytest.raises(
        ArchiveError, match=r"data/follower.js would expand \d+ times \(limit 100\)"
    ):
        read(path)


def test_refuses_lists_larger_than_the_configured_bound(tmp_path: Path) -> None:
    path = make_archive(tmp_path / "a.zip", FOLLOWERS)
    with pytest.raises(ArchiveError, match="over the limit of 10,000 bytes"):
        read(path, limits=ArchiveLimits(max_total_bytes=10_000))


def test_refuses_zips_with_too_many_entries(tmp_path: Path) -> None:
    path = zip_of(tmp_path / "a.zip", {f"data/tweets_media/{n}.jpg": b"" for n in range(50)})
    with pytest.raises(ArchiveError, match="51 entries, over the limit of 20"):
        read(path, limits=ArchiveLimits(max_members=20))


def test_refuses_a_zip_holding_a_name_twice(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as z, pytest.warns(UserWarning):
        z.writestr("data/account.js", b"")
        z.writestr("data/account.js", b"")
    with pytest.raises(ArchiveError, match="twice"):
        read(path)


def test_refuses_a_folder_with_a_link_leading_outside(tmp_path: Path) -> None:
    secret = tmp_path / "secret.js"
    secret.write_text("window.YTD.follower.part0 = []")
    folder = make_archive(tmp_path / "a", FOLLOWERS[:3], style=ArchiveStyle(root=""))
    (folder / "data" / "follower-part1.js").symlink_to(secret)
    with pytest.raises(ArchiveError, match="links outside the archive folder"):
        read(folder)


def test_a_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="does not exist"):
        read(tmp_path / "nowhere.zip")


def test_idset_blocks_are_bounded_and_sorted() -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(0, 2**64 - 1, 50_000, dtype=np.uint64, endpoint=True)
    with IdSet(run_capacity=4096) as ids:
        for chunk in np.array_split(np.concatenate([values, values[:777]]), 17):
            ids.add(chunk)
        ids.freeze()
        blocks = list(ids.sorted_blocks())
    merged = np.concatenate(blocks)
    assert np.array_equal(merged, np.unique(values))
    assert ids.count == len(np.unique(values))
    assert ids.added == 50_777


def test_the_fast_path_and_the_streaming_parser_agree(tmp_path: Path) -> None:
    from unittest import mock

    from shared.xarchive import ytd

    followers = [*FOLLOWERS, 2**64 - 1, 7]
    path = make_archive(tmp_path / "a.zip", followers, FOLLOWING)
    cuts = mock.Mock(wraps=ytd._cut)
    with (
        mock.patch.object(ytd, "FAST_BLOCK_BYTES", 4096),
        mock.patch.object(ytd, "_cut", cuts),
        read(path) as fast,
    ):
        fast_ids = ids_of(fast.followers), ids_of(fast.following)
    assert cuts.call_count > 50, "small blocks should be cut many times"
    with mock.patch.object(ytd, "_cut", return_value=None), read(path) as slow:
        assert (ids_of(slow.followers), ids_of(slow.following)) == fast_ids
    assert fast_ids == (sorted(followers), sorted(FOLLOWING))


def test_small_members_that_add_up_to_a_bomb_are_refused_together(tmp_path: Path) -> None:
    """Each part under the size where one member's ratio is judged (the 0.87 MB upload that
    made the service parse 270 MiB for 40 s): together, they are judged all the same."""
    path = tmp_path / "parts.zip"
    padding = b"window.YTD.follower.part{n} = [" + b" " * ((1 << 20) - 64) + b"]"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("data/account.js", b"")  # would fail if read: refused before reading
        for n in range(40):
            z.writestr(f"data/follower-part{n}.js", padding.replace(b"{n}", str(n).encode()))
    assert path.stat().st_size < 200_000
    with pytest.raises(ArchiveError, match=r"the 41 files to read would expand \d+ times"):
        read(path)


def test_real_archives_are_far_from_the_ratio(tmp_path: Path) -> None:
    path = make_archive(tmp_path / "a.zip", list(range(10**12, 10**12 + 200_000)))
    with read(path) as archive:
        assert archive.summary.followers == 200_000


def test_what_a_read_kept_is_the_same_archive_and_an_incomplete_keep_is_none(
    tmp_path: Path,
) -> None:
    followers = FOLLOWERS + FOLLOWERS[::4]  # duplicates counted as such
    path = make_archive(tmp_path / "archive.zip", followers, FOLLOWING)
    with read(path, run_capacity=300, spill_dir=tmp_path) as archive:
        archive.keep(tmp_path)
        summary = archive.summary
    kept = XArchive.kept(tmp_path)
    assert kept is not None
    with kept:
        assert kept.summary == summary
        assert ids_of(kept.followers) == sorted(FOLLOWERS)
        assert ids_of(kept.following) == sorted(FOLLOWING)
    assert (tmp_path / "follower.u64").stat().st_size == 8 * len(FOLLOWERS), "8 bytes an id"
    assert (tmp_path / "follower.u64").exists(), "the kept files are the upload's to delete"
    with (tmp_path / "following.u64").open("r+b") as ids:  # a write cut short
        ids.truncate(8 * 10)
    assert XArchive.kept(tmp_path) is None, "then it is read again"
    (tmp_path / "read.json").unlink()
    assert XArchive.kept(tmp_path) is None
