"""The ``window.YTD.<kind>.partN = [...]`` files of an archive, parsed as a stream.

The prefix is stripped by pattern (not by skipping a line). The array is then parsed in
bounded memory, block by block:

- fast path: a block of about 1 MiB is cut after its last complete element and parsed by
  orjson. A cut is found by looking for ``},`` from the end and kept only if what precedes it
  parses as elements: a cut inside an element or a string cannot parse, so a kept cut is exact.
- authority: whenever orjson declines (no cut found, a number beyond 64 bits, an odd escape,
  the end of the file), the rest is streamed through yajl (ijson), whose verdict is final.

Both paths accept exactly the same documents, so the choice is only about speed.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import ijson
import orjson

from shared.xarchive.errors import ArchiveError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

PREFIX_RE = re.compile(rb"window\.YTD\.(\w+)\.part(\d+)\s*=\s*")
UTF8_BOM = b"\xef\xbb\xbf"
READ_BYTES = 1 << 20
FAST_BLOCK_BYTES = 1 << 20
MAX_CUT_TRIES = 4
MAX_PREFIX_BYTES = 4096
SLOW_BATCH = 1 << 14
JSON_WHITESPACE = b" \t\r\n"
# Fed to yajl before the remaining bytes: "[" at the start of the array; after an element and
# its comma, "[0," and a dummy element to skip, so that "[a, ]" stays the error it is.
AT_START, AFTER_COMMA = b"[", b"[0,"
MAX_NESTING = 8
"""Arrays and objects inside one another: a row needs three (the list, the row, its object).
yajl's memory grows with the square of the depth (973 bytes of nesting took 20 GB), so the
slow path refuses deeper input before yajl sees it; orjson stops at 1024 by itself."""
_STRUCTURE = re.compile(rb'["\\\[\]{}]')


@dataclass(frozen=True, slots=True)
class YtdHeader:
    """What the prefix of a file says it holds."""

    kind: str
    part: int


class Counted:
    """A stream that reports the bytes read from it, for progress and error positions."""

    def __init__(self, stream: IO[bytes], on_bytes: Callable[[int], None]) -> None:
        self._stream = stream
        self._on_bytes = on_bytes
        self.position = 0

    def read(self, size: int) -> bytes:
        try:
            data = self._stream.read(size)
        except (zipfile.BadZipFile, zlib.error, EOFError) as e:
            raise _DamagedError(str(e)) from None
        self.position += len(data)
        self._on_bytes(len(data))
        return data


class _DamagedError(Exception):
    """The zip member's compressed data or checksum is wrong."""


class _Nesting:
    """Follows how deep arrays and objects are nested in the bytes fed to it (strings and
    their escapes skipped, across chunks) and refuses more than :data:`MAX_NESTING`."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._depth = 0
        self._in_string = False
        self._escape_next = False

    def check(self, data: bytes) -> None:
        skip_at = 0 if self._escape_next else -1
        self._escape_next = False
        for match in _STRUCTURE.finditer(data):
            at = match.start()
            if at == skip_at:
                continue
            char = data[at]
            if self._in_string:
                if char == 0x5C:  # a backslash escapes the next byte, maybe the next chunk's
                    skip_at = at + 1
                    self._escape_next = skip_at == len(data)
                elif char == 0x22:
                    self._in_string = False
            elif char == 0x22:
                self._in_string = True
            elif char in b"[{":
                self._depth += 1
                if self._depth > MAX_NESTING:
                    raise ArchiveError(
                        f"{self._name} nests arrays or objects deeper than an archive row "
                        f"can ({MAX_NESTING} levels): refused"
                    )
            elif char in b"]}":
                self._depth -= 1


class _AfterHead:
    """Bytes already read, then the rest of a stream: what yajl reads in the slow path, each
    chunk checked for nesting before yajl sees it."""

    def __init__(self, head: bytes, stream: Counted, name: str) -> None:
        self._head = head
        self._stream = stream
        self._nesting = _Nesting(name)
        self.ended = False

    def read(self, size: int = -1) -> bytes:
        data = self._read(size)
        self._nesting.check(data)
        return data

    def _read(self, size: int) -> bytes:
        if size == 0:  # ijson probes the stream's type with read(0)
            return b""
        if self._head:
            data, self._head = self._head, b""
            return data
        data = self._stream.read(size if size > 0 else READ_BYTES)
        if not data and not self.ended:
            # yajl accepts an unterminated string after the array ('[...] "abc' at EOF);
            # a final newline, harmless elsewhere, makes it the lexical error it is.
            self.ended = True
            return b"\n"
        return data


def read_header(name: str, stream: Counted) -> tuple[YtdHeader, bytes]:
    head = stream.read(MAX_PREFIX_BYTES)
    text = head.removeprefix(UTF8_BOM).lstrip(JSON_WHITESPACE)
    match = PREFIX_RE.match(text)
    if match is None:
        raise ArchiveError(f"{name} does not start with 'window.YTD.<kind>.part<N> ='")
    rest = text[match.end() :]
    while not rest.strip(JSON_WHITESPACE):
        more = stream.read(READ_BYTES)
        if not more:
            raise ArchiveError(f"{name} ends after its 'window.YTD' prefix, with no JSON array")
        rest += more
    rest = rest.lstrip(JSON_WHITESPACE)
    if not rest.startswith(b"["):
        raise ArchiveError(f"{name} holds no JSON array after its 'window.YTD' prefix")
    return YtdHeader(kind=match.group(1).decode(), part=int(match.group(2))), rest[1:]


def iter_batches(
    name: str,
    stream: IO[bytes],
    expected_kind: str,
    on_bytes: Callable[[int], None] = lambda _n: None,
) -> Iterator[list[Any]]:
    """The elements of the file's array, in lists; :class:`ArchiveError` if unreadable."""
    counted = Counted(stream, on_bytes)
    with damage_reported(name):
        pending = read_list_header(name, counted, expected_kind)
        yield from continue_batches(name, counted, pending, AT_START)


