"""AT Protocol OAuth, as a client acting for a person (https://atproto.com/specs/oauth):
their authorization server found from their PDS, a pushed authorization request (PAR) with
PKCE (S256), tokens bound to a key of ours by DPoP (ES256), each server's DPoP nonce
learned and retried once, refresh, revocation.

On a public portal the service is a confidential client: its ``client_id`` is the address
of its metadata document (:func:`client_metadata`), which publishes the public half of a
signing key derived from ``HQX_SECRET_KEY``, and it authenticates with a client assertion
signed by it (``private_key_jwt``): authorization servers keep a confidential client's
grants for up to two years, renewed every three months, where a public client's end after
two weeks (Bluesky's ``oauth-provider``: ``SESSION_LIFETIME`` and
``SESSION_LIFETIME_EXTENDED``), and people grant before the cutover. On a portal served on
loopback (development, the sandbox, tests) it is AT Protocol's loopback client, public by
definition, which needs no document.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.errors import HqxError
from shared.outbound import OutboundError

if TYPE_CHECKING:
    from shared.outbound import Outbound

SCOPE = "atproto transition:generic"
"""What a follow needs on a PDS today (``transition:generic``: record writes; the granular
``repo:`` scopes are not offered by every PDS yet)."""
METADATA_PATH = "/oauth/client-metadata.json"
CALLBACK_PATH = "/me/follows/bluesky/callback"
ANSWER_MAX_BYTES = 256 * 1024
DEADLINE_SEC = 15.0
REFRESH_MARGIN_SEC = 60.0
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class OAuthError(HqxError):
    """A server refused, or answered what an AT Protocol OAuth server would not."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def pkce() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    return verifier, _b64(hashlib.sha256(verifier.encode()).digest())


class DpopKey:
    """The key that access tokens are bound to (ES256), kept with the grant."""

    def __init__(self, private: ec.EllipticCurvePrivateKey) -> None:
        self._private = private

    @classmethod
    def generate(cls) -> DpopKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_jwk(cls, jwk: dict[str, str]) -> DpopKey:
        if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256" or "d" not in jwk:
            raise OAuthError("a DPoP key must be a private P-256 key")
        secret = int.from_bytes(_unb64(jwk["d"]), "big")
        return cls(ec.derive_private_key(secret, ec.SECP256R1()))

    def jwk(self, *, private: bool = False) -> dict[str, str]:
        numbers = self._private.public_key().public_numbers()
        public = {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
        }
        if not private:
            return public
        secret = self._private.private_numbers().private_value
        return public | {"d": _b64(secret.to_bytes(32, "big"))}

    @classmethod
    def derived(cls, secret: str, purpose: str) -> DpopKey:
        """The same key each time for the same secret and purpose (HKDF-SHA256)."""
        seed = HKDF(algorithm=hashes.SHA256(), length=48, salt=None,
                    info=f"helloquittex {purpose}".encode()).derive(secret.encode())  # fmt: skip
        scalar = int.from_bytes(seed, "big") % (_P256_ORDER - 1) + 1
        return cls(ec.derive_private_key(scalar, ec.SECP256R1()))

    @property
    def kid(self) -> str:
        """The key's JWK thumbprint (RFC 7638)."""
        public = self.jwk()
        canonical = json.dumps({k: public[k] for k in ("crv", "kty", "x", "y")},
                               separators=(",", ":"))  # fmt: skip
        return _b64(hashlib.sha256(canonical.encode()).digest())

    def sign(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        """A compact JWS (ES256) of ``claims``."""
        signing_input = ".".join(
            _b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        der = self._private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def assertion(self, client_id: str, issuer: str) -> str:
        """A client assertion for ``issuer`` (RFC 7523): the client authenticating."""
        now = int(time.time())
        claims = {"iss": client_id, "sub": client_id, "aud": issuer,
                  "jti": secrets.token_urlsafe(16), "iat": now, "exp": now + 60}  # fmt: skip
        return self.sign({"alg": "ES256", "kid": self.kid, "typ": "JWT"}, claims)

    def proof(
        self, method: str, url: str, *, nonce: str | None = None, token: str | None = None
    ) -> str:
        """A DPoP proof for one request (``token``: the access token it carries)."""
        parts = urlsplit(url)
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method,
            "htu": f"{parts.scheme}://{parts.netloc}{parts.path}",  # no query, no fragment
            "iat": int(time.time()),
        }
        if nonce:
            claims["nonce"] = nonce
        if token:
            claims["ath"] = _b64(hashlib.sha256(token.encode()).digest())
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk()}
        return self.sign(header, claims)


