"""`hqx run`: the operator's command, with a .env, against a Mastodon-API server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from testworld.bluesky.services import free_port

if TYPE_CHECKING:
    from tests.mastodon_world import MastodonWorld
    from testworld.bluesky.services import PostgresServer
    from testworld.mastodon.people import MastodonPerson

pytestmark = pytest.mark.integration
HQX = str(Path(sys.executable).with_name("hqx"))
START_TIMEOUT_SEC = 60.0


def hqx(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HQX_")}
    return subprocess.run(
        [HQX, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_run_refuses_a_database_that_is_not_migrated(tmp_path: Path) -> None:
    done = hqx("run", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"hqx: error: the database schema is empty, this code needs {_head()}: run `hqx db upgrade`"
    )


def test_run_needs_the_secret_key_for_the_bots(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "HQX_MASTODON_API_BASE_URL=http://127.0.0.1:9\nHQX_MASTODON_ACCESS_TOKEN=t\n"
    )
    done = hqx("run", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("hqx: error: HQX_SECRET_KEY is not set: generate one with")


def _head() -> str:
    from shared.db.migrate import MIGRATIONS_DIR

    return sorted(p.stem.split("_")[0] for p in (MIGRATIONS_DIR / "versions").glob("0*.py"))[-1]


def test_run_starts_the_configured_bot_and_answers(tmp_path: Path, mastodon: MastodonWorld) -> None:
    server, url = mastodon.server, mastodon.url
    bot, alice = mastodon.bot_person, mastodon.alice_person
    port = free_port()
    (tmp_path / ".env").write_text(
        f"HQX_MASTODON_API_BASE_URL={url}\n"
        f"HQX_MASTODON_ACCESS_TOKEN={bot.account.token}\n"
        "HQX_MASTODON_POLL_SEC=0.2\n"
        f"HQX_HTTP_PORT={port}\n"
        "HQX_SECRET_KEY=a-test-secret-key-that-is-long-enough-0123\n"
    )
    assert hqx("db", "upgrade", cwd=tmp_path).returncode == 0

    env = {k: v for k, v in os.environ.items() if not k.startswith("HQX_")}
    process = subprocess.Popen(
        [HQX, "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = _wait_for_health(f"http://127.0.0.1:{port}/healthz", process, "streaming")
        assert isinstance(health, dict)
        assert health["status"] == "ok" and list(health["bots"]) == ["mastodon"]
        bot = health["bots"]["mastodon"]
        assert bot["handle"] == f"helloquittex@{server.domain}"
        assert (bot["loop"], bot["receiving"]) == ("running", "streaming (websocket)")
        second = subprocess.run(  # one service per database: a second one says so, once
            [HQX, "run"],
            cwd=tmp_path,
            env={**env, "HQX_HTTP_PORT": str(free_port())},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert second.returncode == 1
        [refusal] = second.stderr.strip().splitlines()
        assert refusal.startswith(f"hqx: error: another hqx run ({socket.gethostname()} pid ")
        assert "is running on this database" in refusal and refusal.endswith("stop it first")
        asked = alice.post("@helloquittex help")
        deadline = time.monotonic() + START_TIMEOUT_SEC
        while not alice.answers_to(asked):
            assert time.monotonic() < deadline, "no answer through hqx run"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out
    lines = out.splitlines()
    assert lines[0] == (
        "Bluesky bot: not configured (set HQX_BSKY_HANDLE and HQX_BSKY_APP_PASSWORD)"
    )
    assert lines[1] == f"Mastodon bot: runs at {url}"
    assert len(alice.answers_to(asked)) == 1


def _wait_for_health(url: str, process: subprocess.Popen[str], showing: str) -> object:
    """The health report, once it is served and shows ``showing``."""
    deadline = time.monotonic() + START_TIMEOUT_SEC
    while True:
        assert process.poll() is None, "hqx run exited"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body = response.read()
            if showing in body.decode():
                return json.loads(body)
        except OSError:
            pass
        assert time.monotonic() < deadline, f"hqx run did not serve a health showing {showing!r}"
        time.sleep(0.1)


def _serving(port: int, process: subprocess.Popen[str]) -> None:
    """Wait until ``hqx run`` answers on ``port`` (whatever its health says)."""
    deadline = time.monotonic() + START_TIMEOUT_SEC
    while True:
        assert process.poll() is None, f"hqx run exited: {process.communicate()[0]}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5):
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, "hqx run did not serve"
        time.sleep(0.1)


def test_run_killed_with_sigkill_starts_again_at_once(tmp_path: Path, database_url: str) -> None:
    """A supervisor restarts a crashed service at once: the dead process's lease does not
    keep the new one out (on SQLite and PostgreSQL)."""
    url = database_url
    port = free_port()
    (tmp_path / ".env").write_text(
        f"HQX_DATABASE_URL={url}\nHQX_HTTP_PORT={port}\n"
        "HQX_SECRET_KEY=a-test-secret-key-that-is-long-enough-0123\n"
    )
    assert hqx("db", "upgrade", cwd=tmp_path).returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("HQX_")}

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen([HQX, "run"], cwd=tmp_path, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip

    first = start()
    _serving(port, first)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    again = start()
    try:
        _serving(port, again)
    finally:
        again.send_signal(signal.SIGTERM)
        out, _ = again.communicate(timeout=60)
    assert again.returncode == 0, out
    assert "another hqx run" not in out


def test_roles_need_postgresql(tmp_path: Path) -> None:
    done = hqx("run", "--role", "bots", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "hqx: error: hqx run --role needs PostgreSQL (HQX_DATABASE_URL): on SQLite one "
        "process runs everything (hqx run)"
    )


def test_processes_in_roles_answer_once_and_a_waiting_bot_takes_over(
    tmp_path: Path, mastodon: MastodonWorld, postgres: PostgresServer
) -> None:
    """On PostgreSQL: a web-and-work process and two bots processes. One bots process
    receives; killed with SIGKILL, the other answers the next mention (at once on the same
    host; within the seat's 20 s elsewhere). Each mention is answered once."""
    alice = mastodon.alice_person
    database = postgres.create_database("hqx_roles")
    (tmp_path / ".env").write_text(
        f"HQX_DATABASE_URL={database}\n"
        f"HQX_MASTODON_API_BASE_URL={mastodon.url}\n"
        f"HQX_MASTODON_ACCESS_TOKEN={mastodon.bot_person.account.token}\n"
        "HQX_MASTODON_POLL_SEC=0.2\n"
        "HQX_SECRET_KEY=a-test-secret-key-that-is-long-enough-0123\n"
    )
    assert hqx("db", "upgrade", cwd=tmp_path).returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("HQX_")}

    def start(*roles: str) -> tuple[subprocess.Popen[str], int]:
        port = free_port()
        args = [a for role in roles for a in ("--role", role)]
        process = subprocess.Popen(
            [HQX, "run", *args], cwd=tmp_path, env={**env, "HQX_HTTP_PORT": str(port)},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        return process, port

    started = [start("web", "work"), start("bots"), start("bots")]
    try:
        for process, port in started:
            _wait_for_health(f"http://127.0.0.1:{port}/healthz", process, "mastodon")
        with urllib.request.urlopen(f"http://127.0.0.1:{started[0][1]}/", timeout=5) as page:
            assert page.status == 200, "the web process serves the portal"
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{started[1][1]}/", timeout=5)
            raise AssertionError("a bots process serves no portal")
        except urllib.error.HTTPError as e:
            assert e.code == 404
        first = alice.post("@helloquittex help")
        _answered_once(alice, first)
        active = _seat_holder(database)
        [killed] = [p for p, _ in started if p.pid == active]
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        after = alice.post("@helloquittex help again")
        _answered_once(alice, after)
        assert _seat_holder(database) != active, "the waiting bots process took the seat"
        assert len(alice.answers_to(first)) == 1
    finally:
        for process, _ in started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.communicate(timeout=60)


def _answered_once(person: MastodonPerson, status: Any) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SEC
    while not person.answers_to(status):
        assert time.monotonic() < deadline, "no answer from the processes in roles"
        time.sleep(0.1)
    time.sleep(0.5)  # a second answer would come now
    assert len(person.answers_to(status)) == 1


def _seat_holder(database: str) -> int:
    """The pid of the bots process that holds Mastodon's seat."""
    from sqlmodel import Session

    from shared.db.engine import create_sync_engine
    from shared.db.models import ServiceLease

    engine = create_sync_engine(database)
    try:
        with Session(engine) as session:
            holder = session.get_one(ServiceLease, "bots:mastodon").holder
    finally:
        engine.dispose()
    return int(holder.split(" pid ", 1)[1].split()[0].rstrip(","))
