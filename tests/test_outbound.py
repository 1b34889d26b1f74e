"""The one way out: every request to an address someone else gave goes through the guarded
client, which refuses loopback, private, link-local and other non-public addresses before any
connection, follows redirects under the same rules, and reads answers in full within a size
bound and a deadline. Attacks as the issue tried them: a DID document naming a PDS on
loopback, a Mastodon account on loopback, an issuer's ``did:web`` on loopback, an
authorization server on loopback, a 300 MB and a one-byte-every-two-seconds DID document,
600 XRPC calls, a DID that walks the PLC directory's paths."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, settings
from hypothesis import strategies as st

from hqx.app import create_app
from hqx.outbound import OutboundClient
from shared.config import Settings
from shared.outbound import (
    OutboundError,
    Policy,
    RefusedAddressError,
    did_url,
    public_ip,
)
from shared.vocabulary import Network
from tests.linked import linked_with_space
from tests.test_portal_space import KEY, csrf_of, sign_in

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from sqlalchemy.engine import Engine

DID = "did:plc:" + "a" * 24
LOOPBACK_FORMS = ("127.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "localhost")


class Listener:
    """A real server on loopback (IPv4 and IPv6) that counts every connection made to it."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._servers: list[asyncio.Server] = []

    async def __aenter__(self) -> Listener:
        def seen(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\ninternal secret")
            writer.close()

        v4 = await asyncio.start_server(seen, "127.0.0.1", 0)
        self.port = v4.sockets[0].getsockname()[1]
        v6 = await asyncio.start_server(seen, "::1", self.port)
        self._servers = [v4, v6]
        return self

    async def __aexit__(self, *_: object) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()

    def at(self, form: str, scheme: str = "https") -> str:
        return f"{scheme}://{form}:{self.port}"


@pytest.fixture
def listener() -> Listener:
    return Listener()


async def serve(routes: web.RouteTableDef) -> AsyncIterator[str]:
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def plc_with(document: Callable[[str], Any], seen: list[str] | None = None) -> web.RouteTableDef:
    """A PLC directory serving ``document(did)`` for every DID (``seen``: the paths asked)."""
    routes = web.RouteTableDef()

    @routes.get("/{path:.*}")
    async def _doc(request: web.Request) -> web.StreamResponse:
        if seen is not None:
            seen.append(request.raw_path)
        answer = document(request.match_info["path"])
        if isinstance(answer, web.StreamResponse):
            return answer
        return web.json_response(answer)

    return routes


def did_doc(did: str, pds: str) -> dict[str, Any]:
    return {
        "id": did,
        "alsoKnownAs": ["at://alice.test"],
        "verificationMethod": [],
        "service": [
            {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds}
        ],
    }


def portal_run(settings: Settings, scene: Callable[[TestClient[Any, Any]], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as client:
            return await scene(client)

    return asyncio.run(main())


# --- The address check --------------------------------------------------------------------


def _oracle(text: str) -> bool:
    """The standard library's word: global (and not multicast), judging an IPv4 address
    carried in IPv6 as that IPv4 address."""
    ip = ipaddress.ip_address(text)
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if ip in ipaddress.ip_network("::/96") or ip in ipaddress.ip_network("64:ff9b::/96"):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return _oracle(str(embedded))
    return ip.is_global and not ip.is_multicast


addresses = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.ip_addresses(v=4).map(lambda ip: f"::ffff:{ip}"),
    st.sampled_from(
        [
            "127.0.0.1",
            "10.0.0.1",
            "169.254.169.254",
            "fd00::1",
            "::1",
            "0.0.0.0",  # noqa: S104  (an address checked, not bound)
            "::",
            "100.64.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ]
    ),
)


@settings(max_examples=400, deadline=None)
@given(address=addresses, port=st.none() | st.integers(1, 65535), scheme=st.just("https"),
       userinfo=st.booleans(), path=st.text(max_size=20))  # fmt: skip
def test_an_address_is_refused_exactly_when_it_is_not_global(
    address: str, port: int | None, scheme: str, userinfo: bool, path: str
) -> None:
    ip = ipaddress.ip_address(address)
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    url = f"{scheme}://{'me:pw@' if userinfo else ''}{host}{f':{port}' if port else ''}/"
    url += quote(path)
    policy = Policy()
    if userinfo or not _oracle(address):
        with pytest.raises(RefusedAddressError):
            policy.target(url)
    else:
        assert policy.target(url).host == str(ip)
    assert public_ip(address) == _oracle(address)
    with pytest.raises(RefusedAddressError):
        policy.target(url.replace("https://", "http://", 1))  # plain http: never


@settings(max_examples=200, deadline=None)
@given(address=addresses, name=st.from_regex(r"[a-z]{1,10}\.example", fullmatch=True))
def test_a_name_is_refused_exactly_when_one_of_its_addresses_is_not_global(
    address: str, name: str
) -> None:
    policy = Policy()
    public = "8.8.8.8"
    if _oracle(address):
        assert policy.check_addresses(name, 443, [public, address]) == [public, address]
    else:
        with pytest.raises(RefusedAddressError):
            policy.check_addresses(name, 443, [public, address])


@pytest.mark.parametrize(
    "url",
    [
        "https://127.1/",  # a legacy IPv4 form: not a host name, not a canonical address
        "https://0x7f000001/",
        "https://2130706433/",
        "https://%31%32%37.0.0.1/",
        "https://127.0.0.1%2f@example.org/",
        "https://user@example.org/",
        "file:///etc/passwd",
        "ftp://example.org/",
        "https:///nohost",
        "https://[::1/",
    ],
)
def test_odd_forms_of_a_url_are_refused(url: str) -> None:
    with pytest.raises(RefusedAddressError):
        Policy().target(url)


def test_the_allow_list_takes_hosts_and_ports_and_the_operators_servers() -> None:
    policy = Policy.of(["localhost:8081", "[::1]:9000", "lab.internal"],
                       ["http://127.0.0.1:2582", None])  # fmt: skip
    assert policy.target("http://localhost:8081/x").allowed
    assert policy.target("http://[::1]:9000/").allowed
    assert policy.target("http://lab.internal:1/").allowed, "a host alone: any port"
    assert policy.target("http://127.0.0.1:2582/did").allowed, "the PLC the operator named"
    for refused in ("http://localhost:8082/", "https://127.0.0.1:2583/", "https://[::1]:9001/"):
        with pytest.raises(RefusedAddressError):
            policy.target(refused)
    assert policy.check_addresses("localhost", 8081, ["127.0.0.1"]) == ["127.0.0.1"]


@pytest.mark.parametrize(
    "did",
    [
        "did:plc:x/../../admin?",
        "did:plc:" + "a" * 23,
        "did:plc:" + "A" * 24,
        "did:web:localhost/../admin",
        "did:web:a.example:path",
        "did:web:user@host",
        "did:key:z6Mk",
        "did:plc:" + "a" * 24 + "#atproto",
    ],
)
def test_a_did_is_checked_before_any_lookup(did: str) -> None:
    with pytest.raises(RefusedAddressError):
        did_url(did, "https://plc.directory")


def test_well_formed_dids_name_their_documents() -> None:
    assert did_url(DID, "https://plc.directory/") == f"https://plc.directory/{DID}"
    assert did_url("did:web:example.com", "x") == "https://example.com/.well-known/did.json"
    assert did_url("did:web:localhost%3A8080", "x") == "https://localhost:8080/.well-known/did.json"


# --- Private, link-local and metadata addresses: never a packet -------------------------------


class RecordingConnector(aiohttp.TCPConnector):
    """A connector that connects to nothing: it records where it was asked to connect."""

    asked: list[str] = []  # noqa: RUF012  (one list a test reads back)

    async def _wrap_create_connection(self, *args: Any, addr_infos: Any, req: Any,
                                      **kwargs: Any) -> Any:  # fmt: skip
        RecordingConnector.asked.extend(info[4][0] for info in addr_infos)
        raise aiohttp.ClientConnectorError(req.connection_key, OSError("recorded, not sent"))


def stub_lookup(table: dict[str, str]) -> Callable[[str, int], Awaitable[list[Any]]]:
    async def lookup(host: str, port: int) -> list[Any]:
        address = table[host]
        family = 10 if ":" in address else 2
        return [{"hostname": host, "host": address, "port": port, "family": family,
                 "proto": 6, "flags": 0}]  # fmt: skip

    return lookup


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00::1]/",
        "https://[::ffff:169.254.169.254]/",
        "https://intranet.example/",
        "https://metadata.example/latest/meta-data/",
        "https://ula.example/",
        "https://mixed.example/",
    ],
)
def test_private_link_local_and_metadata_addresses_are_never_connected_to(url: str) -> None:
    table = {"intranet.example": "10.0.0.1", "metadata.example": "169.254.169.254",
             "ula.example": "fd00::1", "mixed.example": "192.168.0.7"}  # fmt: skip
    RecordingConnector.asked = []
    client = OutboundClient(Policy(), lookup=stub_lookup(table),
                            connector_class=RecordingConnector)  # fmt: skip

    async def main() -> None:
        try:
            with pytest.raises(RefusedAddressError):
                await client.request("GET", url)
        finally:
            await client.close()

    asyncio.run(main())
    assert RecordingConnector.asked == [], "nothing was connected to"


