"""The ``window.YTD.<kind>.partN = [...]`` files of an archive, parsed as a stream.

The prefix is stripped by pattern (not by skipping a line), then the JSON array is parsed
incrementally by yajl (through ijson), so memory stays bounded whatever the file's size.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import ijson

from shared.xarchive.errors import ArchiveError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

PREFIX_RE = re.compile(rb"window\.YTD\.(\w+)\.part(\d+)\s*=\s*")
UTF8_BOM = b"\xef\xbb\xbf"
READ_BYTES = 1 << 20
MAX_PREFIX_BYTES = 4096
JSON_WHITESPACE = b" \t\r\n"


@dataclass(frozen=True, slots=True)
class YtdHeader:
    """What the prefix of a file says it holds."""

    kind: str
    part: int


class _StreamAfterPrefix:
    """The rest of a stream after its prefix, counting bytes for progress and errors."""

    def __init__(self, head: bytes, stream: IO[bytes], on_bytes: Callable[[int], None]) -> None:
        self._head = head
        self._stream = stream
        self._on_bytes = on_bytes
        self.ended = False
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # ijson probes the stream's type with read(0)
            return b""
        if self._head:
            data, self._head = self._head, b""
        else:
            data = self._stream.read(size if size > 0 else READ_BYTES)
            if not data and not self.ended:
                # yajl accepts an unterminated string after the array ('[...] "abc' at EOF);
                # a final newline, harmless elsewhere, makes it the lexical error it is.
                self.ended = True
                return b"\n"
        self.position += len(data)
        self._on_bytes(len(data))
        return data


def _read_header(name: str, stream: IO[bytes]) -> tuple[YtdHeader, bytes]:
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
    header = YtdHeader(kind=match.group(1).decode(), part=int(match.group(2)))
    return header, rest


def iter_entries(
    name: str,
    stream: IO[bytes],
    expected_kind: str,
    on_bytes: Callable[[int], None] = lambda _n: None,
) -> Iterator[Any]:
    """The elements of the file's array, one at a time; :class:`ArchiveError` if unreadable."""
    header, rest = _read_header(name, stream)
    if header.kind != expected_kind:
        raise ArchiveError(f"{name} holds '{header.kind}' data, not '{expected_kind}'")
    source = _StreamAfterPrefix(rest, stream, on_bytes)
    try:
        # use_float=True would refuse integers beyond 64 bits (valid JSON) as "integer overflow".
        yield from ijson.items(source, "item", buf_size=READ_BYTES)
    except ijson.JSONError as e:
        raise ArchiveError(_json_error(name, source, e)) from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise ArchiveError(f"{name} is damaged in the zip ({e})") from None


def _json_error(name: str, source: _StreamAfterPrefix, error: Exception) -> str:
    detail = error.args[0] if error.args else str(error)
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    first_line = str(detail).strip().splitlines()[0] if str(detail).strip() else "parse error"
    if "trailing garbage" in first_line:
        return f"{name} has data after its JSON array (near byte {source.position:,}): refused"
    if "premature EOF" in first_line:
        return f"{name} ends in the middle of its JSON array (truncated?)"
    if source.ended and "inside string" in first_line:
        return f"{name} ends inside an unfinished string (truncated?)"
    return f"{name} is not valid JSON near byte {source.position:,}: {first_line}"
