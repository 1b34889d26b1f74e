"""Two hundred archives uploaded within a minute through Debian's nginx (the shipped site) to
two web processes, read and imported by two work processes, on PostgreSQL: sizes from 1 KB
to 100 MB (archives with their media), some hostile. Every good archive imported once, every
hostile one refused on its page, nothing left in the shared folder; how long the portal's
pages took meanwhile, measured."""

from __future__ import annotations

import asyncio
import os
import random
import ssl
import subprocess
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest
from sqlmodel import Session, select

from shared.clock import utcnow
from shared.db import migrate
from shared.db.engine import create_sync_engine
from shared.db.models import ArchiveImport, ArchiveUpload, Person
from shared.portal import uploads
from shared.vocabulary import UploadState
from shared.xarchive.sample import random_ids
from tests.archives import make_archive, zip_of
from tests.nginx_site import NGINX, local_site, self_signed, until_served
from tests.reliability.cluster import connections, percentile, report, usage
from testworld.bluesky.services import free_port
from testworld.processes import RoleProcesses, until_serving

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from testworld.bluesky.services import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.reliability]

SMALL, MEDIUM, LARGE = 150, 40, 4
WITHIN_SEC = 60.0
SETTLE_SEC = 600.0
MEDIA_BYTES = 100 * 1024**2
KEY = "a-reliability-secret-key-0123456789-abcdef"


@dataclass(frozen=True, slots=True)
class Upload:
    name: str
    path: Path
    good: bool
    username: str = ""


def test_two_hundred_archives_in_a_minute_through_nginx_are_imported_once(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    assert Path(NGINX).exists(), "nginx is missing: scripts/system-packages.sh installs it"
    database = postgres.create_database("hqx_uploads")
    engine = create_sync_engine(database)
    migrate.upgrade(engine)
    archives = _archives(tmp_path / "archives", random.Random(200))  # noqa: S311  (the same each run)
    tokens = _links(engine, len(archives))
    folder = tmp_path / "uploads"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HQX_")}
    env |= {
        "HQX_DATABASE_URL": database, "HQX_SECRET_KEY": KEY, "HQX_BEHIND_PROXY": "yes",
        "HQX_PUBLIC_URL": "https://hqx.example.org", "HQX_UPLOAD_DIR": str(folder),
        "HQX_LOG_LEVEL": "WARNING",
        # A campaign's settings: every person comes from their own address (here all from
        # one), and a crowd's archives wait for their people at once.
        "HQX_LINKS_PER_MINUTE": "100000", "HQX_UPLOADS_WAITING": "256",
    }  # fmt: skip
    processes = RoleProcesses(env, {"web": 2, "work": 2})
    server = None
    try:
        processes.start()
        asyncio.run(until_serving(processes))
        tls, plain = free_port(), free_port()
        certificate = self_signed(tmp_path)
        conf = local_site(tmp_path, processes.web_ports, tls, plain, certificate)
        server = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf)])
        context = ssl.create_default_context(cafile=str(certificate[0]))
        base = f"https://localhost:{tls}"
        until_served(f"{base}/", server, context)
        started = time.monotonic()
        pages, outcomes = asyncio.run(
            _crowd(base, context, list(zip(tokens, archives, strict=True)))
        )
        took = time.monotonic() - started
        _until_empty(folder)
        used, connected = usage(processes), connections(database)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        processes.stop()
    for upload, (status, text) in zip(archives, outcomes, strict=True):
        if upload.good:
            assert status == 200 and f"imported: @{upload.username}" in text, (upload, text)
        else:
            assert 400 <= status < 500 and "refused" in text, (upload, status, text)
    good = [a for a in archives if a.good]
    with Session(engine) as session:
        imported = session.exec(select(ArchiveImport.x_account_id)).all()
        rows = session.exec(select(ArchiveUpload.state)).all()
    engine.dispose()
    assert len(imported) == len(set(imported)) == len(good), "each good archive imported once"
    refused = len(archives) - len(good)
    assert sorted(rows) == sorted(
        [UploadState.IMPORTED] * len(good) + [UploadState.REFUSED] * refused
    )
    assert list(folder.iterdir()) == [], "no archive is kept"
    sent = sum(a.path.stat().st_size for a in archives)
    report(
        f"uploads: {len(archives)} archives ({sent / 1024**2:,.0f} MB, {LARGE} of 100 MB, "
        f"{len(archives) - len(good)} hostile) through nginx to two web and two work "
        f"processes in {took:.0f} s, each imported once or refused; the portal's pages "
        f"meanwhile ({len(pages)} loads): p50 {percentile(pages, 0.5) * 1000:.0f} ms, "
        f"p95 {percentile(pages, 0.95) * 1000:.0f} ms"
    )
    for role, figures in used.items():
        report(
            f"uploads: a {role} process after it: "
            + ", ".join(f"{rss:.0f} MB resident, {cpu:.1f} s of CPU" for rss, cpu in figures)
        )
    report(f"uploads: {connected} connections open to PostgreSQL from the four processes")


