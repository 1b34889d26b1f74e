"""Sealed secrets: readable only with the key and purpose they were sealed for."""

from __future__ import annotations

from shared import sealed

KEY = "a-secret-key-for-tests-only-0123456789"


def test_a_sealed_secret_opens_only_with_its_key_and_purpose() -> None:
    text = sealed.seal(KEY, "bluesky session", "access-jwt refresh-jwt")
    assert "jwt" not in text
    assert sealed.unseal(KEY, "bluesky session", text) == "access-jwt refresh-jwt"
    assert sealed.unseal("another-key-0123456789-0123456789", "bluesky session", text) is None
    assert sealed.unseal(KEY, "another purpose", text) is None
    # A character in the middle: every bit of it counts (the last ones may be padding bits,
    # which decode to the same bytes whatever they are).
    middle = len(text) // 2
    tampered = text[:middle] + ("A" if text[middle] != "A" else "B") + text[middle + 1 :]
    assert sealed.unseal(KEY, "bluesky session", tampered) is None
    assert sealed.unseal(KEY, "bluesky session", "access-jwt in clear") is None, "old rows"
    assert sealed.seal(KEY, "p", "same") != sealed.seal(KEY, "p", "same"), "a fresh nonce each"
