"""Link challenges: short codes a person posts from one account to prove it is theirs.

A code is a MAC under ``HQX_SECRET_KEY`` over the requesting identity (its database id and
its stable subject: DID or account URI), the target network and the target account's stable
subject (never a handle, so look-alike handles cannot match), an expiry and a nonce. It
carries the identity id, which key signed it, the expiry and the nonce in the clear, so it is
verified without looking anything up; single use is enforced where proofs are stored, by the
whole code (:attr:`Code.digest`): two people's codes never collide, however many proofs exist.

Keys rotate: codes name their key by a one-byte id, and keys set aside
(``HQX_OLD_SECRET_KEYS``) still verify the codes they signed until those expire.

Text form: ``HQX-`` then Crockford base32 in groups of four, e.g. ``HQX-0J4K-8M2P-…``;
reading is case-insensitive and forgiving of O/0, I/L/1, spaces and dashes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from shared.errors import HqxError

if TYPE_CHECKING:
    from shared.vocabulary import Network

PREFIX = "HQX"
DEFAULT_TTL = timedelta(hours=24)
MAC_BYTES = 6  # 48 bits: each guess costs a post on a rate-limited network
NONCE_BYTES = 3
KEY_ID_BYTES = 1
EXPIRY_BYTES = 3  # minutes since EPOCH: 31 years
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
GROUP = 4
_DOMAIN = b"helloquittex link challenge v1"
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
_READ = {c: i for i, c in enumerate(_ALPHABET)} | {"O": 0, "I": 1, "L": 1}
# "HQX" then base32 characters, possibly split by dashes (a space ends it: words follow).
_CODE_RE = re.compile(r"\bHQX(?:-?[0-9A-Z]){16,40}\b", re.IGNORECASE)


class ChallengeError(HqxError):
    """A code that proves nothing: :attr:`reason` says why, for the answer to the person."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Code:
    """What a code carries in the clear."""

    requester_id: int
    key_id: int | None
    """Which key signed it (``None``: a code of the first format, signed by the current key)."""
    expires_at: datetime
    nonce: bytes
    mac: bytes

    @property
    def digest(self) -> str:
        """The code as stored with its proof and its request (unique: a code is accepted
        once). It holds the requester, so two people's codes never collide. (A code of the
        first format is known by its nonce, as its proof was stored then.)"""
        if self.key_id is None:
            return self.nonce.hex()
        return (
            _varint(self.requester_id) + bytes(_key_prefix(self.key_id)) + self._clear_tail()
        ).hex() + self.mac.hex()

    def _clear_tail(self) -> bytes:
        minutes = int((self.expires_at - EPOCH).total_seconds() // 60)
        return minutes.to_bytes(EXPIRY_BYTES, "big") + self.nonce

    def signed(self) -> bytes:
        """What the MAC covers besides the two accounts."""
        return _varint(self.requester_id) + _key_prefix(self.key_id) + self._clear_tail()


def _key_prefix(key_id: int | None) -> bytes:
    return b"" if key_id is None else key_id.to_bytes(KEY_ID_BYTES, "big")


def key_id(key: str) -> int:
    """The one-byte id a code carries for the key that signed it."""
    return hashlib.sha256(_DOMAIN + b" key id" + key.encode()).digest()[0]


@dataclass(frozen=True, slots=True)
class Binding:
    """The two accounts a code is for."""

    requester_id: int
    requester_subject: str
    target_network: Network
    target_subject: str


def issue(
    key: str,
    binding: Binding,
    *,
    now: datetime,
    ttl: timedelta = DEFAULT_TTL,
    nonce: bytes | None = None,
) -> str:
    """A new code for ``binding``, valid until ``now + ttl`` (to the minute)."""
    minutes = int((now + ttl - EPOCH).total_seconds() // 60)
    if not 0 < minutes < 2 ** (8 * EXPIRY_BYTES):
        raise ValueError(f"expiry {now + ttl} is outside what a code can carry")
    nonce = nonce or secrets.token_bytes(NONCE_BYTES)
    clear = (
        _varint(binding.requester_id)
        + _key_prefix(key_id(key))
        + minutes.to_bytes(EXPIRY_BYTES, "big")
        + nonce
    )
    return _text(clear + _mac(key, binding, clear))


def find(text: str) -> str | None:
    """The first thing in ``text`` that looks like a code, or ``None``."""
    match = _CODE_RE.search(text)
    return match.group(0) if match else None


def read(text: str) -> Code:
    """Decode a code's text; :class:`ChallengeError` ``malformed`` if it is not one."""
    body = re.sub(r"[\s-]", "", text).upper()
    if not body.startswith(PREFIX):
        raise ChallengeError("malformed", f"{text!r} is not a helloquittex code")
    try:
        raw = _bytes(body[len(PREFIX) :])
        requester_id, rest = _read_varint(raw)
    except (KeyError, ValueError):
        raise ChallengeError("malformed", f"{text!r} is not a helloquittex code") from None
    fixed = EXPIRY_BYTES + NONCE_BYTES + MAC_BYTES
    if len(rest) == fixed:  # the first format, without a key id
        identified: int | None = None
    elif len(rest) == KEY_ID_BYTES + fixed:
        identified, rest = int.from_bytes(rest[:KEY_ID_BYTES], "big"), rest[KEY_ID_BYTES:]
    else:
        raise ChallengeError("malformed", f"{text!r} has the wrong length")
    minutes = int.from_bytes(rest[:EXPIRY_BYTES], "big")
    nonce = rest[EXPIRY_BYTES : EXPIRY_BYTES + NONCE_BYTES]
    return Code(
        requester_id, identified, EPOCH + timedelta(minutes=minutes), nonce, rest[-MAC_BYTES:]
    )


def verify(
    key: str, code: Code, binding: Binding, *, now: datetime, old_keys: tuple[str, ...] = ()
) -> None:
    """Check that ``code`` was issued for ``binding`` and has not expired: signed by ``key``,
    or by one of ``old_keys`` (keys rotated out, kept while their codes may live).

    Raises:
        ChallengeError: ``forged`` (not issued by us for these two accounts: tampered, posted
            by someone else, or for another account) or ``expired``.
    """
    if code.key_id is None:
        candidates = [key]
    else:
        candidates = [k for k in (key, *old_keys) if key_id(k) == code.key_id]
    clear = code.signed()
    genuine = any(hmac.compare_digest(_mac(k, binding, clear), code.mac) for k in candidates)
    if code.requester_id != binding.requester_id or not genuine:
        raise ChallengeError("forged", "the code was not issued for these two accounts")
    if now >= code.expires_at:
        raise ChallengeError("expired", f"the code expired at {code.expires_at.isoformat()}")


def _mac(key: str, binding: Binding, clear: bytes) -> bytes:
    fields = (
        binding.requester_subject,
        binding.target_network,
        binding.target_subject,
    )
    message = _DOMAIN + b"".join(len(f.encode()).to_bytes(2, "big") + f.encode() for f in fields)
    return hmac.new(key.encode(), message + clear, hashlib.sha256).digest()[:MAC_BYTES]


def _varint(value: int) -> bytes:
    if value < 0:
        raise ValueError(f"identity id {value} is negative")
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(raw: bytes) -> tuple[int, bytes]:
    value = 0
    for position, byte in enumerate(raw[:9]):
        value |= (byte & 0x7F) << (7 * position)
        if not byte & 0x80:
            return value, raw[position + 1 :]
    raise ValueError("unterminated identity id")


def _text(raw: bytes) -> str:
    number, bits = int.from_bytes(raw, "big"), 8 * len(raw)
    chars = -(-bits // 5)
    number <<= 5 * chars - bits
    body = "".join(_ALPHABET[(number >> (5 * (chars - 1 - i))) & 31] for i in range(chars))
    groups = [body[i : i + GROUP] for i in range(0, len(body), GROUP)]
    return "-".join([PREFIX, *groups])


def _bytes(body: str) -> bytes:
    number = 0
    for char in body:
        number = (number << 5) | _READ[char]
    length = 5 * len(body) // 8
    padding = 5 * len(body) - 8 * length
    if number & ((1 << padding) - 1):  # one text per code: padding bits must be zero
        raise ValueError("non-zero padding")
    return (number >> padding).to_bytes(length, "big")
