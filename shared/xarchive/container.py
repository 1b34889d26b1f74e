"""The two shapes an archive arrives in (a zip, or the folder it extracts to), read safely.

Nothing is ever extracted to disk: zip members are streamed from the zip. Every check that
can be made from the zip's directory is made before any member is read.
"""

from __future__ import annotations

import os
import zipfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from shared.xarchive.errors import ArchiveError

if TYPE_CHECKING:
    from shared.config import ArchiveLimits

ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
# Tiny members compress at any ratio without being bombs; judge ratios from this size up.
MIN_RATIO_CHECKED_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Member:
    """A regular file of the archive: its '/'-separated name and sizes."""

    name: str
    size: int
    compressed_size: int | None = None


class Container(ABC):
    """An archive's files, by name, and a way to read each as a stream."""

    def __init__(self, members: dict[str, Member], limits: ArchiveLimits) -> None:
        self.members = members
        self._limits = limits

    @abstractmethod
    def open(self, name: str) -> IO[bytes]:
        """A binary stream of one member."""

    @abstractmethod
    def close(self) -> None:
        """Release the underlying file handles."""

    def check_bounds(self, names: list[str]) -> None:
        """Refuse before reading if the members to read are too large or compress too well,
        one by one and together (many small members add up: each is judged with the rest)."""
        total = compressed = 0
        for name in names:
            member = self.members[name]
            total += member.size
            compressed += member.compressed_size or 0
            if member.compressed_size is not None and member.size >= MIN_RATIO_CHECKED_BYTES:
                self._check_ratio(name, member.size, member.compressed_size)
        if total > self._limits.max_total_bytes:
            raise ArchiveError(
                f"the follower/following files hold {total:,} bytes, over the limit of "
                f"{self._limits.max_total_bytes:,} bytes (HQX_ARCHIVE_MAX_BYTES)"
            )
        zipped = any(self.members[name].compressed_size is not None for name in names)
        if zipped and total >= MIN_RATIO_CHECKED_BYTES:
            self._check_ratio(f"the {len(names)} files to read", total, compressed)

    def _check_ratio(self, what: str, size: int, compressed: int) -> None:
        if size > self._limits.max_ratio * max(compressed, 1):
            raise ArchiveError(
                f"{what} would expand {size / max(compressed, 1):.0f} times (limit "
                f"{self._limits.max_ratio:g}): refused as a possible zip bomb"
            )

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class ZipContainer(Container):
    """A zip, as X delivers archives."""

    def __init__(self, path: Path, limits: ArchiveLimits) -> None:
        with path.open("rb") as f:
            magic = f.read(4)
        if magic not in ZIP_MAGICS:
            raise ArchiveError(f"{path.name} is not a zip file")
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise ArchiveError(f"{path.name} is a truncated or damaged zip ({e})") from None
        try:
            super().__init__(self._directory(limits), limits)
        except BaseException:
            self._zip.close()
            raise

    def _directory(self, limits: ArchiveLimits) -> dict[str, Member]:
        infos = self._zip.infolist()
        if len(infos) > limits.max_members:
            raise ArchiveError(
                f"the zip holds {len(infos):,} entries, over the limit of {limits.max_members:,}"
            )
        members: dict[str, Member] = {}
        self._infos: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = safe_member_name(info.filename)
            if info.is_dir():
                continue
            if name in members:
                raise ArchiveError(f"the zip holds {name!r} twice: refused as ambiguous")
            members[name] = Member(name, info.file_size, info.compress_size)
            self._infos[name] = info
        return members

    def open(self, name: str) -> IO[bytes]:
        """A stream of the member, decompressed as it is read."""
        info = self._infos[name]
        if info.flag_bits & 0x1:
            raise ArchiveError(f"{name} is encrypted")
        try:
            return self._zip.open(info)
        except (zipfile.BadZipFile, NotImplementedError, OSError) as e:
            raise ArchiveError(f"{name} cannot be read from the zip ({e})") from None

    def close(self) -> None:
        """Close the zip file."""
        self._zip.close()


class FolderContainer(Container):
    """An archive already extracted to a folder."""

    def __init__(self, root: Path, limits: ArchiveLimits) -> None:
        self._root = root.resolve()
        super().__init__(self._walk(limits), limits)

    def _walk(self, limits: ArchiveLimits) -> dict[str, Member]:
        members: dict[str, Member] = {}
        for folder, dirs, files in os.walk(self._root):
            for entry in [*dirs, *files]:
                path = Path(folder) / entry
                if path.is_symlink() and not path.resolve().is_relative_to(self._root):
                    raise ArchiveError(
                        f"{path.relative_to(self._root)} links outside the archive folder"
                    )
            for entry in files:
                path = Path(folder) / entry
                if not path.is_file():
                    continue
                name = path.relative_to(self._root).as_posix()
                members[name] = Member(name, path.stat().st_size)
                if len(members) > limits.max_members:
                    raise ArchiveError(
                        f"the folder holds more than {limits.max_members:,} files, over the limit"
                    )
        return members

    def open(self, name: str) -> IO[bytes]:
        """The file, opened for reading."""
        return (self._root / name).open("rb")

    def close(self) -> None:
        """Nothing to release: each member's stream is closed by its reader."""


def safe_member_name(raw: str) -> str:
    """The member name, normalised to '/'; refuse names that would escape the archive."""
    name = raw.replace("\\", "/")
    path = PurePosixPath(name)
    escapes = (
        "\x00" in name
        or name.startswith("/")
        or (len(name) > 1 and name[1] == ":")
        or ".." in path.parts
    )
    if escapes:
        raise ArchiveError(f"member name {raw!r} escapes the archive: refused")
    return "/".join(part for part in path.parts if part not in ("", "."))


def open_container(path: Path, limits: ArchiveLimits) -> Container:
    """The archive at ``path``, a zip file or an extracted folder."""
    if path.is_dir():
        return FolderContainer(path, limits)
    if not path.exists():
        raise ArchiveError(f"{path} does not exist")
    if not path.is_file():
        raise ArchiveError(f"{path} is neither a zip file nor a folder")
    return ZipContainer(path, limits)