def client_key(secret: str) -> DpopKey:
    """The service's client-authentication key, derived from its secret."""
    return DpopKey.derived(secret, "oauth client assertion")


@dataclass(frozen=True, slots=True)
class Client:
    """Who we are to authorization servers (``key``: a confidential client's)."""

    client_id: str
    redirect_uri: str
    scope: str = SCOPE
    key: DpopKey | None = None

    def auth(self, issuer: str) -> dict[str, str]:
        """What authenticates us in a request to ``issuer``."""
        return _client_auth(self.client_id, self.key, issuer)


def _client_auth(client_id: str, key: DpopKey | None, issuer: str) -> dict[str, str]:
    if key is None:
        return {"client_id": client_id}
    return {"client_id": client_id, "client_assertion_type": JWT_BEARER,
            "client_assertion": key.assertion(client_id, issuer)}  # fmt: skip


def client_for(public_url: str, secret: str | None) -> Client:
    """The portal's client: its metadata document's address, confidential (a key derived
    from ``secret``); or, served on loopback, the loopback client id that names its
    redirect and scope."""
    base = public_url.rstrip("/")
    redirect_uri = f"{base}{CALLBACK_PATH}"
    if urlsplit(base).hostname in {h.strip("[]") for h in LOOPBACK_HOSTS}:
        query = urlencode({"redirect_uri": redirect_uri, "scope": SCOPE})
        return Client(f"http://localhost?{query}", redirect_uri)
    key = client_key(secret) if secret else None
    return Client(f"{base}{METADATA_PATH}", redirect_uri, key=key)


def client_metadata(
    public_url: str, secret: str | None, name: str = "HelloQuitteX"
) -> dict[str, Any]:
    """The client metadata document served at :data:`METADATA_PATH`."""
    client = client_for(public_url, secret)
    document: dict[str, Any] = {
        "client_id": client.client_id,
        "client_name": name,
        "client_uri": public_url.rstrip("/"),
        "application_type": "web",
        "redirect_uris": [client.redirect_uri],
        "scope": client.scope,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "dpop_bound_access_tokens": True,
    }
    if client.key is not None:
        public = client.key.jwk() | {"kid": client.key.kid, "use": "sig", "alg": "ES256"}
        document |= {
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "jwks": {"keys": [public]},
        }
    return document


@dataclass(frozen=True, slots=True)
class AuthServer:
    """A person's authorization server, as its metadata describes it."""

    issuer: str
    par: str
    authorize: str
    token: str
    revocation: str | None


@dataclass(frozen=True, slots=True)
class Grant:
    """What acting as a person on Bluesky takes; kept sealed (JSON) with their grant."""

    did: str
    pds: str
    access: str
    refresh: str
    expires_at: float
    """On the epoch's clock."""
    kind: str = "oauth"
    """``oauth`` (DPoP-bound tokens) or ``password`` (a session opened with an app password)."""
    issuer: str = ""
    token_endpoint: str = ""
    revocation_endpoint: str | None = None
    client_id: str = ""
    confidential: bool = False
    """Granted to the service as a confidential client: renewals must authenticate it."""
    dpop: dict[str, str] = field(default_factory=dict)
    """The private JWK of the DPoP key (``oauth``)."""
    nonces: dict[str, str] = field(default_factory=dict)
    """The last DPoP nonce of each server (origin)."""

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, text: str) -> Grant:
        try:
            return cls(**json.loads(text))
        except (TypeError, ValueError) as e:
            raise OAuthError(f"a Bluesky grant that cannot be read: {e}") from e

    @property
    def due_for_refresh(self) -> bool:
        return time.time() > self.expires_at - REFRESH_MARGIN_SEC


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