def test_a_public_name_is_connected_to_at_the_address_that_was_checked() -> None:
    """The control: a public address is handed to the connector, and only it."""
    RecordingConnector.asked = []
    client = OutboundClient(Policy(), lookup=stub_lookup({"pds.example": "8.8.4.4"}),
                            connector_class=RecordingConnector)  # fmt: skip

    async def main() -> None:
        try:
            with pytest.raises(OutboundError, match="could not be reached"):
                await client.request("GET", "https://pds.example/xrpc/x")
        finally:
            await client.close()

    asyncio.run(main())
    assert RecordingConnector.asked == ["8.8.4.4"]


# --- Loopback, through the service's own flows: a real listener that sees nothing -------------


@pytest.mark.parametrize("form", LOOPBACK_FORMS)
def test_a_pds_on_loopback_named_by_a_did_document_is_never_asked(
    engine: Engine, database_url: str, listener: Listener, form: str
) -> None:
    person, token = linked_with_space(engine, Network.BLUESKY, DID, "alice.test")

    async def scene() -> tuple[int, str]:
        async with listener:
            routes = plc_with(lambda _did: did_doc(DID, listener.at(form) + "/internal"))
            async for plc in serve(routes):
                settings = Settings(database_url=database_url, public_url="http://hqx.example",
                                    secret_key=KEY, bsky_plc_url=plc)  # fmt: skip
                async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as c:
                    page = await sign_in(c, token)
                    for path, form_data in (("/me/follows/bluesky", {}),
                                            ("/me/follows/bluesky/password",
                                             {"app_password": "abcd-efgh-ijkl-mnop"})):  # fmt: skip
                        answer = await c.post(
                            path + "?lang=en", data={"csrf": csrf_of(page), **form_data}
                        )
                        text = await answer.text()
                        assert answer.status == 502, text
                        assert "internal secret" not in text
                        assert "could not be reached safely" in text
                    return answer.status, text
        raise AssertionError("no PLC")

    asyncio.run(scene())
    assert listener.connections == 0, "the PDS on loopback was never connected to"
    del person


