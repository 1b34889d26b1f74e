"""How ``hqx run`` serves: what aiohttp refuses on its own (not HTTP, a bad Content-Length,
an over-long request line) is answered with the portal's headers, no software version, and
nothing of the request echoed or logged; the service that loses its lease ends the process
with its own status, for its supervisor to start it again as a waiting instance."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import update
from sqlmodel import Session

from hqx.app import create_app, server_options
from hqx.serving import EXIT_LEASE_LOST, PortalRunner, serve
from shared import lease
from shared.config import Settings
from shared.db.models import ServiceLease
from testworld.bluesky.services import free_port

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

TOKEN = "Qk3v_secretUploadToken_0123456789abcdefghijk"
BAD_REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"GET /x/upload/" + TOKEN.encode() + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GARBAGE /x/upload/" + TOKEN.encode() + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"b" * 9000 + b"\r\n\r\n",
]


@pytest.mark.parametrize("raw", BAD_REQUESTS, ids=["length", "line", "method", "header"])
def test_what_aiohttp_refuses_is_answered_as_the_portal_answers(
    engine: Engine, database_url: str, raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=database_url, secret_key="k" * 40)

    async def scene() -> bytes:
        runner = PortalRunner(create_app(settings), **server_options())
        await runner.setup()
        port = free_port()
        from aiohttp import web

        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(raw)
            await writer.drain()
            answer = await reader.read(65536)
            writer.close()
            return answer
        finally:
            await runner.cleanup()

    with caplog.at_level(logging.DEBUG):
        answer = asyncio.run(scene())
    head, _, body = answer.partition(b"\r\n\r\n")
    headers = head.decode().lower()
    assert head.startswith((b"HTTP/1.0 4", b"HTTP/1.1 4")), head
    assert "content-security-policy: default-src 'none'" in headers
    assert "x-frame-options: deny" in headers and "x-content-type-options: nosniff" in headers
    assert "server: helloquittex" in headers and "aiohttp" not in headers
    assert body.startswith(b"4") and TOKEN.encode() not in body and b"abc" not in body
    assert not any(TOKEN in record.getMessage() for record in caplog.records)
    assert not any(TOKEN in (record.exc_text or "") for record in caplog.records)


def test_a_process_whose_lease_is_taken_over_ends_with_its_own_status(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lease, "LEASE_TTL", timedelta(seconds=0.6))
    settings = Settings(database_url=database_url, secret_key="k" * 40)
    said: list[str] = []

    async def scene() -> int:
        running = asyncio.Event()

        def say(line: str) -> None:
            said.append(line)
            running.set()

        served = asyncio.create_task(serve(create_app(settings), "127.0.0.1", free_port(),
                                           say=say, **server_options()))  # fmt: skip
        await running.wait()
        with Session(engine) as session, session.begin():
            session.execute(update(ServiceLease).values(holder="elsewhere pid 1, x"))
        async with asyncio.timeout(10):
            return await served

    assert asyncio.run(scene()) == EXIT_LEASE_LOST
    assert said[0].startswith("======== Running on http://127.0.0.1:")
