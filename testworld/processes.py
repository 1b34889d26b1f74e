"""The service as several processes for the sandbox (``hqx sandbox --processes N``): N
``hqx run --role`` processes of each role on one PostgreSQL database, the web ones behind a
round-robin forwarder standing for the operator's reverse proxy (nginx in production, run
by the deploy tests), and a way to kill the active bots process of a network."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import ClientSession, ClientTimeout, web
from sqlmodel import Session, select

from shared.db.engine import create_sync_engine
from shared.db.models import ServiceLease
from shared.roles import seat
from testworld.bluesky.services import free_port
from testworld.faults import HOP_BY_HOP

if TYPE_CHECKING:
    from shared.config import Settings
    from shared.vocabulary import Network

HQX = str(Path(sys.executable).with_name("hqx"))
ROLES = ("web", "work", "bots")
STOP_SEC = 30.0


def environment(settings: Settings) -> dict[str, str]:
    """What ``hqx run`` reads to be configured as ``settings`` (the sandbox's part of it)."""
    values = {
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key,
        "PUBLIC_URL": settings.public_url,
        "CUTOVER_AT": settings.cutover_at.isoformat(),
        "RECONNECT_CHECK_SEC": str(settings.reconnection.check_sec),
        "BSKY_PDS_URL": settings.bsky_pds_url,
        "BSKY_HANDLE": settings.bsky_handle,
        "BSKY_APP_PASSWORD": settings.bsky_app_password,
        "BSKY_CHAT_PROXY": settings.bsky_chat_proxy,
        "BSKY_POLL_SEC": str(settings.bsky_poll_sec),
        "MASTODON_API_BASE_URL": settings.mastodon_api_base_url,
        "MASTODON_ACCESS_TOKEN": settings.mastodon_access_token,
        "MASTODON_POLL_SEC": str(settings.mastodon_poll_sec),
        "X_CLIENT_ID": settings.x_client_id,
        "X_AUTHORIZE_URL": settings.x_authorize_url,
        "X_API_URL": settings.x_api_url,
        "UPLOAD_DIR": str(settings.upload_limits.folder or ""),
        "OUTBOUND_ALLOW": ",".join(settings.outbound_allow),
        "BEHIND_PROXY": "yes",
    }
    return {f"HQX_{name}": value for name, value in values.items() if value}


@dataclass
class RoleProcesses:
    """The processes, started and stopped together."""

    env: dict[str, str]
    counts: dict[str, int]
    """How many processes of each role."""
    processes: dict[str, list[subprocess.Popen[bytes]]] = field(default_factory=dict)
    web_ports: list[int] = field(default_factory=list)
    ports: dict[int, int] = field(default_factory=dict)
    """Each process's HTTP port, by process id."""

    def start(self) -> None:
        for role in ROLES:
            for _ in range(self.counts.get(role, 0)):
                self.start_one(role)

    def start_one(self, role: str) -> subprocess.Popen[bytes]:
        """One more process of ``role`` (a supervisor's restart, too)."""
        port = free_port()
        if role == "web":
            self.web_ports.append(port)
        process = subprocess.Popen(  # noqa: S603  (our own command)
            [HQX, "run", "--role", role],
            env={**self.env, "HQX_HTTP_PORT": str(port)},
            stdout=subprocess.DEVNULL,
        )
        self.processes.setdefault(role, []).append(process)
        self.ports[process.pid] = port
        return process

    def running(self) -> list[subprocess.Popen[bytes]]:
        return [p for group in self.processes.values() for p in group if p.poll() is None]

    def stop(self) -> None:
        for process in self.running():
            process.send_signal(signal.SIGTERM)
        for process in itertools.chain.from_iterable(self.processes.values()):
            try:
                process.wait(timeout=STOP_SEC)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def kill_active_bots(self, network: Network) -> int:
        """Kill (SIGKILL) the bots process that holds ``network``'s seat; its pid."""
        pid = active_bots(self.env["HQX_DATABASE_URL"], network)
        ours = {p.pid for p in self.processes.get("bots", [])}
        if pid not in ours:
            raise RuntimeError(f"the seat of {network} is held by {pid}, not a bots process")
        os.kill(pid, signal.SIGKILL)
        return pid


def active_bots(database_url: str, network: Network) -> int:
    """The process id of the bots process holding ``network``'s seat."""
    engine = create_sync_engine(database_url)
    try:
        with Session(engine) as session:
            holder = session.exec(
                select(ServiceLease.holder).where(ServiceLease.name == seat(network))
            ).one()
    finally:
        engine.dispose()
    return int(holder.split(" pid ", 1)[1].split()[0].rstrip(","))


def balancer(ports: list[int]) -> web.Application:
    """A forwarder to the web processes in turn, as a reverse proxy would be (the client's
    address appended to ``X-Forwarded-For``; redirects passed back, not followed)."""
    turns = itertools.cycle(ports)
    app = web.Application(client_max_size=1024**3)
    clients: list[ClientSession] = []

    async def forward(request: web.Request) -> web.StreamResponse:
        if not clients:
            clients.append(ClientSession(timeout=ClientTimeout(total=300)))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        forwarded = request.headers.get("X-Forwarded-For")
        peer = request.remote or "127.0.0.1"
        headers["X-Forwarded-For"] = f"{forwarded}, {peer}" if forwarded else peer
        target = f"http://127.0.0.1:{next(turns)}{request.path_qs}"
        body = await request.read()
        async with clients[0].request(
            request.method, target, headers=headers, data=body, allow_redirects=False
        ) as answer:
            payload = await answer.read()
            kept = [(k, v) for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP]
            response = web.Response(status=answer.status, body=payload)
            for name, value in kept:
                response.headers.add(name, value)
            return response

    async def close(_app: web.Application) -> None:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()

    app.router.add_route("*", "/{tail:.*}", forward)
    app.on_cleanup.append(close)
    return app


async def until_serving(
    processes: RoleProcesses,
    timeout_sec: float = 120.0,
    which: list[subprocess.Popen[bytes]] | None = None,
) -> None:
    """Wait until every process (or those of ``which``) serves its ``/metrics`` (started,
    its lease taken)."""
    deadline = asyncio.get_running_loop().time() + timeout_sec
    async with ClientSession(timeout=ClientTimeout(total=5)) as client:
        for role in ROLES:
            for process in processes.processes.get(role, []):
                if which is not None and process not in which:
                    continue
                port = processes.ports[process.pid]
                while True:
                    if process.poll() is not None:
                        raise RuntimeError(f"a {role} process exited ({process.returncode})")
                    with contextlib.suppress(Exception):
                        async with client.get(f"http://127.0.0.1:{port}/metrics") as answer:
                            if answer.status == 200:
                                break
                    if asyncio.get_running_loop().time() > deadline:
                        raise RuntimeError(f"a {role} process did not start in time")
                    await asyncio.sleep(0.2)