def _archives(root: Path, rng: random.Random) -> list[Upload]:
    """Real-format archives of every size, and hostile ones among them."""
    root.mkdir()
    found: list[Upload] = []
    sizes = [rng.randint(5, 2_000) for _ in range(SMALL)]
    sizes += [rng.randint(20_000, 80_000) for _ in range(MEDIUM)]
    sizes += [500] * LARGE
    media = root / "clip.mp4"
    with media.open("wb") as out:  # a megabyte at a time: nothing this large in memory
        for _ in range(MEDIA_BYTES // 1024**2):
            out.write(os.urandom(1024**2))
    for n, followers in enumerate(sizes):
        name = f"u{n}"
        path = make_archive(
            root / f"{name}.zip", list(random_ids(followers, seed=n)), [n + 1],
            account_id=5_000_000 + n, username=name,
        )  # fmt: skip
        if n >= SMALL + MEDIUM:  # an archive with its media, as X sends them
            with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_STORED) as z:
                z.write(media, "data/tweets_media/clip.mp4")
        found.append(Upload(name, path, True, name))
    media.unlink()
    hostile = {
        "not-a-zip": (root / "notes.zip", b"these are my notes, not an archive" * 40),
        "truncated": (root / "cut.zip", found[0].path.read_bytes()[:700]),
    }
    for name, (path, data) in hostile.items():
        path.write_bytes(data)
        found.append(Upload(name, path, False))
    found.append(Upload("no-account", zip_of(root / "noaccount.zip", {}, account=False), False))
    bomb = root / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("data/account.js", b"window.YTD.account.part0 = []")
        z.writestr("data/follower.js", b"0" * (64 * 1024**2))
    found.append(Upload("bomb", bomb, False))
    traversal = root / "traversal.zip"
    with zipfile.ZipFile(traversal, "w") as z:
        z.writestr("../../data/account.js", b"window.YTD.account.part0 = []")
    found.append(Upload("traversal", traversal, False))
    garbage = zip_of(root / "garbage.zip", {"data/follower.js": b"window.YTD.follower.part0 = [{"})
    found.append(Upload("garbage", garbage, False))
    rng.shuffle(found)
    return found


def _links(engine: Engine, count: int) -> list[str]:
    with Session(engine) as session, session.begin():
        people = [Person() for _ in range(count)]
        session.add_all(people)
        session.flush()
        return [uploads.issue(session, p.id or 0, now=utcnow()) for p in people]


async def _crowd(
    base: str, context: ssl.SSLContext, work: list[tuple[str, Upload]]
) -> tuple[list[float], list[tuple[int, str]]]:
    """Each person sends their archive (spread over the minute), follows its page and
    confirms; a visitor loads the home page meanwhile. Every page load's time, and each
    upload's last page."""
    pages: list[float] = []
    connector = aiohttp.TCPConnector(ssl=context, limit=300)
    timeout = aiohttp.ClientTimeout(total=SETTLE_SEC)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:

        async def page(url: str) -> tuple[int, str]:
            started = time.monotonic()
            async with client.get(url) as answer:
                text = await answer.read()
            pages.append(time.monotonic() - started)
            return answer.status, text.decode()

        async def settle(url: str, status: int, text: str) -> tuple[int, str]:
            deadline = time.monotonic() + SETTLE_SEC
            while 'http-equiv="refresh"' in text and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                status, text = await page(url)
            return status, text

        async def one(n: int, token: str, upload: Upload) -> tuple[int, str]:
            await asyncio.sleep(WITHIN_SEC * n / len(work))
            form = aiohttp.FormData()
            # Streamed from disk, as a browser sends it: the test holds no archive in memory.
            data = await asyncio.to_thread(upload.path.open, "rb")
            form.add_field("archive", data, filename="twitter.zip")
            try:
                async with client.post(f"{base}/x/upload/{token}", data=form) as sent:
                    url, status, text = str(sent.url), sent.status, await sent.text()
            finally:
                data.close()
            status, text = await settle(url, status, text)
            if status != 200 or "/archive/" not in url:
                return status, text
            async with client.post(url, data={"action": "import"}) as confirmed:
                status, text = confirmed.status, await confirmed.text()
            return await settle(url, status, text)

        async def visitor(done: asyncio.Event) -> None:
            while not done.is_set():
                await page(f"{base}/")
                await asyncio.sleep(0.2)

        done = asyncio.Event()
        visiting = asyncio.create_task(visitor(done))
        outcomes = await asyncio.gather(*(one(n, t, u) for n, (t, u) in enumerate(work)))
        done.set()
        await visiting
    return pages, list(outcomes)


def _until_empty(folder: Path) -> None:
    """The work processes remove each archive once imported or refused."""
    deadline = time.monotonic() + 60
    while list(folder.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.5)
