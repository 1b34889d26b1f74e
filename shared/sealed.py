"""Secrets the service must keep across restarts (a bot's session tokens), sealed at rest:
AES-GCM under a key derived (HKDF-SHA256) from ``HQX_SECRET_KEY`` for one purpose, so a copy
of the database alone reveals nothing, and a changed key just means logging in again."""

from __future__ import annotations

import base64
import binascii
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "sealed1:"
_NONCE_BYTES = 12


def _key(secret: str, purpose: str) -> AESGCM:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"helloquittex " + purpose.encode()
    ).derive(secret.encode())
    return AESGCM(derived)


def seal(secret: str, purpose: str, plain: str) -> str:
    """``plain``, encrypted and authenticated for ``purpose``, as text."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = _key(secret, purpose).encrypt(nonce, plain.encode(), purpose.encode())
    return VERSION + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(secret: str, purpose: str, text: str) -> str | None:
    """What :func:`seal` sealed; ``None`` when ``text`` was not sealed by this key for this
    purpose (another key, tampered, or stored in clear by an earlier release)."""
    if not text.startswith(VERSION):
        return None
    try:
        raw = base64.urlsafe_b64decode(text[len(VERSION) :])
        nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        return _key(secret, purpose).decrypt(nonce, sealed, purpose.encode()).decode()
    except (InvalidTag, ValueError, binascii.Error):
        return None
