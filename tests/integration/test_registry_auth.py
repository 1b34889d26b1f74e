"""The registry's own-data methods with real service-auth tokens from Bluesky's own PDS
(``com.atproto.server.getServiceAuth``), verified against the asker's DID document on the
local PLC: the right token opens the asker's own status and contacts, and nothing else."""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from bsky_service import service_auth
from bsky_service.lexicon import ours
from hqx.app import create_app
from shared.config import Settings
from tests.background import BackgroundApp
from tests.registry_people import add_person
from testworld.bluesky.people import create_person

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from testworld.bluesky.network import BlueskyDevNetwork
    from testworld.bluesky.people import Person as BskyPerson

pytestmark = pytest.mark.integration
STATUS = "org.helloquittex.registry.getStatus"
CONTACTS = "org.helloquittex.registry.listContacts"
_names = itertools.count()


def token(who: BskyPerson, audience: str, method: str) -> str:
    """What an app acting for ``who`` gets from their PDS to call this service."""
    granted = who.client.com.atproto.server.get_service_auth({"aud": audience, "lxm": method})
    return str(granted.token)


async def call(url: str, method: str, bearer: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    async with aiohttp.ClientSession() as http, http.get(f"{url}/xrpc/{method}",
                                                         headers=headers) as answer:  # fmt: skip
        return answer.status, await answer.json()


def test_a_person_reads_their_own_status_with_a_token_from_their_pds(
    bluesky: BlueskyDevNetwork, engine: Engine, database_url: str
) -> None:
    assert bluesky.urls is not None
    alice = create_person(bluesky, f"ralice{next(_names)}")
    stranger = create_person(bluesky, f"rstranger{next(_names)}")
    add_person(engine, x_id=7101, username="ralice_x", did=alice.did, handle=alice.handle,
               listed=False)  # fmt: skip
    background = BackgroundApp()
    # did:web takes a port only on localhost (AT Protocol's did:web rules): the portal is
    # named so, and listens on 127.0.0.1.
    public_url = background.url.replace("127.0.0.1", "localhost")
    settings = Settings(database_url=database_url, public_url=public_url, secret_key="k" * 40,
                        bsky_plc_url=bluesky.urls.plc)  # fmt: skip
    audience = service_auth.service_did(public_url)
    own = token(alice, audience, STATUS)
    tampered = own[:-6] + ("AAAAAA" if not own.endswith("AAAAAA") else "BBBBBB")
    others = {
        "method": token(alice, audience, CONTACTS),
        "service": token(alice, "did:web:elsewhere.example", STATUS),
        "stranger": token(stranger, audience, STATUS),
    }
    service = background.start(create_app(settings))

    async def scene() -> list[tuple[int, dict[str, Any]]]:
        return [
            await call(service.url, STATUS, own),
            await call(service.url, CONTACTS, others["method"]),
            await call(service.url, STATUS, others["method"]),
            await call(service.url, STATUS, others["service"]),
            await call(service.url, STATUS, tampered),
            await call(service.url, STATUS, others["stranger"]),
            await call(service.url, STATUS, None),
        ]

    try:
        status, contacts, other_method, other_service, forged, unknown, anonymous = asyncio.run(
            scene()
        )
    finally:
        service.stop()
    assert status[0] == 200, status
    ours().validate_output(STATUS, status[1])
    assert [a["id"] for a in status[1]["accounts"]] == [alice.did]
    assert status[1]["x"] == [{"id": "7101", "username": "ralice_x", "trust": "claimed"}]
    assert contacts == (200, {"contacts": []})
    assert other_method[0] == 401 and f"not {STATUS}" in other_method[1]["message"]
    assert other_service[0] == 401 and other_service[1]["error"] == "InvalidToken"
    assert forged[0] == 401, "a signature that is not the asker's key opens nothing"
    assert unknown[0] == 404 and "linked to no one here" in unknown[1]["message"]
    assert anonymous[0] == 401
