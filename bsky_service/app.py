"""The running service: an aiohttp application that serves the web portal and owns, through
its cleanup context, the database engine, both bots and the scheduler (``hqx run``)."""

from __future__ import annotations

import asyncio
import html
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import BodyPartReader, web
from sqlalchemy.engine import Engine

from bsky_service.adapter import BlueskyAdapter
from bsky_service.oembed import OEmbedReader
from mastodon_bot.adapter import MastodonAdapter
from shared import uploads
from shared.archive_import import import_archive
from shared.config import Settings
from shared.db import migrate
from shared.db.engine import create_sync_engine
from shared.errors import HqxError
from shared.handlers import default_registry
from shared.service import Service

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from shared.protocol import Protocol

log = logging.getLogger(__name__)

DEFAULT_BSKY_PDS_URL = "https://bsky.social"

SETTINGS = web.AppKey("settings", Settings)
SERVICE = web.AppKey("service", Service)
ENGINE = web.AppKey("engine", Engine)
UPLOAD_CHUNK_BYTES = 1024 * 1024


def create_app(settings: Settings) -> web.Application:
    """The application; the service starts with it and stops with it."""
    app = web.Application()
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_service)
    app.add_routes(
        [
            web.get("/", _home),
            web.get("/healthz", _health),
            web.get(uploads.UPLOAD_PATH + "{token}", _upload_page),
            web.post(uploads.UPLOAD_PATH + "{token}", _upload),
        ]
    )
    return app


def build_adapters(settings: Settings, engine: Engine) -> list[Protocol]:
    """One adapter per configured network."""
    adapters: list[Protocol] = []
    if settings.bsky_handle is not None and settings.bsky_app_password is not None:
        adapters.append(
            BlueskyAdapter(
                engine,
                settings.bsky_pds_url or DEFAULT_BSKY_PDS_URL,
                settings.bsky_handle,
                settings.bsky_app_password,
                chat_proxy=settings.bsky_chat_proxy,
                catch_up=settings.catch_up,
            )
        )
    if settings.mastodon_api_base_url is not None and settings.mastodon_access_token is not None:
        adapters.append(
            MastodonAdapter(
                engine,
                settings.mastodon_api_base_url,
                settings.mastodon_access_token,
                poll_interval_sec=settings.mastodon_poll_sec,
                catch_up=settings.catch_up,
            )
        )
    return adapters


async def _service(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = create_sync_engine(settings.database_url)
    try:
        await asyncio.to_thread(migrate.require_current, engine)
        service = Service(
            engine,
            build_adapters(settings, engine),
            default_registry(),
            settings.secret_key,
            public_url=settings.public_url,
            x_posts=OEmbedReader(settings.x_oembed_url) if settings.x_oembed_url else None,
        )
        await service.start()
        app[SERVICE] = service
        app[ENGINE] = engine
        try:
            yield
        finally:
            await service.stop()
    finally:
        engine.dispose()


async def _health(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    bots = {
        adapter.network.value: {"handle": adapter.bot_handle, **adapter.health()}
        for adapter in service.adapters
    }
    return web.json_response({"status": "ok", "bots": bots})


async def _home(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    handles = "".join(
        f"<li>{html.escape(a.network.value.capitalize())} : @{html.escape(a.bot_handle)}</li>"
        for a in service.adapters
    )
    page = f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>HelloQuitteX</title></head>
<body>
<h1>HelloQuitteX</h1>
<p lang="fr">Quittez X sans perdre votre public : mentionnez le bot pour commencer.</p>
<p lang="en">Leave X without losing your audience: mention the bot to start.</p>
<ul>{handles}</ul>
</body></html>"""
    return web.Response(text=page, content_type="text/html")


_UPLOAD_FORM = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>HelloQuitteX : archive X</title></head>
<body>
<h1>Importer votre archive X / Upload your X archive</h1>
<p lang="fr">Choisissez le fichier .zip que X vous a envoyé. Seuls votre identifiant X et les
identifiants de vos abonnés et abonnements sont gardés : ni l'archive, ni votre e-mail, ni
votre téléphone.</p>
<p lang="en">Choose the .zip file X sent you. Only your X account id and the ids of your
followers and followings are kept: never the archive, your e-mail or your phone.</p>
<form method="post" enctype="multipart/form-data">
<input type="file" name="archive" accept=".zip,application/zip" required>
<button type="submit">Importer / Upload</button>
</form>
</body></html>"""


def _page(title: str, lines: list[str], status: int = 200) -> web.Response:
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    page = (
        f'<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"{body}</body></html>"
    )
    return web.Response(text=page, content_type="text/html", status=status)


async def _upload_page(request: web.Request) -> web.Response:
    try:
        await asyncio.to_thread(uploads.check, request.app[ENGINE], request.match_info["token"])
    except uploads.UploadLinkError as e:
        return _page("HelloQuitteX", [str(e)], status=410)
    return web.Response(text=_UPLOAD_FORM, content_type="text/html")


async def _upload(request: web.Request) -> web.Response:
    """The archive, streamed to a temporary file within the size bound, then imported for
    the person the link was given to. A refused archive gives the link back."""
    engine, settings = request.app[ENGINE], request.app[SETTINGS]
    token = request.match_info["token"]
    try:
        person_id = await asyncio.to_thread(uploads.claim, engine, token)
    except uploads.UploadLinkError as e:
        return _page("HelloQuitteX", [str(e)], status=410)
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
            return _page("HelloQuitteX", [f"Archive refusée / refused: {e}"], status=status)
    summary = result.summary
    return _page(
        "HelloQuitteX",
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