async def fetch(
    http: Outbound,
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
) -> Answer:
    """One request through the service's guarded client, its JSON answer read within
    bounds (whatever its status)."""
    try:
        answer = await http.request(
            method, url, headers=headers, form=form, json=body, max_bytes=ANSWER_MAX_BYTES,
            deadline_sec=DEADLINE_SEC,
        )  # fmt: skip
    except OutboundError as e:
        raise OAuthError(f"{url} could not be reached: {e}") from e
    try:
        parsed = json.loads(answer.body or b"{}")
    except ValueError:
        parsed = {"error": "not_json"}
    return Answer(
        answer.status,
        dict(answer.headers),
        parsed if isinstance(parsed, dict) else {"value": parsed},
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _expect(answer: Answer, what: str, *keys: str) -> dict[str, Any]:
    if answer.status >= 400:
        error = answer.body.get("error_description") or answer.body.get("message") or ""
        raise OAuthError(f"{what}: {answer.status} {answer.body.get('error', '')} {error}".strip())
    missing = [k for k in keys if not isinstance(answer.body.get(k), str)]
    if missing:
        raise OAuthError(f"{what}: the answer has no {', '.join(missing)}")
    return answer.body


async def discover(http: Outbound, pds: str) -> AuthServer:
    """The authorization server of a PDS (the PDS itself, or its entryway)."""
    base = pds.rstrip("/")
    resource = await fetch(http, "GET", f"{base}/.well-known/oauth-protected-resource")
    servers = _expect(resource, f"{base} as a resource server").get("authorization_servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], str):
        raise OAuthError(f"{base} names no authorization server")
    issuer = servers[0].rstrip("/")
    metadata = await fetch(http, "GET", f"{issuer}/.well-known/oauth-authorization-server")
    found = _expect(
        metadata, f"{issuer}'s metadata", "issuer", "pushed_authorization_request_endpoint",
        "authorization_endpoint", "token_endpoint",
    )  # fmt: skip
    if found["issuer"].rstrip("/") != issuer:
        raise OAuthError(f"{issuer}'s metadata names another issuer: {found['issuer']}")
    if "S256" not in found.get("code_challenge_methods_supported", ["S256"]):
        raise OAuthError(f"{issuer} does not take PKCE S256")
    revocation = found.get("revocation_endpoint")
    return AuthServer(
        issuer=issuer,
        par=found["pushed_authorization_request_endpoint"],
        authorize=found["authorization_endpoint"],
        token=found["token_endpoint"],
        revocation=revocation if isinstance(revocation, str) else None,
    )


async def dpop_request(
    http: Outbound,
    key: DpopKey,
    nonces: dict[str, str],
    method: str,
    url: str,
    *,
    token: str | None = None,
    form: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
) -> Answer:
    """A request with a DPoP proof; the server's nonce learned (``nonces``, per origin,
    updated in place) and the request made once more when it asks for a new one."""
    where = _origin(url)
    for _ in range(2):
        headers = {"DPoP": key.proof(method, url, nonce=nonces.get(where), token=token)}
        if token:
            headers["Authorization"] = f"DPoP {token}"
        answer = await fetch(http, method, url, headers=headers, form=form, body=body)
        if "dpop-nonce" in answer.headers:
            nonces[where] = answer.headers["dpop-nonce"]
        stale = answer.body.get("error") == "use_dpop_nonce" or (
            "use_dpop_nonce" in answer.headers.get("www-authenticate", "")
        )
        if not (stale and answer.status in {400, 401}):
            return answer
    return answer


@dataclass
class Started:
    """An authorization begun: where to send the person, and what the callback needs."""

    url: str
    state: str
    verifier: str
    issuer: str
    dpop: dict[str, str]
    nonces: dict[str, str]


async def start(http: Outbound, client: Client, server: AuthServer, login_hint: str) -> Started:
    """Push the authorization request (PAR); the address of the consent page."""
    key, nonces = DpopKey.generate(), dict[str, str]()
    verifier, challenge = pkce()
    state = secrets.token_urlsafe(24)
    form = client.auth(server.issuer) | {
        "response_type": "code",
        "redirect_uri": client.redirect_uri,
        "scope": client.scope,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "login_hint": login_hint,
    }
    pushed = await dpop_request(http, key, nonces, "POST", server.par, form=form)
    request_uri = _expect(pushed, f"{server.issuer} refused the request", "request_uri")
    query = urlencode({"client_id": client.client_id, "request_uri": request_uri["request_uri"]})
    return Started(
        f"{server.authorize}?{query}", state, verifier, server.issuer, key.jwk(private=True),
        nonces,
    )  # fmt: skip


async def finish(
    http: Outbound,
    client: Client,
    server: AuthServer,
    started: Started,
    code: str,
    pds: str,
) -> Grant:
    """Exchange the code for DPoP-bound tokens (the caller checks ``did`` is theirs)."""
    key, nonces = DpopKey.from_jwk(started.dpop), dict(started.nonces)
    form = client.auth(server.issuer) | {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": client.redirect_uri,
        "code_verifier": started.verifier,
    }
    answer = await dpop_request(http, key, nonces, "POST", server.token, form=form)
    tokens = _expect(answer, f"{server.issuer} refused the code", "access_token", "sub")
    if str(tokens.get("token_type", "")).lower() != "dpop":
        raise OAuthError(f"{server.issuer} gave a token not bound to our key")
    return Grant(
        did=tokens["sub"],
        pds=pds.rstrip("/"),
        access=tokens["access_token"],
        refresh=str(tokens.get("refresh_token", "")),
        expires_at=time.time() + float(tokens.get("expires_in", 300)),
        issuer=server.issuer,
        token_endpoint=server.token,
        revocation_endpoint=server.revocation,
        client_id=client.client_id,
        confidential=client.key is not None,
        dpop=started.dpop,
        nonces=nonces,
    )


def _grant_auth(grant: Grant, signer: DpopKey | None) -> dict[str, str]:
    """How the service authenticates about ``grant`` (``signer``: its client key)."""
    if grant.confidential and signer is None:
        raise OAuthError("the grant was given to the service as a confidential client")
    return _client_auth(grant.client_id, signer if grant.confidential else None, grant.issuer)


async def refresh(http: Outbound, grant: Grant, signer: DpopKey | None = None) -> Grant:
    """New tokens for an OAuth grant (the refresh token is used once); ``signer``: the
    service's client key, for a grant given to it as a confidential client."""
    if not grant.refresh:
        raise OAuthError("the grant has expired and cannot be renewed: connect again")
    key, nonces = DpopKey.from_jwk(grant.dpop), dict(grant.nonces)
    form = _grant_auth(grant, signer) | {
        "grant_type": "refresh_token",
        "refresh_token": grant.refresh,
    }
    answer = await dpop_request(http, key, nonces, "POST", grant.token_endpoint, form=form)
    tokens = _expect(answer, f"{grant.issuer} refused to renew the grant", "access_token", "sub")
    if tokens["sub"] != grant.did:
        raise OAuthError(f"{grant.issuer} renewed the grant for another account")
    return replace(
        grant,
        access=tokens["access_token"],
        refresh=str(tokens.get("refresh_token", grant.refresh)),
        expires_at=time.time() + float(tokens.get("expires_in", 300)),
        nonces=nonces,
    )


async def revoke(http: Outbound, grant: Grant, signer: DpopKey | None = None) -> None:
    """Tell the authorization server the grant is over (RFC 7009: any answer but 429 or
    5xx means it knows the token no more).

    Raises:
        OAuthError: it could not be told now.
    """
    if grant.kind != "oauth" or not grant.revocation_endpoint:
        return
    key, nonces = DpopKey.from_jwk(grant.dpop), dict(grant.nonces)
    for token in (grant.refresh, grant.access):
        if token:
            form = _grant_auth(grant, signer) | {"token": token}
            answer = await dpop_request(
                http, key, nonces, "POST", grant.revocation_endpoint, form=form
            )
            if answer.status == 429 or answer.status >= 500:
                raise OAuthError(f"{grant.issuer} answered {answer.status} to the revocation")
