"""A PDS that does not answer is one error of the SDK's, saying why: the receiving loop and
the delivery then say it in one line and try again, instead of logging a traceback for a
connection cut before the answer."""

from __future__ import annotations

import asyncio
import socket

import pytest
from atproto_client.exceptions import RequestErrorBase

from bsky_service.session import NoAnswerError, TransportRequest
from tests.background import BackgroundApp
from testworld.faults import FaultProxy


def test_a_connection_cut_before_the_answer_is_an_error_of_the_sdk_saying_so() -> None:
    proxy = FaultProxy("http://127.0.0.1:9")
    proxy.mode = "reset"
    front = BackgroundApp(proxy.app()).start()
    try:
        with pytest.raises(RequestErrorBase) as raised:
            asyncio.run(_get(f"{front.url}/xrpc/app.bsky.notification.listNotifications"))
    finally:
        front.stop()
    assert isinstance(raised.value, NoAnswerError)
    assert str(raised.value).startswith("no answer (RemoteProtocolError: Server disconnected")


def test_a_refused_connection_says_so() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(NoAnswerError, match=r"^no answer \(ConnectError: "):
        asyncio.run(_get(f"http://127.0.0.1:{port}/xrpc/app.bsky.notification.listNotifications"))


async def _get(url: str) -> None:
    request = TransportRequest()
    try:
        await request.get(url)
    finally:
        await request.close()
