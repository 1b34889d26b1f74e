"""A form that only its own page, in the browser that opened it, can post: the page sets a
nonce in a cookie of its own and writes into its form a proof made of that nonce, the link's
token and the service's key. Another site's form (login CSRF: signing a victim into the
attacker's space) has neither the cookie (``SameSite``) nor the proof; a forwarded link
opened in another browser makes a new nonce, so a proof copied from elsewhere fails."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from hqx.state import SETTINGS

if TYPE_CHECKING:
    from aiohttp import web

NONCE_SEC = 3600
FIELD = "page"
_NONCE_RE = re.compile(r"^[\w-]{20,64}$")


@dataclass(frozen=True, slots=True)
class Proof:
    """What a page's form carries, and the nonce its cookie keeps."""

    value: str
    nonce: str


@dataclass(frozen=True, slots=True)
class PageProof:
    """One kind of page: its cookie (for ``path`` and below), and what its proofs are for."""

    cookie: str
    path: str
    purpose: str
    samesite: str = "Strict"

    def _make(self, key: str, token: str, nonce: str) -> str:
        message = f"{self.purpose}|{token}|{nonce}".encode()
        return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()

    def offer(self, request: web.Request, token: str) -> Proof:
        """The proof for ``token``'s page in this browser (its nonce kept, or a new one)."""
        nonce = request.cookies.get(self.cookie, "")
        if not _NONCE_RE.match(nonce):
            nonce = secrets.token_urlsafe(24)
        key = request.app[SETTINGS].require_secret_key()
        return Proof(self._make(key, token, nonce), nonce)

    def keep(self, request: web.Request, response: web.StreamResponse, proof: Proof) -> None:
        """Set the page's cookie (when the browser does not hold this nonce yet)."""
        if request.cookies.get(self.cookie) == proof.nonce:
            return
        response.set_cookie(
            self.cookie, proof.nonce, path=self.path, max_age=NONCE_SEC, httponly=True,
            samesite=self.samesite,
            secure=(request.app[SETTINGS].public_url or "").startswith("https:"),
        )  # fmt: skip

    def check(self, request: web.Request, token: str, sent: object) -> bool:
        """Whether a posted form comes from ``token``'s page in this browser (and, where the
        browser says where it comes from, from this site)."""
        if not same_origin(request):
            return False
        nonce = request.cookies.get(self.cookie, "")
        key = request.app[SETTINGS].secret_key
        if not key or not _NONCE_RE.match(nonce) or not isinstance(sent, str):
            return False
        return hmac.compare_digest(sent, self._make(key, token, nonce))


def same_origin(request: web.Request) -> bool:
    """Whether the request's ``Origin`` (when the browser names one) is the portal's.
    ``null`` names none: browsers send it for a form of a page served with
    ``Referrer-Policy: no-referrer``, as the portal's are (the proof and its cookie still
    decide)."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return True
    public = request.app[SETTINGS].public_url
    allowed = {f"{request.scheme}://{request.host}"}
    if public:
        parts = urlsplit(public)
        allowed.add(f"{parts.scheme}://{parts.netloc}")
    return origin in allowed
