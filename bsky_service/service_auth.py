"""AT Protocol service auth, as the service that receives it (https://atproto.com/specs/xrpc,
"Inter-Service Authentication"): a short JWT a person's PDS signs with their account's
signing key (``com.atproto.server.getServiceAuth``), naming this service (``aud``) and the
method (``lxm``); checked against the ``#atproto`` key of the issuer's DID document. And the
service's own identity: a ``did:web`` named for the portal's host, and its document."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from atproto_server.auth.jwt import (
    TokenDecodeError,
    TokenExpiredSignatureError,
    TokenImmatureSignatureError,
    TokenInvalidAudienceError,
    TokenInvalidIssuedAtError,
    TokenInvalidSignatureError,
    verify_jwt_async,
)

from bsky_service.identity import IdentityError
from shared.errors import HqxError

if TYPE_CHECKING:
    from bsky_service.identity import DidDocuments

SERVICE_ID = "#helloquittex_registry"
SERVICE_TYPE = "HelloQuitteXRegistry"
LONGEST_SEC = 3600
"""Tokens that would live longer than this are refused (PDSes give 60 s by default, an hour
at most)."""

_REFUSED = (
    TokenDecodeError,
    TokenExpiredSignatureError,
    TokenImmatureSignatureError,
    TokenInvalidAudienceError,
    TokenInvalidIssuedAtError,
    TokenInvalidSignatureError,
)


class ServiceAuthError(HqxError):
    """The token does not prove who asks (for this service and this method)."""


def service_did(public_url: str) -> str:
    """The service's ``did:web``: its host, a port encoded as ``%3A``."""
    netloc = urlsplit(public_url).netloc
    return f"did:web:{quote(netloc, safe='')}"


def did_document(public_url: str) -> dict[str, Any]:
    """The document served at ``/.well-known/did.json``: who the service is, where it
    answers."""
    did = service_did(public_url)
    return {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": did,
        "service": [
            {
                "id": SERVICE_ID,
                "type": SERVICE_TYPE,
                "serviceEndpoint": public_url.rstrip("/"),
            }
        ],
    }


async def verify(token: str, *, audience: str, method: str, documents: DidDocuments) -> str:
    """The DID that signed ``token`` for ``audience`` and ``method``; raises
    :class:`ServiceAuthError` otherwise. The issuer's document is read through the service's
    guarded client (``documents``), its DID checked first."""

    async def signing_key(issuer: str, fresh: bool) -> str:
        try:
            return await documents.signing_key(issuer.split("#")[0], fresh=fresh)
        except IdentityError as e:
            raise ServiceAuthError(f"the issuer gives no key: {e}") from e

    try:
        payload = await verify_jwt_async(token, signing_key, own_did=audience)
    except _REFUSED as e:
        raise ServiceAuthError(f"the token is refused: {e}") from e
    lxm = (payload.model_extra or {}).get("lxm")
    if lxm != method:
        raise ServiceAuthError(f"the token is for {lxm or 'any method'}, not {method}")
    if payload.exp is None or payload.exp > time.time() + LONGEST_SEC:
        raise ServiceAuthError("the token must expire within the hour")
    if payload.iss is None or not payload.iss.startswith("did:"):
        raise ServiceAuthError("the token names no DID as its issuer")
    return str(payload.iss).split("#")[0]
