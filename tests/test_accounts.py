"""Reading the account a person names."""

from __future__ import annotations

import pytest

from shared.identity.addresses import Named, parse_account
from shared.vocabulary import Network


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("alice.bsky.social", Named(Network.BLUESKY, "alice.bsky.social")),
        ("@Alice.BSKY.social.", Named(Network.BLUESKY, "alice.bsky.social")),
        ("https://bsky.app/profile/alice.test", Named(Network.BLUESKY, "alice.test")),
        ("alice@mastodon.social", Named(Network.MASTODON, "alice@mastodon.social")),
        ("@Alice@Mastodon.Social", Named(Network.MASTODON, "Alice@mastodon.social")),
        ("camille@127.0.0.1:8080", Named(Network.MASTODON, "camille@127.0.0.1:8080")),
        ("https://piaille.fr/@camille", Named(Network.MASTODON, "camille@piaille.fr")),
        ("X", Named(Network.X, "x")),
        ("twitter", Named(Network.X, "x")),
    ],
)
def test_accounts_are_read_from_what_people_write(text: str, named: Named) -> None:
    assert parse_account(text) == named


@pytest.mark.parametrize("text", ["", "bonjour", "@alice", "alice@", "http://example.com/x", "a b"])
def test_words_that_name_no_account(text: str) -> None:
    assert parse_account(text) is None
