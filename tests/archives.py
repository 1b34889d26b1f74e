"""Builders of X archives for tests: the real format (via shared.xarchive.sample), then variants."""

from __future__ import annotations

import zipfile
from typing import TYPE_CHECKING

from shared.xarchive.sample import ArchiveStyle, account_js, write_archive

if TYPE_CHECKING:
    from pathlib import Path

OWNER_ID = 1_234_567_890
OWNER = "quitter_fr"


def make_archive(
    path: Path,
    followers: list[int],
    following: list[int] | None = None,
    style: ArchiveStyle | None = None,
    account_id: int = OWNER_ID,
    username: str = OWNER,
) -> Path:
    """A real-format archive (zip when ``path`` ends in .zip, else a folder)."""
    return write_archive(path, account_id, username, followers, following or [], style)


def zip_of(path: Path, files: dict[str, bytes], *, account: bool = True) -> Path:
    """A zip holding exactly ``files`` (plus a valid data/account.js unless told not to)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        if account:
            archive.writestr("data/account.js", account_js(OWNER_ID, OWNER))
        for name, content in files.items():
            archive.writestr(name, content)
    return path


def follower_js(body: str | bytes, kind: str = "follower", part: int = 0) -> bytes:
    """A list file with the given JSON text after the prefix."""
    raw = body.encode() if isinstance(body, str) else body
    return f"window.YTD.{kind}.part{part} = ".encode() + raw
