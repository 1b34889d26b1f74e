"""The local Bluesky network is the real thing: accounts, posts, mentions, notifications."""

from __future__ import annotations

import itertools
import subprocess
from typing import TYPE_CHECKING

import pytest

from testworld.bluesky.people import create_person

if TYPE_CHECKING:
    from testworld.bluesky.network import BlueskyDevNetwork

pytestmark = pytest.mark.integration
_names = (f"p{n}" for n in itertools.count())


def test_a_mention_reaches_the_mentioned_person(bluesky: BlueskyDevNetwork) -> None:
    alice = create_person(bluesky, f"alice{next(_names)}")
    bob = create_person(bluesky, f"bob{next(_names)}")
    alice.post("Bonjour, on se retrouve ici ?", mention=bob)
    bluesky.process_all()
    mentions = bob.notifications("mention")
    assert [n.author.did for n in mentions] == [alice.did]
    assert mentions[0].record.text.startswith("Bonjour, on se retrouve ici ?")
    assert alice.notifications() == []


def test_every_server_listens_on_loopback_only(bluesky: BlueskyDevNetwork) -> None:
    listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True)
    node_sockets = [line for line in listening.stdout.splitlines() if '"node"' in line]
    assert node_sockets, "the network's node process should be listening"
    for line in node_sockets:
        local = line.split()[3]
        assert local.startswith("127.0.0.1:"), f"a server listens beyond loopback: {line}"


def test_installing_again_is_a_no_op(
    bluesky: BlueskyDevNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    from testworld.bluesky import install

    def no_commands(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"an installed network ran {args!r}")

    installed = install.ensure_installed()
    monkeypatch.setattr("subprocess.run", no_commands)
    assert install.ensure_installed() == installed
    assert (installed.root / install.INSTALLED_MARKER).read_text().strip() == install.fingerprint()


def test_the_pds_proxies_to_a_registered_service(bluesky: BlueskyDevNetwork) -> None:
    """The road a chat double is reached by: atproto-proxy -> DID document -> service."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[tuple[str, str]] = []

    class Service(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            received.append((self.path, self.headers.get("authorization", "")))
            body = json.dumps({"convos": []}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Service)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        did = bluesky.register_service("bsky_chat", "BskyChatService", endpoint)
        assert did.startswith("did:plc:")
        alice = create_person(bluesky, f"carol{next(_names)}")
        chat = alice.client.with_proxy("bsky_chat", did)
        assert chat.chat.bsky.convo.list_convos().convos == []
    finally:
        server.shutdown()
        thread.join()
    [(path, authorization)] = received
    assert path.startswith("/xrpc/chat.bsky.convo.listConvos")
    assert authorization.startswith("Bearer "), "the PDS signs a service token for the service"


def test_a_port_taken_meanwhile_is_survived(monkeypatch: pytest.MonkeyPatch) -> None:
    """A port found free may be taken before Node binds it: the network starts again."""
    import socket

    from testworld.bluesky import network as devnet
    from testworld.bluesky.install import ensure_installed

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = iter([taken.getsockname()[1]])
    real_free_port = devnet.free_port  # type: ignore[attr-defined]
    started = devnet.BlueskyDevNetwork(ensure_installed())
    monkeypatch.setattr(devnet, "free_port", lambda: next(ports, None) or real_free_port())
    try:
        with started:
            assert started.urls is not None
            assert f":{taken.getsockname()[1]}" not in started.urls.plc
            alice = create_person(started, "alice")
            assert alice.did.startswith("did:plc:")
    finally:
        taken.close()
