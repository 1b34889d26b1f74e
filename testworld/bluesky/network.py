"""Runs the local Bluesky network: PostgreSQL, Redis, then dev-env's PLC, PDS and AppView."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from testworld.bluesky.install import DEVNET_DIR, Installation
from testworld.bluesky.services import (
    PostgresServer,
    RedisServer,
    ServiceError,
    free_port,
    terminate,
)

if TYPE_CHECKING:
    from types import TracebackType

START_SCRIPT = "network.mjs"
READY_TIMEOUT_SEC = 180.0
# A port found free may be taken before Node binds it (by another program, or by a port
# dev-env picks for itself): start again on fresh ports.
START_ATTEMPTS = 3
STOP_TIMEOUT_SEC = 30.0


@dataclass(frozen=True, slots=True)
class NetworkUrls:
    """Where the network's services listen (all on loopback)."""

    plc: str
    pds: str
    appview: str
    appview_did: str
    ozone: str


class BlueskyDevNetwork:
    """A running network; start with :meth:`start` (or ``with``), stop with :meth:`stop`."""

    def __init__(self, installation: Installation) -> None:
        self._installation = installation
        self._postgres = PostgresServer()
        self._redis = RedisServer()
        self._process: subprocess.Popen[str] | None = None
        self._control_port = free_port()
        self._log_dir = Path(tempfile.mkdtemp(prefix="hqx-devnet-"))
        self.urls: NetworkUrls | None = None

    def start(self) -> BlueskyDevNetwork:
        """Start everything; return once the AppView serves requests."""
        try:
            self._postgres.start()
            self._redis.start()
            for attempt in range(1, START_ATTEMPTS + 1):
                try:
                    self._start_node(schema=f"hqx_{chr(ord('a') + attempt)}")
                    break
                except ServiceError as e:
                    terminate(self._process, STOP_TIMEOUT_SEC)
                    if "EADDRINUSE" not in str(e) or attempt == START_ATTEMPTS:
                        raise
        except BaseException:
            self.stop()
            raise
        return self

    def _start_node(self, schema: str) -> None:
        script = self._installation.root / START_SCRIPT
        # Node resolves @atproto/dev-env next to the script: it runs from the installation.
        shutil.copy2(DEVNET_DIR / START_SCRIPT, script)
        config = {
            "postgresUrl": self._postgres.url,
            "schema": schema,
            "plcPort": free_port(),
            "pdsPort": free_port(),
            "bskyPort": free_port(),
            "ozonePort": free_port(),
            "controlPort": self._control_port,
        }
        # dev-env keeps blobs, images and port files in TMPDIR: give it one that stop() removes.
        self._tmp_dir.mkdir(exist_ok=True)
        env = {
            **self._installation.environment(),
            "REDIS_HOST": self._redis.host,
            "TMPDIR": str(self._tmp_dir),
        }
        self._process = subprocess.Popen(
            [str(self._installation.node), str(script), json.dumps(config)],
            cwd=self._installation.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log_path.open("wb"),
            text=True,
        )
        self.urls = self._wait_ready(self._process.stdout)

    @property
    def _tmp_dir(self) -> Path:
        return self._log_dir / "tmp"

    @property
    def log_path(self) -> Path:
        """Where the network's own log goes."""
        return self._log_dir / "network.log"

    def _wait_ready(self, stdout: IO[str] | None) -> NetworkUrls:
        assert stdout is not None  # noqa: S101  (Popen was given stdout=PIPE)
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            # Reads until the process closes its stdout, i.e. until it exits.
            for line in stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, name="devnet-stdout", daemon=True).start()
        deadline = time.monotonic() + READY_TIMEOUT_SEC
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                break
            if line.startswith("READY "):
                info = json.loads(line.removeprefix("READY "))
                return NetworkUrls(
                    plc=info["plc"],
                    pds=info["pds"],
                    appview=info["appview"],
                    appview_did=info["appviewDid"],
                    ozone=info["ozone"],
                )
        tail = self.log_path.read_text(errors="replace").strip().splitlines()[-20:]
        raise ServiceError("the local Bluesky network did not start:\n" + "\n".join(tail))

    def process_all(self) -> None:
        """Wait until the AppView has indexed everything the PDS has sequenced."""
        self._control("/process-all", None)

    def register_service(self, service_id: str, service_type: str, endpoint: str) -> str:
        """A new did:plc whose document names a service at ``endpoint``; return the DID.

        This is how a test double of a closed service (Bluesky's chat) is reached exactly as
        the real one is: the PDS resolves the DID and proxies to the service it names.
        """
        answer = self._control(
            "/register-service", {"id": service_id, "type": service_type, "endpoint": endpoint}
        )
        return str(json.loads(answer)["did"])

    def move_pds(self, did: str, endpoint: str) -> None:
        """The account's DID document names ``endpoint`` as its PDS (a proxy in front of this
        network's PDS, say): a client that logs in afterwards follows it there, as Bluesky's
        SDKs follow the document of the account they log in to."""
        self._control("/move-pds", {"did": did, "endpoint": endpoint})

    def _control(self, path: str, payload: dict[str, str] | None) -> bytes:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self._control_port}{path}",
            data=None if payload is None else json.dumps(payload).encode(),
            method="POST",
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return bytes(response.read())

    def stop(self) -> None:
        """Stop everything this network started."""
        terminate(self._process, STOP_TIMEOUT_SEC)
        self._redis.stop()
        self._postgres.stop()
        shutil.rmtree(self._tmp_dir, ignore_errors=True)
        if os.environ.get("HQX_DEVNET_KEEP_LOGS") is None:
            shutil.rmtree(self._log_dir, ignore_errors=True)

    def __enter__(self) -> BlueskyDevNetwork:
        return self.start()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.stop()