def read_list_header(name: str, counted: Counted, expected_kind: str) -> bytes:
    """Check the prefix names ``expected_kind``; return what follows the array's "["."""
    header, pending = read_header(name, counted)
    if header.kind != expected_kind:
        raise ArchiveError(f"{name} holds '{header.kind}' data, not '{expected_kind}'")
    return pending


@contextmanager
def damage_reported(name: str) -> Iterator[None]:
    """Turn a damaged zip member, found while reading it, into a one-line ArchiveError."""
    try:
        yield
    except _DamagedError as e:
        raise ArchiveError(f"{name} is damaged in the zip ({e})") from None


def continue_batches(
    name: str, counted: Counted, pending: bytes, opening: bytes
) -> Iterator[list[Any]]:
    """The elements from ``pending`` then the rest of ``counted``.

    ``opening`` says where ``pending`` starts: :data:`AT_START` just after the array's "[",
    :data:`AFTER_COMMA` after an element and its comma.
    """
    while chunk := counted.read(FAST_BLOCK_BYTES):
        pending += chunk
        if len(pending) < FAST_BLOCK_BYTES:
            continue
        cut = _cut(pending)
        if cut is None:
            yield from _slow(name, counted, opening + pending, skip_first=opening == AFTER_COMMA)
            return
        items, end = cut
        yield items
        pending = pending[end:]
        opening = AFTER_COMMA
    try:
        items = orjson.loads(opening + pending)
    except orjson.JSONDecodeError:
        yield from _slow(name, counted, opening + pending, skip_first=opening == AFTER_COMMA)
        return
    yield items[1:] if opening == AFTER_COMMA else items


def _cut(pending: bytes) -> tuple[list[Any], int] | None:
    """The complete elements at the start of ``pending``, and where the rest begins."""
    end = len(pending)
    for _ in range(MAX_CUT_TRIES):
        brace = pending.rfind(b"},", 0, end)
        if brace < 0:
            return None
        try:
            items = orjson.loads(b"[" + pending[: brace + 1] + b"]")
        except orjson.JSONDecodeError:
            end = brace
            continue
        return items, brace + 2
    return None


def _slow(name: str, counted: Counted, head: bytes, *, skip_first: bool) -> Iterator[list[Any]]:
    source = _AfterHead(head, counted, name)
    batch: list[Any] = []
    try:
        items = ijson.items(source, "item", buf_size=READ_BYTES)
        if skip_first:
            next(items)
        # use_float=True would refuse integers beyond 64 bits (valid JSON) as "integer overflow".
        for item in items:
            batch.append(item)
            if len(batch) >= SLOW_BATCH:
                yield batch
                batch = []
    except ijson.JSONError as e:
        raise ArchiveError(_json_error(name, counted.position, source.ended, e)) from None
    if batch:
        yield batch


def _json_error(name: str, position: int, ended: bool, error: Exception) -> str:
    detail = error.args[0] if error.args else str(error)
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    first_line = str(detail).strip().splitlines()[0] if str(detail).strip() else "parse error"
    if "trailing garbage" in first_line:
        return f"{name} has data after its JSON array (near byte {position:,}): refused"
    if "premature EOF" in first_line:
        return f"{name} ends in the middle of its JSON array (truncated?)"
    if ended and "inside string" in first_line:
        return f"{name} ends inside an unfinished string (truncated?)"
    return f"{name} is not valid JSON near byte {position:,}: {first_line}"
