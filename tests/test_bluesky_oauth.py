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
from hqx.outbound import OutboundClient
from shared.config import Settings
from shared.outbound import Policy

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def _part(token: str, index: int) -> dict[str, Any]:
    piece = token.split(".")[index]
    return dict(json.loads(base64.urlsafe_b64decode(piece + "=" * (-len(piece) % 4))))


def verify(token: str, jwk: dict[str, str] | None = None) -> dict[str, Any]:
    """What a server checks of a JWS: its signature by ``jwk`` (a DPoP proof: the key its
    header carries, never the private one); its claims."""
    header = _part(token, 0)
    assert header["alg"] == "ES256"
    if jwk is None:
        assert header["typ"] == "dpop+jwt"
        assert "d" not in header["jwk"], "never the private key"
        jwk = header["jwk"]
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(base64.urlsafe_b64decode(jwk["x"] + "=="), "big"),
        int.from_bytes(base64.urlsafe_b64decode(jwk["y"] + "=="), "big"),
        ec.SECP256R1(),
    )
    signing_input, signature = token.rsplit(".", 1)
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    numbers.public_key().verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    return _part(token, 1)


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
    local = oauth.client_for("http://127.0.0.1:8080/", "a-secret")
    asked = parse_qs(urlsplit(local.client_id).query)
    assert local.client_id.startswith("http://localhost?")
    assert asked == {"redirect_uri": ["http://127.0.0.1:8080/me/follows/bluesky/callback"],
                     "scope": [oauth.SCOPE]}  # fmt: skip
    public = oauth.client_for("https://hqx.example", "a-secret")
    assert public.client_id == "https://hqx.example/oauth/client-metadata.json"
    assert public.redirect_uri == "https://hqx.example/me/follows/bluesky/callback"


def test_the_metadata_document_is_served_as_authorization_servers_read_it(
    engine: Engine, database_url: str
) -> None:
    secret = "the-service-secret-key-0123456789abcdef"
    settings = Settings(database_url=database_url, public_url="https://hqx.example",
                        secret_key=secret)  # fmt: skip

    async def main() -> tuple[int, dict[str, Any]]:
        async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as client:
            answer = await client.get("/oauth/client-metadata.json")
            return answer.status, await answer.json()

    status, document = asyncio.run(main())
    assert status == 200
    assert document["client_id"] == "https://hqx.example/oauth/client-metadata.json"
    assert document["redirect_uris"] == ["https://hqx.example/me/follows/bluesky/callback"]
    assert document["dpop_bound_access_tokens"] is True
    assert document["application_type"] == "web"
    assert set(document["scope"].split()) >= {"atproto"}
    assert document["grant_types"] == ["authorization_code", "refresh_token"]
    # Confidential: two years of grant rather than two weeks, by a key only it holds.
    assert document["token_endpoint_auth_method"] == "private_key_jwt"
    assert document["token_endpoint_auth_signing_alg"] == "ES256"
    [key] = document["jwks"]["keys"]
    assert "d" not in key and key["kid"] == oauth.client_key(secret).kid
    assert key["use"] == "sig" and key["alg"] == "ES256"


def test_the_client_authenticates_with_an_assertion_its_published_key_verifies() -> None:
    secret = "the-service-secret-key-0123456789abcdef"
    client = oauth.client_for("https://hqx.example", secret)
    published = oauth.client_metadata("https://hqx.example", secret)["jwks"]["keys"][0]
    form = client.auth("https://bsky.social")
    assert form["client_id"] == client.client_id
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    claims = verify(form["client_assertion"], published)
    assert claims["iss"] == claims["sub"] == client.client_id
    assert claims["aud"] == "https://bsky.social" and claims["jti"]
    assert 0 < claims["exp"] - claims["iat"] <= 60
    assert _part(form["client_assertion"], 0)["kid"] == published["kid"]
    assert oauth.client_key(secret).kid == oauth.client_key(secret).kid, "the same each start"
    assert oauth.client_key("another-secret").kid != published["kid"]
    loopback = oauth.client_for("http://127.0.0.1:8080", secret)
    assert loopback.auth("https://bsky.social") == {"client_id": loopback.client_id}


def test_a_confidential_grant_is_renewed_only_with_the_services_key() -> None:
    dpop = oauth.DpopKey.generate().jwk(private=True)
    grant = oauth.Grant("did:plc:a", "https://pds.example", "at", "rt", 0.0,
                        issuer="https://pds.example", token_endpoint="https://pds.example/t",
                        client_id="https://hqx.example/oauth/client-metadata.json",
                        confidential=True, dpop=dpop)  # fmt: skip

    async def renew() -> None:
        http = OutboundClient(Policy())
        try:
            await oauth.refresh(http, grant)
        finally:
            await http.close()

    with pytest.raises(oauth.OAuthError, match="confidential client"):
        asyncio.run(renew())


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
