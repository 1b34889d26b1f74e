"""How ``hqx run`` serves the application: aiohttp's runner, with the portal's own answer to
requests aiohttp refuses before any handler sees them (a bad ``Content-Length``, an
over-long request line, what is not HTTP), and a stop on a signal or when the service loses
its database lease.

aiohttp answers those with its own page: no security headers (its ``on_response_prepare``
never runs, no route was matched), ``Server: Python/… aiohttp/…``, and the bytes it could
not parse echoed back and logged (a link's token among them). Here they get the portal's
headers, a fixed sentence, and a one-line log that quotes nothing of the request.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from hqx.state import SERVICE
from hqx.web.headers import HEADERS, POLICY

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiohttp.web_request import BaseRequest

log = logging.getLogger(__name__)

EXIT_LEASE_LOST = 75
"""``hqx run``'s exit status when another process took its lease over (EX_TEMPFAIL): its
supervisor starts it again, and it waits its turn (``--wait``)."""


def error_answer(status: int) -> web.Response:
    """What the portal answers a request it cannot take: its headers, our words only."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    response = web.Response(status=status, text=f"{status} {phrase}\n", content_type="text/plain")
    response.headers["Content-Security-Policy"] = POLICY
    response.headers.update(HEADERS)
    response.force_close()
    return response


class PortalRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering its own refusals as the portal does."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        del message  # aiohttp's text quotes the request: never sent, never logged
        if status >= 500:
            log.error("error handling a request from %s: %s", request.remote,
                      type(exc).__name__ if exc else "unknown")  # fmt: skip
        else:
            log.info("refused a request from %s that is not valid HTTP (%s, %d)",
                     request.remote, type(exc).__name__ if exc else "unknown", status)  # fmt: skip
        if request.writer.output_size > 0:
            raise ConnectionError("an answer was sent already: the connection is closed")
        return error_answer(status)


class PortalServer(web.Server):
    """aiohttp's server, with :class:`PortalRequestHandler` for each connection."""

    def __call__(self) -> RequestHandler:
        return PortalRequestHandler(self, loop=self._loop, **self._kwargs)


class PortalRunner(web.AppRunner):
    """aiohttp's application runner, serving through :class:`PortalServer`."""

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()
        return PortalServer(
            made.request_handler, request_factory=made.request_factory, loop=made._loop,
            **made._kwargs,
        )  # fmt: skip


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    say: Callable[[str], Any] = print,
    **options: Any,
) -> int:
    """Serve ``app`` until SIGINT or SIGTERM (0), or until the service loses its lease to
    another process (:data:`EXIT_LEASE_LOST`)."""
    runner = PortalRunner(app, handle_signals=False, **options)
    await runner.setup()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        say(f"======== Running on http://{host}:{port} ========")
        say("(Press CTRL+C to quit)")
        stop = asyncio.create_task(stopping.wait(), name="signals")
        lost = asyncio.create_task(app[SERVICE].lease_lost.wait(), name="lease-lost")
        await asyncio.wait({stop, lost}, return_when=asyncio.FIRST_COMPLETED)
        for task in (stop, lost):
            task.cancel()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await runner.cleanup()
    if app[SERVICE].lease_lost.is_set():
        return EXIT_LEASE_LOST
    return 0
