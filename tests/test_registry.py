"""The registry other apps query over XRPC, without a network: the public lookup shows only
people who chose the public directory (never a reserved or disputed X account), parameters
are checked against the lexicon, the service's did:web document. Service auth with real
tokens from Bluesky's own PDS is in ``tests/integration/test_registry_auth.py``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import Session

from bsky_service.lexicon import ours
from hqx.app import create_app
from shared.archive_import import import_archive
from shared.config import Settings
from shared.db.models import Delivery, Person, XClaim
from shared.portal import registry
from shared.reconnection import matching
from shared.vocabulary import Network, TrustLevel, Via
from tests.archives import make_archive
from tests.registry_people import add_person

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from sqlalchemy.engine import Engine

LOOKUP = "/xrpc/org.helloquittex.registry.lookup"


def ask(database_url: str, scene: Callable[[TestClient[Any, Any]], Awaitable[Any]]) -> Any:
    settings = Settings(database_url=database_url, public_url="https://hqx.example:8443")

    async def main() -> Any:
        async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as client:
            return await scene(client)

    return asyncio.run(main())


async def get(client: TestClient[Any, Any], path: str) -> tuple[int, dict[str, Any]]:
    answer = await client.get(path)
    return answer.status, await answer.json()


def test_a_listed_person_is_found_by_x_id_or_username_with_their_proofs(
    engine: Engine, database_url: str
) -> None:
    add_person(engine, x_id=5001, username="Alice_X", did="did:plc:alice", handle="alice.test",
               listed=True)  # fmt: skip
    add_person(engine, x_id=5002, username="bob_x", did="did:plc:bob", handle="bob.test",
               listed=False)  # fmt: skip

    async def scene(client: TestClient[Any, Any]) -> list[tuple[int, dict[str, Any]]]:
        return [
            await get(client, f"{LOOKUP}?x=5001"),
            await get(client, f"{LOOKUP}?x=%40alice_x"),
            await get(client, f"{LOOKUP}?x=bob_x"),
            await get(client, f"{LOOKUP}?x=99999999999999999999999"),
        ]

    by_id, by_name, unlisted, huge = ask(database_url, scene)
    assert by_id == by_name
    status, found = by_id
    assert status == 200
    assert found["x"] == {"id": "5001", "username": "Alice_X", "trust": "claimed"}
    [account] = found["accounts"]
    assert account["network"] == "bluesky" and account["id"] == "did:plc:alice"
    assert account["trust"] == "proven" and account["proof"].startswith("at://did:plc:alice/")
    ours().validate_output("org.helloquittex.registry.lookup", found)
    assert unlisted[0] == 404 and unlisted[1]["error"] == "NotFound", "not chosen: not shown"
    assert "alice" not in str(unlisted[1]).lower() and "bob.test" not in str(unlisted[1])
    assert huge[0] == 404


def test_reserved_or_disputed_x_accounts_are_never_shown(engine: Engine, database_url: str) -> None:
    add_person(engine, x_id=6001, username="reserved_x", did="did:plc:r", handle="r.test",
               listed=True, x_trust=TrustLevel.RESERVED)  # fmt: skip
    person = add_person(engine, x_id=6002, username="disputed_x", did="did:plc:d",
                        handle="d.test", listed=True)  # fmt: skip
    with Session(engine) as session, session.begin():
        claimant = Person()  # someone else claims the same X account: it is disputed
        session.add(claimant)
        session.flush()
        other = claimant.id or 0
        session.add(XClaim(x_account_id=6002, person_id=other, username="disputed_x"))
    assert person != other

    async def scene(client: TestClient[Any, Any]) -> list[int]:
        return [(await get(client, f"{LOOKUP}?x={x}"))[0] for x in (6001, 6002)]

    assert ask(database_url, scene) == [404, 404]


def test_parameters_are_checked_against_the_lexicon(engine: Engine, database_url: str) -> None:
    async def scene(client: TestClient[Any, Any]) -> list[tuple[int, dict[str, Any]]]:
        return [
            await get(client, LOOKUP),
            await get(client, f"{LOOKUP}?x=" + "a" * 65),
            await get(client, f"{LOOKUP}?x=a&y=b"),
            await get(client, "/xrpc/org.helloquittex.registry.listContacts?limit=1000"),
            await get(client, "/xrpc/org.helloquittex.registry.nothing"),
            await get(client, "/xrpc/org.helloquittex.registry.getStatus"),
        ]

    missing, long, unknown, limit, method, unauthenticated = ask(database_url, scene)
    assert missing == (400, {"error": "InvalidRequest", "message": "params: lacks required 'x'"})
    assert long[0] == 400 and "x" in long[1]["message"]
    assert unknown[0] == 400 and "params.y" in unknown[1]["message"]
    assert limit[0] == 400 and "limit" in limit[1]["message"]
    assert method[0] == 501 and method[1]["error"] == "MethodNotImplemented"
    assert unauthenticated[0] == 401 and "getServiceAuth" in unauthenticated[1]["message"]


def test_the_service_did_document_names_its_host_and_endpoint(
    engine: Engine, database_url: str
) -> None:
    async def scene(client: TestClient[Any, Any]) -> tuple[int, dict[str, Any]]:
        return await get(client, "/.well-known/did.json")

    status, document = ask(database_url, scene)
    assert status == 200
    assert document["id"] == "did:web:hqx.example%3A8443"
    [service] = document["service"]
    assert service["serviceEndpoint"] == "https://hqx.example:8443"


def test_a_persons_contacts_come_a_page_at_a_time_with_when_they_were_delivered(
    engine: Engine, tmp_path: Path
) -> None:
    """Alice followed three people on X who are here; a page of two, then the rest."""
    alice = add_person(engine, x_id=8001, username="a_x", did="did:plc:a", handle="a.test",
                       listed=False)  # fmt: skip
    others = [
        add_person(
            engine,
            x_id=8002 + n,
            username=f"o{n}",
            did=f"did:plc:o{n}",
            handle=f"o{n}.test",
            listed=False,
        )
        for n in range(3)
    ]
    archive = make_archive(tmp_path / "a.zip", [], [8002, 8003, 8004], account_id=8001,
                           username="a_x")  # fmt: skip
    import_archive(engine, archive, for_person=alice)
    matching.match_person(engine, alice)
    with Session(engine) as session, session.begin():
        when = datetime(2025, 1, 20, 9, tzinfo=UTC)
        session.add(Delivery(person_id=alice, contact_id=others[0], network=Network.BLUESKY,
                             via=Via.LIST, delivered_at=when))  # fmt: skip
    with Session(engine) as session:
        first = registry.contacts(session, alice, limit=2, cursor=None)
        rest = registry.contacts(session, alice, limit=2, cursor=first.cursor)
    assert len(first.contacts) == 2 and first.cursor == "2"
    assert len(rest.contacts) == 1 and rest.cursor is None
    shown = first.contacts + rest.contacts
    assert sorted(c["accounts"][0]["handle"] for c in shown) == ["o0.test", "o1.test", "o2.test"]
    assert all(c["relations"] == ["following"] for c in shown)
    [delivered] = [c for c in shown if c["delivered"]]
    assert delivered["delivered"] == [
        {"network": "bluesky", "via": "list", "at": "2025-01-20T09:00:00.000Z"}
    ]
    for page in (first, rest):
        ours().validate_output(
            "org.helloquittex.registry.listContacts",
            {"contacts": page.contacts} | ({"cursor": page.cursor} if page.cursor else {}),
        )
