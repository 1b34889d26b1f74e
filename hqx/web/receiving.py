"""An upload's bytes, received into its folder within the size and pace bounds: a body too
large, stalled or too slow is refused as it comes (one line, and the HTTP status to answer)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, TypeVar

from aiohttp import BodyPartReader

from shared.errors import HqxError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable
    from pathlib import Path

    from aiohttp import web

    from shared.config import UploadLimits

T = TypeVar("T")

UPLOAD_CHUNK_BYTES = 1024 * 1024


class UploadTooLargeError(HqxError):
    """The upload is larger than the service takes."""


class UploadTooSlowError(HqxError):
    """The upload stalled, or came too slowly to be anything but an attack."""


def status_of(error: Exception) -> int:
    """The HTTP status a refused body is answered with."""
    if isinstance(error, UploadTooLargeError):
        return 413
    return 408 if isinstance(error, UploadTooSlowError) else 400


async def receive_file(request: web.Request, path: Path, limits: UploadLimits) -> None:
    """Write the uploaded file (a multipart ``archive`` field, or the raw body) to ``path``,
    refusing it as soon as it passes the size bound, stalls for the read timeout, or comes
    slower than the minimum rate (once it has had the read timeout to get going)."""
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def within(step: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(limits.read_timeout_sec):  # cancellable, unlike wait_for
                return await step
        except TimeoutError:
            raise UploadTooSlowError(
                f"nothing came for {limits.read_timeout_sec:g} s: the upload stalled"
            ) from None

    chunks: AsyncIterator[bytes]
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        part = await within(reader.next())
        while part is not None and getattr(part, "name", None) != "archive":
            part = await within(reader.next())
        if part is None or not isinstance(part, BodyPartReader):
            raise HqxError("the form holds no 'archive' file")
        chunks = _part_chunks(part)
    else:
        chunks = request.content.iter_chunked(UPLOAD_CHUNK_BYTES)
    written = 0
    with path.open("wb") as out:
        while (chunk := await within(anext(chunks, b""))) != b"":
            written += len(chunk)
            if written > limits.max_bytes:
                raise UploadTooLargeError(
                    f"the file is larger than {limits.max_bytes:,} bytes: send a zip of only "
                    "data/account.js and the data/follower*.js and data/following*.js files"
                )
            elapsed = loop.time() - started
            if elapsed > limits.read_timeout_sec and written < limits.min_bytes_per_sec * elapsed:
                raise UploadTooSlowError(
                    f"the upload came at {written / elapsed:,.0f} bytes/s, under the "
                    f"{limits.min_bytes_per_sec:,} bytes/s the service waits for"
                )
            await asyncio.to_thread(out.write, chunk)
    if written == 0:
        raise HqxError("the upload is empty")


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(UPLOAD_CHUNK_BYTES):
        yield chunk
