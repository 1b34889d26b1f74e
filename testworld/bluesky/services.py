"""Throwaway PostgreSQL and Redis servers on free loopback ports: for the local Bluesky
network (its AppView needs both), the tests and the benchmarks.

They use the server binaries of Debian's packages (postgresql, redis-server); as root,
PostgreSQL runs as the ``postgres`` user (it refuses to run as root).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from shared.errors import HqxError

READY_TIMEOUT_SEC = 30.0


class ServiceError(HqxError):
    """A local server could not be found or started."""


def find_bindir() -> Path:
    """The folder of ``initdb`` and ``postgres``; a clear error when PostgreSQL is missing."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.insert(0, Path(on_path).resolve())
    for initdb in candidates:
        if (initdb.parent / "postgres").exists():
            return initdb.parent
    raise ServiceError(
        "PostgreSQL server binaries not found: install Debian's `postgresql` package "
        "(`.ci/run` does)"
    )


def terminate(process: subprocess.Popen[Any] | None, timeout_sec: float = 30.0) -> None:
    """Stop a process politely (SIGTERM), then firmly (SIGKILL) after ``timeout_sec``."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_sec)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """Start with :meth:`start`, stop with :meth:`stop`; :attr:`url` is a superuser URL."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="hqx-pg-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``postgresql://`` URL of the ``postgres`` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, argv: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return argv

    def start(self) -> PostgresServer:
        bindir = find_bindir()
        data = self.base / "data"
        if os.geteuid() == 0:
            self.base.chmod(0o755)
            shutil.chown(self.base, "postgres", "postgres")
        initdb = subprocess.run(
            self._as_postgres(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            ),
            check=False,
            capture_output=True,
            text=True,
        )
        if initdb.returncode != 0:
            reason = (initdb.stderr.strip().splitlines() or ["no output"])[-1]
            raise ServiceError(f"PostgreSQL's initdb failed in {data}: {reason}")
        self._launch()
        return self

    def restart(self, down_sec: float = 0.0) -> None:
        """Stop the server as an operator's restart does (a fast shutdown: every client
        loses its connection), wait ``down_sec``, and start it again on the same data."""
        stop = [str(find_bindir() / "pg_ctl"), "stop", "-D", str(self.base / "data"), "-m", "fast"]
        subprocess.run(self._as_postgres(stop), check=True, capture_output=True)
        if self.process is not None:
            self.process.wait(timeout=READY_TIMEOUT_SEC)
        time.sleep(down_sec)
        self._launch()

    def _launch(self) -> None:
        data = self.base / "data"
        bindir = find_bindir()
        self.process = subprocess.Popen(
            self._as_postgres(
                [
                    str(bindir / "postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.base),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_wal_size=4GB",
                ]
            ),
            stdout=subprocess.DEVNULL,
            stderr=(self.base / "server.log").open("ab"),
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SEC
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                exited = self.process is None or self.process.poll() is not None
                if exited or time.monotonic() > deadline:
                    log = (self.base / "server.log").read_text(errors="replace")
                    raise ServiceError(f"PostgreSQL did not start:\n{log}") from None
                time.sleep(0.1)

    def create_database(self, name: str) -> str:
        """Create an empty database; return its URL."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        terminate(self.process)
        shutil.rmtree(self.base, ignore_errors=True)


class RedisServer:
    """A Redis server without persistence; :attr:`host` is ``127.0.0.1:PORT``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        """Host and port, as the AppView's REDIS_HOST wants them."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise ServiceError("redis-server not found: install Debian's `redis-server` package")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + READY_TIMEOUT_SEC
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise ServiceError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        terminate(self.process)
