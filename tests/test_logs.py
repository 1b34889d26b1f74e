"""The service's logs carry nothing that identifies a person, as text or as JSON lines."""

from __future__ import annotations

import json
import logging

import pytest

from hqx import logs
from shared.config import Settings

PERSONAL = [
    "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
    "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3kabc",
    "alice@mastodon.example",
    "@alice@mastodon.example",
    "https://mastodon.example/users/alice",
    "https://mastodon.example/@alice",
    "@alice.bsky.social",
    "1346889436626259968",  # an X id
    "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
    "kJ3n0_q9ZbT1x8vYw2uE4rA7sD6fG5hJ1kL0mN9pQ8",  # a token
]
"""What must never reach a log line, as it would appear in a message or an error."""
KEPT = [
    "matched 1234 people again",
    "waiting for the database lease: until 2026-12-02T10:00:00.000Z",
    "http://127.0.0.1:54983/healthz answered 503",
    "mastodon: receiving failed (timeout); trying again",
]
"""What an operator needs, unchanged."""


@pytest.mark.parametrize("personal", PERSONAL)
def test_what_identifies_a_person_is_replaced_by_a_digest(personal: str) -> None:
    said = logs.redact(f"delivering to {personal} failed: 400 ({personal})")
    assert personal not in said
    first, second = said.split("[#")[1][:8], said.split("[#")[2][:8]
    assert first == second, "the same account, the same digest: it can be followed"


@pytest.mark.parametrize("line", KEPT)
def test_what_an_operator_needs_is_left_as_it_is(line: str) -> None:
    assert logs.redact(line) == line


def test_json_lines_carry_the_record_and_its_exception_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure(Settings("sqlite:///unused.db", log_format="json", log_level="INFO"))
    log = logging.getLogger("hqx.test")
    try:
        try:
            raise ValueError(f"no such account: {PERSONAL[2]}")
        except ValueError:
            log.exception("following %s for %s failed", PERSONAL[0], PERSONAL[3])
        log.info("matched %d people again", 3)
    finally:
        logging.getLogger().handlers.clear()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["level"], line["logger"]) for line in lines] == [
        ("ERROR", "hqx.test"), ("INFO", "hqx.test"),
    ]  # fmt: skip
    assert lines[0]["message"].startswith("following [#")
    assert "ValueError: no such account: [#" in lines[0]["exception"]
    assert lines[1]["message"] == "matched 3 people again"
    everything = json.dumps(lines)
    assert not any(personal in everything for personal in PERSONAL[:4])
