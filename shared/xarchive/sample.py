"""Writes archives in X's real format: for demos, tests and benchmarks.

The layout is X's: ``<root>/data/account.js``, ``data/follower.js`` then
``data/follower-part1.js``..., each ``window.YTD.<kind>.partN = [ ... ]`` with entries
pretty-printed as X prints them (two-space indent, ``" : "`` separators).
"""

from __future__ import annotations

import random
import zipfile
from dataclasses import dataclass
from itertools import islice
from typing import IO, TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

LINK_HOSTS = {"twitter": "https://twitter.com", "x": "https://x.com"}
WRITE_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class ArchiveStyle:
    """The variants seen in real archives."""

    link_host: str | None = "twitter"
    """``twitter`` or ``x`` for ``userLink``, or None for entries without ``userLink``."""
    crlf: bool = False
    bom: bool = False
    entries_per_part: int | None = None
    """Split each list into ``-partN.js`` files of this many entries."""
    root: str = "twitter-2024-11-20-0a1b2c3d"
    """Folder above ``data/`` (empty for ``data/`` at the top)."""


def account_js(account_id: int, username: str) -> bytes:
    """An ``account.js`` with the personal fields X includes (which the reader must drop)."""
    entry = {
        "account": {
            "email": f"{username}@example.org",
            "phoneNumber": "+33600000000",
            "createdVia": "web",
            "username": username,
            "accountId": str(account_id),
            "createdAt": "2010-06-01T12:00:00.000Z",
            "accountDisplayName": username.title(),
        }
    }
    body = orjson.dumps([entry], option=orjson.OPT_INDENT_2).replace(b'": ', b'" : ')
    return b"window.YTD.account.part0 = " + body


def _entry(kind: str, x_id: int, link_host: str | None) -> str:
    link = (
        f',\n      "userLink" : "{LINK_HOSTS[link_host]}/intent/user?user_id={x_id}"'
        if link_host
        else ""
    )
    return f'  {{\n    "{kind}" : {{\n      "accountId" : "{x_id}"{link}\n    }}\n  }}'


def write_list(
    out: IO[bytes], kind: str, part: int, ids: Iterable[int], style: ArchiveStyle
) -> None:
    """Write one ``window.YTD.<kind>.partN`` file of ``ids``."""
    newline = "\r\n" if style.crlf else "\n"
    if style.bom:
        out.write(b"\xef\xbb\xbf")
    out.write(f"window.YTD.{kind}.part{part} = [".encode())
    first = True
    iterator = iter(ids)
    while batch := list(islice(iterator, WRITE_BATCH)):
        text = ",\n".join(_entry(kind, x_id, style.link_host) for x_id in batch)
        text = ("\n" if first else ",\n") + text
        first = False
        out.write(text.replace("\n", newline).encode())
    out.write(f"{newline}]".encode())


def _parts(ids: Iterable[int], per_part: int | None) -> Iterator[Iterable[int]]:
    if per_part is None:
        yield ids
        return
    iterator = iter(ids)
    while batch := list(islice(iterator, per_part)):
        yield batch


def _files(
    account_id: int,
    username: str,
    followers: Iterable[int],
    following: Iterable[int],
    style: ArchiveStyle,
) -> Iterator[tuple[str, Iterable[int] | None, str, int]]:
    yield "account.js", None, "account", 0
    for kind, ids in (("follower", followers), ("following", following)):
        for part, chunk in enumerate(_parts(ids, style.entries_per_part)):
            name = f"{kind}.js" if part == 0 else f"{kind}-part{part}.js"
            yield name, chunk, kind, part


def write_archive(
    path: Path,
    account_id: int,
    username: str,
    followers: Iterable[int],
    following: Iterable[int],
    style: ArchiveStyle | None = None,
) -> Path:
    """Write an archive as a zip (``path`` ending in ``.zip``) or as an extracted folder."""
    style = style or ArchiveStyle()
    data_dir = f"{style.root}/data" if style.root else "data"
    as_zip = path.suffix == ".zip"
    archive = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) if as_zip else None
    try:
        for name, ids, kind, part in _files(account_id, username, followers, following, style):
            member = f"{data_dir}/{name}"
            if archive is not None:
                with archive.open(member, "w", force_zip64=True) as out:
                    _write_file(out, account_id, username, ids, kind, part, style)
            else:
                (path / data_dir).mkdir(parents=True, exist_ok=True)
                with (path / member).open("wb") as out:
                    _write_file(out, account_id, username, ids, kind, part, style)
    finally:
        if archive is not None:
            archive.close()
    return path


def _write_file(
    out: IO[bytes],
    account_id: int,
    username: str,
    ids: Iterable[int] | None,
    kind: str,
    part: int,
    style: ArchiveStyle,
) -> None:
    if ids is None:
        out.write(account_js(account_id, username))
    else:
        write_list(out, kind, part, ids, style)


def random_ids(count: int, seed: int = 0) -> Iterator[int]:
    """``count`` distinct, shuffled-looking X ids: one in five an old short id, the rest snowflakes.

    Each family is an affine permutation of its range (the multiplier is prime to the modulus),
    so the ids are distinct without remembering them: 10 million cost no memory.
    """
    rng = random.Random(seed)  # noqa: S311  (demo data, not secrets)
    short_add, long_add = rng.randrange(10**9), rng.randrange(10**18)
    for i in range(count):
        if i % 5 == 0:
            yield 10**6 + (_SHORT_MUL * (i // 5) + short_add) % 10**9
        else:
            yield 10**17 + (_LONG_MUL * (i - i // 5 - 1) + long_add) % 10**18


_SHORT_MUL = 982_451_653  # prime, so prime to 10**9
_LONG_MUL = 998_244_353_999_999_937  # odd, not a multiple of 5: prime to 10**18
