"""The portal's pages: home, and the one-time archive upload (streamed to a temporary file
within the size bound, then imported for the person the link was given to)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp_jinja2
from aiohttp import BodyPartReader, web

from hqx.state import ENGINE, SERVICE, SETTINGS
from hqx.web.texts import LANGUAGES, TEXTS, language_of
from shared import uploads
from shared.archive_import import import_archive
from shared.errors import HqxError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

UPLOAD_CHUNK_BYTES = 1024 * 1024
routes = web.RouteTableDef()


def _context(request: web.Request, **values: Any) -> dict[str, Any]:
    lang = language_of(request)
    other = next(language for language in LANGUAGES if language != lang)
    return {"lang": lang, "other": other, "t": TEXTS[lang], **values}


def _page(request: web.Request, lines: list[str], status: int = 200) -> web.Response:
    response = aiohttp_jinja2.render_template(
        "message.html", request, _context(request, lines=lines)
    )
    response.set_status(status)
    return response


@routes.get("/")
async def _home(request: web.Request) -> web.Response:
    bots = [(a.network.value.capitalize(), a.bot_handle) for a in request.app[SERVICE].adapters]
    return aiohttp_jinja2.render_template("home.html", request, _context(request, bots=bots))


@routes.get(uploads.UPLOAD_PATH + "{token}")
async def _upload_page(request: web.Request) -> web.Response:
    try:
        await asyncio.to_thread(uploads.check, request.app[ENGINE], request.match_info["token"])
    except uploads.UploadLinkError as e:
        return _page(request, [str(e)], status=410)
    return aiohttp_jinja2.render_template("upload.html", request, _context(request))


@routes.post(uploads.UPLOAD_PATH + "{token}")
async def _upload(request: web.Request) -> web.Response:
    """The archive, streamed to a temporary file within the size bound, then imported for
    the person the link was given to. A refused archive gives the link back."""
    engine, settings = request.app[ENGINE], request.app[SETTINGS]
    token = request.match_info["token"]
    try:
        person_id = await asyncio.to_thread(uploads.claim, engine, token)
    except uploads.UploadLinkError as e:
        return _page(request, [str(e)], status=410)
    limit = settings.archive_limits.max_total_bytes
    with tempfile.TemporaryDirectory(prefix="hqx-upload-") as folder:
        path = Path(folder) / "archive.zip"
        try:
            await _receive_file(request, path, limit)
            result = await asyncio.to_thread(
                import_archive, engine, path, settings.archive_limits, for_person=person_id
            )
        except (HqxError, ValueError) as e:
            await asyncio.to_thread(uploads.release, engine, token)
            status = 413 if isinstance(e, UploadTooLargeError) else 400
            return _page(request, [f"Archive refusée / refused: {e}"], status=status)
    summary = result.summary
    return _page(
        request,
        [
            f"Archive importée / imported: @{summary.username}",
            f"{summary.followers:,} abonnés / followers, "
            f"{summary.following:,} abonnements / following.",
        ],
    )


class UploadTooLargeError(HqxError):
    """The upload is larger than the service takes."""


async def _receive_file(request: web.Request, path: Path, limit: int) -> None:
    """Write the uploaded file (a multipart ``archive`` field, or the raw body) to ``path``,
    refusing it as soon as it passes ``limit`` bytes."""
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        part = await reader.next()
        while part is not None and getattr(part, "name", None) != "archive":
            part = await reader.next()
        if part is None or not isinstance(part, BodyPartReader):
            raise HqxError("the form holds no 'archive' file")
        chunks: AsyncIterator[bytes] = _part_chunks(part)
    else:
        chunks = request.content.iter_chunked(UPLOAD_CHUNK_BYTES)
    written = 0
    with path.open("wb") as out:
        async for chunk in chunks:
            written += len(chunk)
            if written > limit:
                raise UploadTooLargeError(f"the file is larger than {limit:,} bytes")
            await asyncio.to_thread(out.write, chunk)
    if written == 0:
        raise HqxError("the upload is empty")


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(UPLOAD_CHUNK_BYTES):
        yield chunk