@pytest.mark.parametrize("form", LOOPBACK_FORMS)
def test_a_mastodon_server_on_loopback_is_never_asked(
    engine: Engine, database_url: str, listener: Listener, form: str
) -> None:
    async def scene() -> None:
        async with listener:
            subject = f"{listener.at(form)}/users/alice"
            _, token = linked_with_space(engine, Network.MASTODON, subject,
                                         f"alice@{form}:{listener.port}")  # fmt: skip
            settings = Settings(database_url=database_url, public_url="http://hqx.example",
                                secret_key=KEY)  # fmt: skip
            async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as c:
                page = await sign_in(c, token)
                answer = await c.post("/me/follows/mastodon?lang=en", data={"csrf": csrf_of(page)})
                text = await answer.text()
                assert answer.status == 502 and "could not be reached safely" in text
                assert "internal secret" not in text and str(listener.port) not in text

    asyncio.run(scene())
    assert listener.connections == 0, "no app registered on loopback, no port probed"


@pytest.mark.parametrize("form", LOOPBACK_FORMS)
def test_an_authorization_server_on_loopback_named_by_a_pds_is_never_asked(
    engine: Engine, database_url: str, listener: Listener, form: str
) -> None:
    """The PDS is allowed (the operator listed it); the issuer it names is not."""
    _, token = linked_with_space(engine, Network.BLUESKY, DID, "alice.test")

    async def scene() -> None:
        async with listener:
            pds_routes = web.RouteTableDef()

            @pds_routes.get("/.well-known/oauth-protected-resource")
            async def _resource(_request: web.Request) -> web.Response:
                return web.json_response({"authorization_servers": [listener.at(form)]})

            async for pds in serve(pds_routes):
                named = functools.partial(lambda pds, _did: did_doc(DID, pds), pds)
                async for plc in serve(plc_with(named)):
                    settings = Settings(
                        database_url=database_url,
                        public_url="http://hqx.example",
                        secret_key=KEY,
                        bsky_plc_url=plc,
                        outbound_allow=(pds.removeprefix("http://"),),
                    )
                    async with TestClient(TestServer(create_app(settings),
                                                     host="127.0.0.1")) as c:  # fmt: skip
                        page = await sign_in(c, token)
                        answer = await c.post(
                            "/me/follows/bluesky?lang=en", data={"csrf": csrf_of(page)}
                        )
                        assert answer.status == 502
                        assert "internal secret" not in await answer.text()

    asyncio.run(scene())
    assert listener.connections == 0


