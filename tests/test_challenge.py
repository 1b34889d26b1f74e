"""Link challenge codes: short, bound to both accounts, expiring, unforgeable."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.identity import challenge
from shared.identity.challenge import Binding, ChallengeError
from shared.vocabulary import Network

KEY = "k" * 48
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ALICE = Binding(
    requester_id=7,
    requester_subject="did:plc:alice",
    target_network=Network.MASTODON,
    target_subject="https://mastodon.test/users/alice",
)


def issued(binding: Binding = ALICE, **kwargs: object) -> str:
    return challenge.issue(KEY, binding, now=NOW, **kwargs)  # type: ignore[arg-type]


def check(text: str, binding: Binding = ALICE, now: datetime = NOW) -> None:
    challenge.verify(KEY, challenge.read(text), binding, now=now)


def test_a_code_is_short_and_verifies_for_its_two_accounts() -> None:
    text = issued()
    assert text.startswith("HQX-")
    assert len(text) <= 32, "short enough to copy by hand"
    check(text)
    code = challenge.read(text)
    assert code.requester_id == 7
    assert code.expires_at == NOW + timedelta(hours=24)


@pytest.mark.parametrize(
    "other",
    [
        Binding(8, "did:plc:alice", Network.MASTODON, "https://mastodon.test/users/alice"),
        Binding(7, "did:plc:mallory", Network.MASTODON, "https://mastodon.test/users/alice"),
        Binding(7, "did:plc:alice", Network.BLUESKY, "https://mastodon.test/users/alice"),
        Binding(7, "did:plc:alice", Network.MASTODON, "https://mastodon.test/users/mallory"),
        # A look-alike account (Cyrillic a, U+0430) is another subject.
        Binding(7, "did:plc:alice", Network.MASTODON, "https://mastodon.test/users/\u0430lice"),
    ],
    ids=["other-requester-id", "other-requester", "other-network", "other-target", "confusable"],
)
def test_a_code_proves_nothing_for_other_accounts(other: Binding) -> None:
    with pytest.raises(ChallengeError) as raised:
        check(issued(), other)
    assert raised.value.reason == "forged"


def test_a_code_expires() -> None:
    text = issued(ttl=timedelta(hours=1))
    check(text, now=NOW + timedelta(minutes=59))
    with pytest.raises(ChallengeError) as raised:
        check(text, now=NOW + timedelta(hours=1))
    assert raised.value.reason == "expired"


def test_an_expired_code_cannot_be_extended_by_editing_it() -> None:
    text = issued(ttl=timedelta(minutes=5))
    code = challenge.read(text)
    later = replace(code, expires_at=code.expires_at + timedelta(days=1))
    with pytest.raises(ChallengeError) as raised:
        challenge.verify(KEY, later, ALICE, now=NOW + timedelta(hours=1))
    assert raised.value.reason == "forged"


@given(
    position=st.integers(min_value=4),
    replacement=st.sampled_from("0123456789ABCDEFGHJKMNPQRSTVWXYZ"),
)
def test_any_changed_character_is_caught(position: int, replacement: str) -> None:
    text = issued(nonce=b"\x01\x02\x03")
    chars = [i for i, c in enumerate(text) if c != "-" and i >= 4]
    at = chars[position % len(chars)]
    tampered = text[:at] + replacement + text[at + 1 :]
    if tampered == text:
        return
    with pytest.raises(ChallengeError) as raised:
        check(tampered)
    assert raised.value.reason in ("forged", "malformed")


@given(
    requester_id=st.integers(min_value=0, max_value=2**40), nonce=st.binary(min_size=3, max_size=3)
)
def test_every_identity_id_and_nonce_round_trips(requester_id: int, nonce: bytes) -> None:
    binding = Binding(requester_id, "did:plc:x", Network.BLUESKY, "did:plc:y")
    text = challenge.issue(KEY, binding, now=NOW, nonce=nonce)
    code = challenge.read(text)
    assert (code.requester_id, code.nonce) == (requester_id, nonce)
    challenge.verify(KEY, code, binding, now=NOW)


def test_codes_are_found_in_text_and_read_leniently() -> None:
    text = issued()
    assert challenge.find(f"Voici mon code : {text} merci !") == text
    assert challenge.find(f"{text}.") == text
    assert challenge.find("no code here, HQX is a name") is None
    sloppy = text.lower().replace("-", "").replace("0", "o").replace("1", "l")
    check(sloppy)


@pytest.mark.parametrize(
    "text", ["HQX-", "HQX-ABCD", "XYZ-0000-0000-0000-0000-0000", "HQX-UUUU-UUUU"]
)
def test_malformed_codes_are_named_as_such(text: str) -> None:
    with pytest.raises(ChallengeError) as raised:
        challenge.read(text)
    assert raised.value.reason == "malformed"


def test_another_key_verifies_nothing() -> None:
    with pytest.raises(ChallengeError):
        challenge.verify("other" * 10, challenge.read(issued()), ALICE, now=NOW)


def test_codes_signed_by_a_key_rotated_out_verify_while_it_is_kept() -> None:
    old = issued()
    new_key = "another-secret-key-for-tests-0123456789"
    assert challenge.read(old).key_id == challenge.key_id(KEY), "a code names its key"
    challenge.verify(new_key, challenge.read(old), ALICE, now=NOW, old_keys=(KEY,))
    with pytest.raises(ChallengeError) as raised:  # once the old key is dropped, it is gone
        challenge.verify(new_key, challenge.read(old), ALICE, now=NOW)
    assert raised.value.reason == "forged"
    # Codes of the first format (no key id, issued before this release) still verify.
    first_format = _first_format(ALICE, nonce=b"\x01\x02\x03")
    code = challenge.read(first_format)
    assert code.key_id is None and code.digest == "010203", "known by its nonce, as stored then"
    challenge.verify(KEY, code, ALICE, now=NOW)


def test_two_peoples_codes_with_the_same_nonce_are_two_codes() -> None:
    bob = Binding(8, "did:plc:bob", Network.MASTODON, "https://mastodon.test/users/bob")
    alices, bobs = issued(nonce=b"\x00\x00\x01"), issued(bob, nonce=b"\x00\x00\x01")
    assert challenge.read(alices).digest != challenge.read(bobs).digest


def _first_format(binding: Binding, nonce: bytes) -> str:
    """A code as the first release wrote it: no key id."""
    minutes = int((NOW + challenge.DEFAULT_TTL - challenge.EPOCH).total_seconds() // 60)
    clear = bytes([binding.requester_id]) + minutes.to_bytes(3, "big") + nonce
    return challenge._text(clear + challenge._mac(KEY, binding, clear))
