"""The lexicon validator, on the official chat.bsky lexicons shipped in @atproto/api."""

from __future__ import annotations

import pytest

from bsky_service.lexicon import LexiconError, Lexicons, grapheme_count
from testworld.bluesky.install import ensure_installed

pytestmark = pytest.mark.integration

ALICE = "did:plc:alice000000000000000000"
BOB = "did:plc:bob00000000000000000000"


@pytest.fixture(scope="module")
def lexicons() -> Lexicons:
    return Lexicons.from_json_file(ensure_installed().lexicons_path())


def message_view(text: str = "Bonjour") -> dict[str, object]:
    return {
        "$type": "chat.bsky.convo.defs#messageView",
        "id": "3l3s4nfq7ko2c",
        "rev": "3l3s4nfq7ko2d",
        "text": text,
        "sender": {"did": ALICE},
        "sentAt": "2025-01-20T08:00:00.000Z",
    }


def test_the_chat_lexicons_are_there(lexicons: Lexicons) -> None:
    for nsid in (
        "chat.bsky.convo.getConvoForMembers",
        "chat.bsky.convo.getConvoAvailability",
        "chat.bsky.convo.sendMessage",
        "chat.bsky.convo.getMessages",
        "chat.bsky.convo.listConvos",
        "chat.bsky.convo.updateRead",
        "chat.bsky.actor.declaration",
    ):
        assert nsid in lexicons


def test_valid_requests_and_responses_pass(lexicons: Lexicons) -> None:
    lexicons.validate_input(
        "chat.bsky.convo.sendMessage", {"convoId": "c1", "message": {"text": "Bonjour 👋🏽"}}
    )
    lexicons.validate_output("chat.bsky.convo.sendMessage", message_view())
    lexicons.validate_params("chat.bsky.convo.getConvoAvailability", {"members": [BOB]})
    lexicons.validate_output(
        "chat.bsky.convo.getMessages", {"messages": [message_view(), message_view("Merci")]}
    )
    lexicons.validate_record("chat.bsky.actor.declaration", {"allowIncoming": "following"})


@pytest.mark.parametrize(
    ("method", "body", "message"),
    [
        (
            "chat.bsky.convo.sendMessage",
            {"message": {"text": "x"}},
            "input: lacks required 'convoId'",
        ),
        (
            "chat.bsky.convo.sendMessage",
            {"convoId": "c1", "message": {"text": "é" * 5001}},
            "input/message/text: must have at most 10000 bytes",
        ),
        (
            "chat.bsky.convo.sendMessage",
            {"convoId": "c1", "message": {"text": "a" * 1001}},
            "input/message/text: must have at most 1000 graphemes",
        ),
        (
            "chat.bsky.convo.sendMessage",
            {"convoId": 7, "message": {"text": "x"}},
            "input/convoId: must be a string",
        ),
    ],
)
def test_bad_inputs_are_named(lexicons: Lexicons, method: str, body: object, message: str) -> None:
    with pytest.raises(LexiconError) as caught:
        lexicons.validate_input(method, body)
    assert str(caught.value) == message


def test_bad_params_and_outputs_are_named(lexicons: Lexicons) -> None:
    with pytest.raises(LexiconError, match=r"^params/members/0: is not a valid did$"):
        lexicons.validate_params("chat.bsky.convo.getConvoAvailability", {"members": ["bob"]})
    with pytest.raises(LexiconError, match=r"^params/members: must have at most 10 items$"):
        lexicons.validate_params("chat.bsky.convo.getConvoAvailability", {"members": [BOB] * 11})
    bad = message_view() | {"sentAt": "yesterday"}
    with pytest.raises(LexiconError, match=r"^output/sentAt: is not a valid datetime$"):
        lexicons.validate_output("chat.bsky.convo.sendMessage", bad)
    with pytest.raises(LexiconError, match=r"^output/messages/0: must be an object with a \$type"):
        lexicons.validate_output("chat.bsky.convo.getMessages", {"messages": [{"id": "x"}]})


def test_graphemes_count_what_people_see() -> None:
    assert grapheme_count("Bonjour") == 7
    assert grapheme_count("e\u0301") == 1  # e + combining acute
    assert grapheme_count("👩‍👩‍👧") == 1  # a ZWJ family
    assert grapheme_count("👋🏽🇫🇷") == 2  # a waving hand with a skin tone, a flag
    assert grapheme_count("🇫🇷🇬🇧🇫") == 3  # two flags and a lone regional indicator