def service_token(iss: str) -> str:
    """An unsigned service-auth token naming ``iss`` (the issuer's document is read before
    the signature can be checked: that read is the attack)."""
    import base64

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"iss": iss, "aud": "did:web:hqx.example", "exp": now + 60, "iat": now,
              "lxm": "org.helloquittex.registry.getStatus"}  # fmt: skip
    return f"{part({'alg': 'ES256K', 'typ': 'JWT'})}.{part(claims)}.c2ln"


STATUS = "/xrpc/org.helloquittex.registry.getStatus"


@pytest.mark.parametrize("form", LOOPBACK_FORMS)
def test_an_issuers_did_web_on_loopback_is_never_asked(
    engine: Engine, database_url: str, listener: Listener, form: str
) -> None:
    async def scene() -> None:
        async with listener:
            host = form.strip("[]") if form != "localhost" else form
            did = f"did:web:{quote(host, safe='') if ':' in host else host}%3A{listener.port}"
            settings = Settings(database_url=database_url, public_url="http://hqx.example",
                                secret_key=KEY)  # fmt: skip
            async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as c:
                answer = await c.get(STATUS, headers={"Authorization":
                                                      f"Bearer {service_token(did)}"})  # fmt: skip
                assert answer.status == 401

    asyncio.run(scene())
    assert listener.connections == 0


def test_a_did_that_walks_the_plc_directorys_paths_asks_it_nothing(
    engine: Engine, database_url: str
) -> None:
    seen: list[str] = []

    async def scene() -> None:
        async for plc in serve(plc_with(lambda _did: {}, seen)):
            settings = Settings(database_url=database_url, public_url="http://hqx.example",
                                secret_key=KEY, bsky_plc_url=plc)  # fmt: skip
            async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as c:
                for iss in ("did:plc:x/../../admin?", "did:plc:../admin", "did:plc:%2e%2e"):
                    token = service_token(iss)
                    answer = await c.get(STATUS, headers={"Authorization": f"Bearer {token}"})
                    assert answer.status == 401

    asyncio.run(scene())
    assert seen == [], "the PLC directory was asked nothing"


# --- Answers: bounded in size and time, read in full ------------------------------------------


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def _sample_rss(peak: list[float]) -> None:
    """The process's resident memory at its highest, looked at every 10 ms."""
    while True:
        peak[0] = max(peak[0], _rss_mb())
        await asyncio.sleep(0.01)


