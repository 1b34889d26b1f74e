"""An aiohttp application served on loopback from a thread of its own, for synchronous tests."""

from __future__ import annotations

import asyncio
import socket
import threading

from aiohttp import web

START_TIMEOUT_SEC = 30.0


class BackgroundApp:
    """Serves ``app`` on 127.0.0.1 (a free port) in an event loop on its own thread."""

    def __init__(self, app: web.Application | None = None) -> None:
        """``app`` now, or (when it must know its own address first) given to :meth:`start`."""
        self._app = app
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-app")
        self._runner: web.AppRunner | None = None
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def start(self, app: web.Application | None = None) -> BackgroundApp:
        self._app = app or self._app
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(START_TIMEOUT_SEC)
        return self

    async def _serve(self) -> None:
        if self._app is None:
            raise RuntimeError("no application to serve")
        self._runner = web.AppRunner(self._app)
        await self._runner.setup()
        await web.SockSite(self._runner, self._socket).start()

    def stop(self) -> None:
        if self._runner is not None:
            cleanup = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            cleanup.result(START_TIMEOUT_SEC)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_TIMEOUT_SEC)
        self._loop.close()
        self._socket.close()
