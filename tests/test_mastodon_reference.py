"""The reference for the Mastodon test server: responses recorded from a real Mastodon."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import pytest

from testworld.mastodon import reference

if TYPE_CHECKING:
    from pathlib import Path

# The endpoints the bots use; the test server must match each one's recorded shape.
BOT_ENDPOINTS = [
    ("GET", "/api/v1/accounts/verify_credentials"),
    ("PATCH", "/api/v1/accounts/update_credentials"),
    ("GET", "/api/v1/notifications"),
    ("POST", "/api/v1/statuses"),
    ("GET", "/api/v1/statuses/:id"),
    ("GET", "/api/v1/conversations"),
    ("POST", "/api/v1/accounts/:id/follow"),
    ("GET", "/api/v1/accounts/lookup"),
    ("GET", "/api/v2/search"),
    ("GET", "/api/v1/instance"),
    ("GET", "/api/v2/instance"),
]


@pytest.mark.parametrize("endpoint", BOT_ENDPOINTS, ids=" ".join)
def test_every_endpoint_the_bots_use_was_recorded(
    recordings: reference.Recordings, endpoint: tuple[str, str]
) -> None:
    examples = recordings[endpoint]
    assert examples
    for example in examples:
        assert reference.differences(examples, example) == []


def test_a_missing_field_or_a_wrong_type_is_reported(recordings: reference.Recordings) -> None:
    examples = recordings["POST", "/api/v1/statuses"]
    status = copy.deepcopy(examples[0])
    del status["visibility"]
    status["account"]["bot"] = "no"
    status["mentions"] = [{"id": 5, "acct": "someone"}]
    status["x_extension"] = {"servers": "add fields"}
    assert reference.differences(examples, status) == [
        "/account/bot: string, recorded boolean",
        "/mentions[]/id: number, recorded string",
        "/mentions[]/url: missing",
        "/mentions[]/username: missing",
        "/visibility: missing",
    ]


def test_endpoints_are_named_without_their_ids() -> None:
    uri = "http://localhost:3000/api/v1/accounts/1174408/follow?x=1"
    assert reference.endpoint_of("post", uri) == ("POST", "/api/v1/accounts/:id/follow")
    assert reference.endpoint_of("GET", "http://h/api/v1/conversations/") == (
        "GET",
        "/api/v1/conversations",
    )


def test_missing_recordings_say_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(reference.RecordingsMissingError, match=r"python -m testworld\.mastodon"):
        reference.load(tmp_path / "nowhere")