def test_a_300_mb_did_document_is_cut_off_and_memory_stays_bounded(
    engine: Engine, database_url: str
) -> None:
    sent = [0]

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        chunk = b" " * (1024 * 1024)
        try:
            await response.write(b'{"id": "' + DID.encode() + b'", "pad": "')
            for _ in range(300):
                await response.write(chunk)
                sent[0] += len(chunk)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            pass
        return response

    async def scene() -> tuple[float, float, float]:
        async for plc in serve(plc_with(lambda _did: None)):
            app_routes = web.RouteTableDef()
            app_routes.get("/{path:.*}")(huge)
            async for big in serve(app_routes):
                settings = Settings(database_url=database_url, public_url="http://hqx.example",
                                    secret_key=KEY, bsky_plc_url=big)  # fmt: skip
                del plc
                async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as c:
                    before = _rss_mb()
                    sampling = asyncio.create_task(_sample_rss(peak))
                    started = time.monotonic()
                    bearer = {"Authorization": f"Bearer {service_token(DID)}"}
                    answer = await c.get(STATUS, headers=bearer)
                    took = time.monotonic() - started
                    sampling.cancel()
                    assert answer.status == 401
                    return before, _rss_mb(), took
        raise AssertionError("no server")

    peak = [0.0]
    before, after, took = asyncio.run(scene())
    assert after - before < 50, f"memory grew from {before:.0f} MB to {after:.0f} MB"
    # The peak while it was read (the process's lifetime peak belongs to earlier tests too).
    assert peak[0] - before < 300, f"memory peaked at {peak[0]:.0f} MB from {before:.0f} MB"
    assert sent[0] < 300 * 1024 * 1024, "the answer was cut off, not read to its end"
    assert took < 15


