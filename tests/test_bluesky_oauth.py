"""The pieces of AT Protocol OAuth that need no server: DPoP proofs a server can verify, the
client the portal is (its metadata document, or the loopback client on loopback), grants
kept whole. The flow itself runs against Bluesky's own PDS in the integration tests."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from bsky_service import acting, oauth
from hqx.app import create_app
from shared.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def _part(token: str, index: int) -> dict[str, Any]:
    piece = token.split(".")[index]
    return dict(json.loads(base64.urlsafe_b64decode(piece + "=" * (-len(piece) % 4))))


def verify(proof: str) -> dict[str, Any]:
    """What a server checks of a DPoP proof: its header, its signature by the key it carries."""
    header = _part(proof, 0)
    assert header["typ"] == "dpop+jwt" and header["alg"] == "ES256"
    assert "d" not in header["jwk"], "never the private key"
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(base64.urlsafe_b64decode(header["jwk"]["x"] + "=="), "big"),
        int.from_bytes(base64.urlsafe_b64decode(header["jwk"]["y"] + "=="), "big"),
        ec.SECP256R1(),
    )
    signing_input, signature = proof.rsplit(".", 1)
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    numbers.public_key().verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    return _part(proof, 1)


def test_a_dpop_proof_is_signed_by_the_key_it_carries_and_names_the_request() -> None:
    key = oauth.DpopKey.generate()
    proof = key.proof("POST", "https://pds.example/xrpc/x?y=1#z", nonce="n1", token="tok")
    claims = verify(proof)
    assert claims["htm"] == "POST" and claims["htu"] == "https://pds.example/xrpc/x"
    assert claims["nonce"] == "n1"
    expected = base64.urlsafe_b64encode(hashlib.sha256(b"tok").digest()).rstrip(b"=").decode()
    assert claims["ath"] == expected, "bound to the access token it goes with"
    assert key.proof("GET", "https://a.example/") != key.proof("GET", "https://a.example/")
    tampered = proof[:-4] + ("AAAA" if not proof.endswith("AAAA") else "BBBB")
    with pytest.raises((InvalidSignature, ValueError)):
        verify(tampered)


def test_the_dpop_key_survives_being_kept() -> None:
    key = oauth.DpopKey.generate()
    kept = oauth.DpopKey.from_jwk(key.jwk(private=True))
    assert kept.jwk() == key.jwk()
    with pytest.raises(oauth.OAuthError, match="private P-256 key"):
        oauth.DpopKey.from_jwk(key.jwk())


def test_on_loopback_the_portal_is_the_loopback_client_else_its_document() -> None:
    local = oauth.client_for("http://127.0.0.1:8080/")
    asked = parse_qs(urlsplit(local.client_id).query)
    assert local.client_id.startswith("http://localhost?")
    assert asked == {"redirect_uri": ["http://127.0.0.1:8080/me/follows/bluesky/callback"],
                     "scope": [oauth.SCOPE]}  # fmt: skip
    public = oauth.client_for("https://hqx.example")
    assert public.client_id == "https://hqx.example/oauth/client-metadata.json"
    assert public.redirect_uri == "https://hqx.example/me/follows/bluesky/callback"


def test_the_metadata_document_is_served_as_authorization_servers_read_it(
    engine: Engine, database_url: str
) -> None:
    settings = Settings(database_url=database_url, public_url="https://hqx.example")

    async def main() -> tuple[int, dict[str, Any]]:
        async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as client:
            answer = await client.get("/oauth/client-metadata.json")
            return answer.status, await answer.json()

    status, document = asyncio.run(main())
    assert status == 200
    assert document["client_id"] == "https://hqx.example/oauth/client-metadata.json"
    assert document["redirect_uris"] == ["https://hqx.example/me/follows/bluesky/callback"]
    assert document["dpop_bound_access_tokens"] is True
    assert document["token_endpoint_auth_method"] == "none"
    assert set(document["scope"].split()) >= {"atproto"}
    assert document["grant_types"] == ["authorization_code", "refresh_token"]


def test_a_grant_is_kept_whole_and_a_session_with_the_password_is_told_apart() -> None:
    def jwt(claims: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return f"e30.{body}.sig"

    grant = oauth.Grant("did:plc:a", "https://pds.example", jwt({"scope": "com.atproto.appPass",
                        "exp": 2_000_000_000}), "r", 1.0, kind="password")  # fmt: skip
    assert oauth.Grant.loads(grant.dumps()) == grant
    assert not acting.full_access(grant)
    own = oauth.Grant("did:plc:a", "p", jwt({"scope": "com.atproto.access"}), "r", 1.0)
    assert acting.full_access(own)
    with pytest.raises(oauth.OAuthError, match="cannot be read"):
        oauth.Grant.loads('{"did": 1}')
