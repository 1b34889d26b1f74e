"""Public attestations through the core: only with consent, written when a person has two
accounts, rewritten on a new link, withdrawn on request; every record fits our lexicon."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlmodel import Session, select

from bsky_service.lexicon import Lexicons
from hqx.cli import main
from shared.actions import Action, WithdrawAttestation, WriteAttestation
from shared.archive_import import import_archive
from shared.db.models import OutboundAction
from shared.identity import xtrust
from shared.identity.attestation import COLLECTION
from tests.archives import OWNER, OWNER_ID, make_archive
from tests.core_world import ALICE_B, ALICE_M, KEY, MALLORY_M, World, to_post

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


LEXICON = Path(__file__).parents[1] / "lexicons" / f"{COLLECTION}.json"


def lexicons() -> Lexicons:
    return Lexicons([json.loads(LEXICON.read_text())])


@pytest.fixture
def world(engine: Engine) -> World:
    return World(engine)


def written(world: World, kind: str) -> list[Action]:
    return [o.action for o in world.bluesky.sent.values() if o.action.kind == kind]


def test_nothing_is_attested_without_consent(world: World) -> None:
    world.say(ALICE_M, to_post(world.say(ALICE_B, "link alice@masto.test")))
    assert written(world, "attest") == []


def test_consent_after_linking_attests_the_two_accounts(world: World) -> None:
    world.say(ALICE_M, to_post(world.say(ALICE_B, "link alice@masto.test")))
    assert world.say(ALICE_B, "settings attestation yes") == "Noted: attestation yes."
    [action] = written(world, "attest")
    assert isinstance(action, WriteAttestation)
    assert action.rkey == ALICE_B.subject
    record = action.record
    lexicons().validate_record(COLLECTION, record)
    accounts = {a["network"]: a for a in record["accounts"]}
    assert accounts["bluesky"]["id"] == ALICE_B.subject
    assert accounts["mastodon"] | {"provenAt": "-"} == {
        "network": "mastodon",
        "id": ALICE_M.subject,
        "handle": "alice@masto.test",
        "trust": "proven",
        "proof": "mastodon-post-2",
        "provenAt": "-",
    }


def test_consent_first_then_each_link_rewrites_it(world: World) -> None:
    world.say(ALICE_B, "settings attestation yes")
    assert written(world, "attest") == [], "one account: nothing to attest yet"
    world.say(ALICE_M, to_post(world.say(ALICE_B, "link alice@masto.test")))
    [action] = written(world, "attest")
    assert isinstance(action, WriteAttestation)
    assert len(action.record["accounts"]) == 2


def test_saying_no_withdraws_it(world: World) -> None:
    world.say(ALICE_M, to_post(world.say(ALICE_B, "link alice@masto.test")))
    world.say(ALICE_B, "settings attestation yes")
    world.say(ALICE_M, "settings attestation no")
    [withdrawal] = written(world, "unattest")
    assert withdrawal == WithdrawAttestation(ALICE_B.subject)


def test_unlinking_withdraws_it_and_the_account(world: World) -> None:
    world.say(ALICE_M, to_post(world.say(ALICE_B, "link alice@masto.test")))
    world.say(ALICE_B, "settings attestation yes")
    assert world.say(ALICE_B, "unlink alice@masto.test") == (
        "Done: @alice@masto.test is no longer linked."
    )
    [withdrawal] = written(world, "unattest")
    assert withdrawal == WithdrawAttestation(ALICE_B.subject)
    assert world.say(ALICE_B, "status").startswith("No other account is linked")


def test_an_operators_settlement_rewrites_the_attestations_at_once(
    world: World, engine: Engine, database_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """`hqx x settle` gives a disputed X account to Alice: her public attestation shows it
    again at once (it was withdrawn from it while disputed), not at her next change."""
    world.say(ALICE_M, to_post(world.say(ALICE_B, "link alice@masto.test")))
    world.say(ALICE_B, "settings attestation yes")
    alice, mallory = world.persons_of(ALICE_B), world.persons_of(MALLORY_M)
    import_archive(engine, make_archive(tmp_path / "a.zip", [1]), for_person=alice)
    with pytest.raises(xtrust.ClaimDisputedError):
        import_archive(engine, make_archive(tmp_path / "m.zip", [2]), for_person=mallory)
    for name, value in {
        "HQX_DATABASE_URL": database_url,
        "HQX_SECRET_KEY": KEY,
        "HQX_BSKY_HANDLE": "hqx.test",
        "HQX_BSKY_APP_PASSWORD": "pw",
    }.items():
        monkeypatch.setenv(name, value)  # fmt: skip
    monkeypatch.chdir(tmp_path)
    before = _attestations(engine)
    assert main(["x", "settle", str(OWNER_ID), "--to", str(alice)]) == 0
    capsys.readouterr()
    new = [a for a in _attestations(engine) if a not in before]
    assert len(new) == 1, "one rewrite, queued for the Bluesky bot"
    accounts = {a["network"]: a for a in new[0]["record"]["accounts"]}
    assert accounts["x"]["handle"] == OWNER and accounts["x"]["trust"] == "claimed"
    lexicons().validate_record(COLLECTION, new[0]["record"])


def _attestations(engine: Engine) -> list[dict[str, Any]]:
    with Session(engine) as session:
        rows = session.exec(select(OutboundAction).where(OutboundAction.kind == "attest"))
        return [dict(r.payload) for r in rows]
