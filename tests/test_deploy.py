"""The deploy files run as written: the systemd units pass `systemd-analyze verify` with the
installed `hqx` in place of /opt/helloquittex's, and each command they run is one `hqx`
accepts."""

from __future__ import annotations

import asyncio
import functools
import os
import re
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest
from sqlmodel import Session, select

from hqx.cli import _parser
from shared.clock import utcnow
from shared.db.engine import create_sync_engine
from shared.db.models import ArchiveImport, Person
from shared.portal import uploads
from tests.archives import OWNER, make_archive
from tests.nginx_site import NGINX, SITE, local_site, self_signed, until_served
from testworld.bluesky.services import find_bindir, free_port

if TYPE_CHECKING:
    from testworld.bluesky.services import PostgresServer

UNITS = Path(__file__).resolve().parents[1] / "deploy" / "systemd"
INSTALLED = "/opt/helloquittex/bin/hqx"
HQX = str(Path(sys.executable).with_name("hqx"))


def units() -> list[Path]:
    return sorted(p for p in UNITS.iterdir() if p.suffix in (".service", ".target", ".timer"))


def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze is missing: scripts/system-packages.sh installs it"
    checked: list[Path] = []
    for unit in units():
        text = unit.read_text().replace(INSTALLED, HQX)
        # A template is verified as an instance (a port), as systemd would start it.
        name = unit.name.replace("@.service", "@8081.service")
        (tmp_path / name).write_text(text)
        checked.append(tmp_path / name)
    done = subprocess.run(
        [analyze, "verify", "--man=no", *map(str, checked)],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    said = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert (done.returncode, said) == (0, [])


@pytest.mark.parametrize("unit", units(), ids=lambda p: p.name)
def test_each_command_of_a_unit_is_one_hqx_accepts(unit: Path) -> None:
    commands = [
        line.split("=", 1)[1]
        for line in unit.read_text().splitlines()
        if line.startswith(("ExecStart=", "ExecStartPre="))
    ]
    for command in commands:
        program, *args = shlex.split(command)
        assert program == INSTALLED
        parsed = _parser().parse_args(args)
        assert callable(parsed.handler)
    if unit.suffix == ".service":
        assert commands, "a service runs hqx"


def test_the_sites_upload_limit_is_the_services() -> None:
    from shared.config import DEFAULT_UPLOAD_MAX_BYTES

    [size] = re.findall(r"client_max_body_size (\d+)g;", SITE.read_text())
    assert int(size) * 1024**3 == DEFAULT_UPLOAD_MAX_BYTES


@pytest.mark.integration
def test_nginx_serves_two_web_processes_over_tls(tmp_path: Path, postgres: PostgresServer) -> None:
    """Debian's nginx with the site as shipped (its addresses, ports and certificate made
    local): https to the portal, spread over two web processes; http sent to https; the
    processes' metrics not served to the internet; an archive uploaded through it, read and
    imported by a work process, its page asked of both web processes."""
    nginx = NGINX
    assert Path(nginx).exists(), "nginx is missing: scripts/system-packages.sh installs it"
    database = postgres.create_database("hqx_nginx")
    shared_folder = tmp_path / "uploads"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HQX_")}
    env |= {"HQX_DATABASE_URL": database, "HQX_BEHIND_PROXY": "yes",
            "HQX_PUBLIC_URL": "https://hqx.example.org", "HQX_UPLOAD_DIR": str(shared_folder),
            "HQX_SECRET_KEY": "a-test-secret-key-that-is-long-enough-0123"}  # fmt: skip
    run = functools.partial(subprocess.run, cwd=tmp_path, env=env, check=True, timeout=120)
    run([HQX, "db", "upgrade"], capture_output=True)
    ports = [free_port(), free_port(), free_port()]
    roles = ["web", "web", "work"]
    processes = [
        subprocess.Popen(
            [HQX, "run", "--role", role],
            cwd=tmp_path,
            env={**env, "HQX_HTTP_PORT": str(port)},
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for port, role in zip(ports, roles, strict=True)
    ]
    tls_port, plain_port = free_port(), free_port()
    certificate = self_signed(tmp_path)
    conf = local_site(tmp_path, ports[:2], tls_port, plain_port, certificate)
    server = None
    try:
        for port, process in zip(ports, processes, strict=True):
            until_served(f"http://127.0.0.1:{port}/metrics", process)
        run([nginx, "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True)
        server = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(conf)])
        context = ssl.create_default_context(cafile=str(certificate[0]))
        base = f"https://localhost:{tls_port}"
        until_served(f"{base}/", server, context)
        for _ in range(6):
            with urllib.request.urlopen(f"{base}/", context=context, timeout=10) as page:
                assert page.status == 200 and b"HelloQuitteX" in page.read()
        with pytest.raises(urllib.error.HTTPError) as hidden:
            urllib.request.urlopen(f"{base}/metrics", context=context, timeout=10)
        assert hidden.value.code == 404
        with urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/metrics", timeout=10) as m:
            assert m.status == 200, "each process serves its own on its own port"
        with pytest.raises(urllib.error.HTTPError) as moved:
            _no_redirects().open(f"http://127.0.0.1:{plain_port}/x", timeout=10)
        assert moved.value.code == 301
        assert moved.value.headers["Location"] == "https://127.0.0.1/x"
        archive = make_archive(tmp_path / "twitter.zip", [11, 12, 13], [14])
        imported = asyncio.run(
            _upload_through(base, context, _link(database), archive.read_bytes())
        )
    finally:
        if server is not None:
            server.send_signal(signal.SIGQUIT)
            server.wait(timeout=30)
        outputs = []
        for process in processes:
            process.send_signal(signal.SIGTERM)
            outputs.append(process.communicate(timeout=60)[0])
    assert f"imported: @{OWNER}" in imported and "3 abonnés / followers" in imported
    for out in outputs[:2]:
        assert out.count('"GET / HTTP/1.1" 200') >= 2, "nginx spread the requests over both"
        assert "/x/upload/" in out, "each web process served part of the upload"
    engine = create_sync_engine(database)
    try:
        with Session(engine) as session:
            [done] = session.exec(select(ArchiveImport)).all()
            assert (done.followers, done.following) == (3, 1), "imported once"
    finally:
        engine.dispose()
    assert list(shared_folder.iterdir()) == [], "nothing of the archive is kept"


def _link(database: str) -> str:
    """An upload link's token, as the bot hands one to a person."""
    engine = create_sync_engine(database)
    try:
        with Session(engine) as session, session.begin():
            person = Person()
            session.add(person)
            session.flush()
            return uploads.issue(session, person.id or 0, now=utcnow())
    finally:
        engine.dispose()


async def _upload_through(base: str, context: ssl.SSLContext, token: str, archive: bytes) -> str:
    """The archive sent through nginx, its page followed until it shows what the archive
    holds, the import confirmed, its page followed until imported: that page's text."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as client:
        form = aiohttp.FormData()
        form.add_field("archive", archive, filename="twitter.zip")
        async with client.post(f"{base}/x/upload/{token}", data=form) as sent:
            page, text = str(sent.url), await sent.text()
        text = await _settled(client, page, text)
        assert "Is this your archive?" in text or "Est-ce bien votre archive" in text, text
        async with client.post(page, data={"action": "import"}) as confirmed:
            return await _settled(client, str(confirmed.url), await confirmed.text())


async def _settled(client: aiohttp.ClientSession, page: str, text: str) -> str:
    deadline = time.monotonic() + 60
    while 'http-equiv="refresh"' in text:
        assert time.monotonic() < deadline, "the archive's page never settled"
        await asyncio.sleep(0.2)
        async with client.get(page) as again:
            text = await again.text()
    return text


def _no_redirects() -> urllib.request.OpenerDirector:
    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *_: object) -> None:
            return None

    opener = urllib.request.build_opener(Keep)
    opener.addheaders = []
    return opener


def test_the_postgresql_script_makes_a_role_and_database_hqx_migrates(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    """The script as the README says to run it, on a real PostgreSQL; then `hqx db upgrade`
    as the role it made, and the schema is there."""
    psql = str(find_bindir() / "psql")
    script = UNITS.parent / "postgresql" / "helloquittex.sql"
    subprocess.run(
        [psql, "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres", "-q",
         "-v", "password=a-long-random-password", "-f", str(script)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    url = f"postgresql://helloquittex:a-long-random-password@127.0.0.1:{postgres.port}/helloquittex"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HQX_")}
    env["HQX_DATABASE_URL"] = url
    for command in (["db", "upgrade"], ["db", "status"]):
        done = subprocess.run(
            [HQX, *command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert "up to date" in done.stdout.lower(), done.stdout
    owner = subprocess.run(
        [psql, "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres", "-d",
         "helloquittex", "-tAc", "SELECT tableowner FROM pg_tables WHERE tablename = 'person'"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    assert owner == "helloquittex", "the schema belongs to the service's role"
