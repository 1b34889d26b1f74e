"""`hqx person show`: what an operator sees of a person, with trust levels and proofs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from hqx.cli import main
from shared.protocol import Author
from tests.core_world import ALICE_B, ALICE_M, World, to_post

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def show(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["person", "show", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def linked(engine: Engine, monkeypatch: pytest.MonkeyPatch, database_url: str) -> World:
    world = World(engine)
    world.say(ALICE_M, to_post(world.say(ALICE_B, "link alice@masto.test")))
    monkeypatch.setenv("HQX_DATABASE_URL", database_url)
    return world


def test_an_operator_sees_the_linked_accounts_and_their_proofs(
    linked: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = show(capsys, "@Alice.test")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("Person 1 (individual), since ")
    assert lines[1] == "  bluesky   @alice.test  proven"
    assert lines[2] == "            did:plc:alice"
    assert lines[3] == "  mastodon  @alice@masto.test  proven"
    assert lines[4] == "            https://masto.test/users/alice"
    assert lines[5].startswith("            proof ") and lines[5].endswith(": mastodon-post-2")


def test_the_json_form_holds_the_same(linked: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = show(capsys, "alice@masto.test", "--json")
    assert code == 0
    found = json.loads(out)
    assert [(a["network"], a["trust"]) for a in found["accounts"]] == [
        ("bluesky", "proven"),
        ("mastodon", "proven"),
    ]
    assert found["accounts"][1]["proofs"][0]["post"] == "mastodon-post-2"


def test_an_unknown_account_is_one_clear_line(
    linked: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = show(capsys, "nobody.test")
    assert code == 1
    assert err == "hqx: error: nobody with the account 'nobody.test' uses the service\n"


@pytest.mark.parametrize("account", ["did:plc:alice", "https://masto.test/users/alice"])
def test_found_by_did_or_account_uri(
    linked: World, capsys: pytest.CaptureFixture[str], account: str
) -> None:
    code, out, _ = show(capsys, account)
    assert code == 0
    assert out.startswith("Person 1 (individual), since ")


def test_found_by_the_handle_a_person_has_now(
    linked: World, capsys: pytest.CaptureFixture[str]
) -> None:
    renamed = Author(ALICE_B.subject, "alice-renamed.test")
    linked.say(renamed, "help")  # the network reports her new handle with her post
    assert show(capsys, "alice-renamed.test")[0] == 0
    assert show(capsys, "alice.test")[0] == 1, "the old handle is hers no more"