def test_a_did_document_sent_a_byte_every_two_seconds_ends_within_the_deadline(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bsky_service.identity.DEADLINE_SEC", 3.0)

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            for byte in b'{"id": "' + DID.encode() + b'"}':
                await response.write(bytes([byte]))
                await asyncio.sleep(2)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            pass
        return response

    async def scene() -> float:
        routes = web.RouteTableDef()
        routes.get("/{path:.*}")(trickle)
        async for slow in serve(routes):
            settings = Settings(database_url=database_url, public_url="http://hqx.example",
                                secret_key=KEY, bsky_plc_url=slow)  # fmt: skip
            async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as c:
                started = time.monotonic()
                bearer = {"Authorization": f"Bearer {service_token(DID)}"}
                answer = await c.get(STATUS, headers=bearer)
                assert answer.status == 401
                return time.monotonic() - started
        raise AssertionError("no server")

    took = asyncio.run(scene())
    assert took < 3.0 + 2.5, f"the request was held {took:.1f} s"


def _open_files() -> int:
    return sum(1 for _ in Path("/proc/self/fd").iterdir())


def test_600_xrpc_calls_leave_the_open_files_where_they_were(
    engine: Engine, database_url: str
) -> None:
    async def scene() -> tuple[int, int]:
        async for plc in serve(plc_with(lambda did: did_doc(did, "https://pds.example"))):
            settings = Settings(database_url=database_url, public_url="http://hqx.example",
                                secret_key=KEY, bsky_plc_url=plc)  # fmt: skip
            async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as c:
                headers = {"Authorization": f"Bearer {service_token(DID)}"}
                for _ in range(20):  # the pools warmed up
                    await c.get(STATUS, headers=headers)
                before = _open_files()
                for n in range(600):
                    did = "did:plc:" + f"{n:024d}".translate(str.maketrans("0189", "abcd"))
                    iss = did if n % 2 else f"did:web:10.0.{n % 250}.1%3A{1000 + n}"
                    token = service_token(iss)
                    answer = await c.get(STATUS, headers={"Authorization": f"Bearer {token}"})
                    assert answer.status == 401
                return before, _open_files()
        raise AssertionError("no server")

    before, after = asyncio.run(scene())
    assert after <= before + 5, f"open files went from {before} to {after}"


def test_an_answer_that_comes_in_pieces_is_read_whole_and_a_redirect_to_loopback_refused(
    listener: Listener,
) -> None:
    async def pieces(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for piece in (b'{"links": [', b'{"rel": "self"}', b"]}"):
            await response.write(piece)
            await asyncio.sleep(0.05)
        return response

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{listener.at('127.0.0.1')}/internal")

    async def scene() -> None:
        async with listener:
            routes = web.RouteTableDef()
            routes.get("/pieces")(pieces)
            routes.get("/moved")(moved)
            async for server in serve(routes):
                client = OutboundClient(Policy.of([server.removeprefix("http://")]))
                try:
                    whole = await client.request("GET", f"{server}/pieces")
                    assert whole.json() == {"links": [{"rel": "self"}]}
                    with pytest.raises(RefusedAddressError):
                        await client.request("GET", f"{server}/moved", follow_redirects=True)
                    with pytest.raises(OutboundError, match="more than 10 bytes"):
                        await client.request("GET", f"{server}/pieces", max_bytes=10)
                finally:
                    await client.close()

    asyncio.run(scene())
    assert listener.connections == 0


def _text_forms(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> st.SearchStrategy[str]:
    """Other ways to write the same address in a URL's host."""
    if ip.version == 4:
        value = int(ip)
        return st.sampled_from([
            str(value),  # one decimal number
            hex(value),  # one hex number
            ".".join(f"0{int(o):o}" for o in str(ip).split(".")),  # octal octets
            ".".join(f"0x{int(o):x}" for o in str(ip).split(".")),  # hex octets
            f"{str(ip).split('.')[0]}.{value & 0xFFFFFF}",  # two parts
            "%2E".join(str(ip).split(".")),  # percent-encoded dots
            "".join(f"%{b:02x}" for b in str(ip).encode()),  # every character encoded
        ])  # fmt: skip
    return st.sampled_from([
        f"[{ip.exploded}]", f"[{ip.exploded.upper()}]", f"[{ip.compressed.upper()}]",
        f"[{ip}%25eth0]",  # a zone
    ])  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(data=st.data(), ip=st.ip_addresses())
def test_any_text_form_of_an_address_is_refused_unless_canonical_and_global(
    data: st.DataObject, ip: ipaddress.IPv4Address | ipaddress.IPv6Address
) -> None:
    """Only an address written as itself may pass, and only when it is global: a form a
    resolver would read another way (decimal, hex, octal, encoded) never reaches it."""
    form = data.draw(_text_forms(ip))
    url = f"https://{form}:{data.draw(st.integers(1, 65535))}/"
    try:
        target = Policy().target(url)
    except RefusedAddressError:
        return  # refused: nothing to check
    if target is not None:
        assert ip.version == 6 and _oracle(str(ip)), f"{url} passed"
        assert ipaddress.ip_address(target.host.split("%")[0]) == ip


def test_a_pds_that_fails_is_said_in_our_words_not_a_500(engine: Engine, database_url: str) -> None:
    """The app-password path: a PDS answering 500 to the session is a page of ours."""
    _, token = linked_with_space(engine, Network.BLUESKY, DID, "alice.test")
    pds_routes = web.RouteTableDef()

    @pds_routes.post("/xrpc/com.atproto.server.createSession")
    async def _broken(_request: web.Request) -> web.Response:
        return web.json_response({"error": "InternalServerError", "message": "db down"},
                                 status=500)  # fmt: skip

    async def scene() -> tuple[int, str]:
        async for pds in serve(pds_routes):
            named = functools.partial(lambda pds, _did: did_doc(DID, pds), pds)
            async for plc in serve(plc_with(named)):
                settings = Settings(
                    database_url=database_url, public_url="http://hqx.example", secret_key=KEY,
                    bsky_plc_url=plc, outbound_allow=(pds.removeprefix("http://"),),
                )  # fmt: skip
                async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as c:
                    page = await sign_in(c, token)
                    form = {"csrf": csrf_of(page), "app_password": "abcd-efgh-ijkl-mnop"}
                    answer = await c.post("/me/follows/bluesky/password?lang=en", data=form)
                    return answer.status, await answer.text()
        raise AssertionError("no server")

    status, text = asyncio.run(scene())
    assert status == 502 and "could not be reached safely" in text and "db down" not in text
