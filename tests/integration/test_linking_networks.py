"""Linking on the real networks: Bluesky's own PDS and AppView, and the Mastodon test server,
with both bots running in one service, started from either side."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from atproto_client.exceptions import BadRequestError

from bsky_service.adapter import BlueskyAdapter
from mastodon_bot.adapter import MastodonAdapter
from shared.bot.handlers import default_registry
from shared.service import Service
from shared.stores import Stores
from tests.mastodon_world import MastodonWorld
from tests.running import run_until
from testworld.bluesky.people import PASSWORD, create_person
from testworld.mastodon.profiles import PROFILES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sqlalchemy.engine import Engine

    from tests.integration.conftest import RunningChatDouble
    from testworld.bluesky.network import BlueskyDevNetwork
    from testworld.bluesky.people import Person

pytestmark = pytest.mark.integration
KEY = "integration-tests-secret-key-0123456789abcdef"
WAIT_SEC = 30.0
CODE = re.compile(r"HQX(?:-[0-9A-Z]{1,4})+")


def ready(answer: str) -> str:
    """The text the bot handed over to post as proof: the line holding the code."""
    return next(line for line in answer.splitlines() if CODE.search(line))


_names = (f"l{n}" for n in itertools.count())
# People post before the service's first start here: it catches up with that.
CATCH_UP = timedelta(minutes=5)


@pytest.fixture(params=list(PROFILES.values()), ids=list(PROFILES))
def mastodon(request: pytest.FixtureRequest) -> Iterator[MastodonWorld]:
    """The Mastodon side on each kind of server people run (Mastodon, GoToSocial, Akkoma)."""
    world = MastodonWorld(request.param, bot_flagged=False)
    yield world
    world.stop()


class Both:
    """One service running both bots, and Alice on each network."""

    def __init__(
        self,
        bluesky: BlueskyDevNetwork,
        mastodon: MastodonWorld,
        db: Engine,
        chat_proxy: str | None = None,
    ) -> None:
        assert bluesky.urls is not None
        self.network, self.mastodon, self.db = bluesky, mastodon, db
        self.chat_proxy = chat_proxy
        self.bot = create_person(bluesky, f"hqx{next(_names)}")
        self.alice_b: Person = create_person(bluesky, f"alice{next(_names)}")
        self.alice_m = mastodon.alice_person

    def run_until(self, until: Callable[[], bool]) -> None:
        assert self.network.urls is not None
        adapters = [
            BlueskyAdapter(
                Stores.of(self.db, KEY),
                self.network.urls.pds,
                self.bot.handle,
                PASSWORD,
                poll_interval_sec=0.1,
                chat_proxy=self.chat_proxy,
                catch_up=CATCH_UP,
            ),
            MastodonAdapter(
                Stores.of(self.db, KEY),
                self.mastodon.url,
                self.mastodon.bot.token,
                0.1,
                catch_up=CATCH_UP,
            ),
        ]
        service = Service(self.db, adapters, default_registry(), KEY, delivery_interval_sec=0.2)

        def done() -> bool:
            self.network.process_all()
            return until()

        run_until(service, done, WAIT_SEC)
        self.network.process_all()  # what the bot wrote since, so that asserts read it

    def bsky_answers(self) -> list[str]:
        return [r.text for r in self.alice_b.answers_from(self.bot)]

    def mastodon_answers(self, status: object) -> list[str]:
        """What the bot posted in answer (as written: HTML shows mentions without domain)."""
        posted = self.mastodon.server.statuses
        return [posted[str(s.id)].text for s in self.alice_m.answers_to(status)]

    @property
    def mastodon_acct(self) -> str:
        return f"alice@{self.mastodon.server.domain}"


@pytest.fixture
def both(bluesky: BlueskyDevNetwork, mastodon: MastodonWorld, db: Engine) -> Both:
    return Both(bluesky, mastodon, db)


def test_linking_started_on_bluesky_proven_on_mastodon(both: Both) -> None:
    both.alice_b.post(f"link {both.mastodon_acct}", mention=both.bot, langs=["en"])
    both.run_until(lambda: bool(both.bsky_answers()))
    [challenge] = both.bsky_answers()
    assert f"To prove @{both.mastodon_acct} is yours" in challenge
    assert ready(challenge).startswith(
        f"@helloquittex@{both.mastodon.server.domain} I link this account to "
        f"{both.alice_b.handle} (Bluesky): HQX-"
    )
    proof = both.alice_m.post(ready(challenge))
    both.run_until(lambda: bool(both.mastodon_answers(proof)) and len(both.bsky_answers()) == 2)
    linked = (
        f"Done: @{both.alice_b.handle} (Bluesky) and @{both.mastodon_acct} (Mastodon) "
        "are now linked."
    )
    assert both.mastodon_answers(proof) == [f"@{both.mastodon_acct} {linked}"]
    assert both.bsky_answers()[1] == f"@{both.alice_b.handle} {linked}", "confirmed in the thread"


def test_linking_started_on_mastodon_by_direct_message_proven_on_bluesky(both: Both) -> None:
    asked = both.alice_m.client.status_post(
        f"@helloquittex lier {both.alice_b.handle}", visibility="direct", language="fr"
    )
    both.run_until(lambda: bool(both.mastodon_answers(asked)))
    [answer] = both.alice_m.answers_to(asked)
    assert answer.visibility == "direct", "asked privately, answered privately"
    both.alice_b.post(ready(both.mastodon_answers(asked)[0]), mention=both.bot, langs=["fr"])
    both.run_until(lambda: bool(both.bsky_answers()) and len(both.mastodon_answers(asked)) == 2)
    [done] = both.bsky_answers()
    assert "C'est fait" in done
    confirmation = both.alice_m.answers_to(asked)[1]
    assert confirmation.visibility == "direct", "the confirmation stays private too"
    assert "C'est fait" in both.mastodon_answers(asked)[1]


def bot_post_uris(both: Both) -> set[str]:
    listed = both.bot.client.com.atproto.repo.list_records(
        {"repo": both.bot.did, "collection": "app.bsky.feed.post", "limit": 100}
    )
    return {r.uri for r in listed.records}


def test_forget_deletes_what_the_bot_published_on_both_networks(both: Both) -> None:
    both.alice_b.post(f"link {both.mastodon_acct}", mention=both.bot, langs=["en"])
    both.run_until(lambda: bool(both.bsky_answers()))
    proof = both.alice_m.post(ready(both.bsky_answers()[0]))
    both.run_until(lambda: bool(both.mastodon_answers(proof)) and len(both.bsky_answers()) == 2)
    assert len(bot_post_uris(both)) == 2
    assert len(both.mastodon.bot_statuses()) == 1

    asked = both.alice_m.post("@helloquittex forget")
    both.run_until(lambda: bool(both.mastodon_answers(asked)))
    confirm = both.alice_m.post("@helloquittex forget confirm")
    both.run_until(lambda: bool(both.mastodon_answers(confirm)) and not bot_post_uris(both))
    # On Bluesky nothing of the bot's about her remains; on Mastodon only the last answer,
    # which tells her it is done.
    assert bot_post_uris(both) == set()
    [last] = both.mastodon.bot_statuses()
    assert "I have forgotten you" in last.text


def test_a_status_edited_to_carry_a_code_proves_nothing(both: Both) -> None:
    both.alice_b.post(f"link {both.mastodon_acct}", mention=both.bot, langs=["en"])
    both.run_until(lambda: bool(both.bsky_answers()))
    code = CODE.search(both.bsky_answers()[0])
    assert code is not None
    status = both.alice_m.post("Nothing to see here")
    if not both.mastodon.server.quirks.edits:  # older servers cannot edit at all
        from mastodon.errors import MastodonNotFoundError

        with pytest.raises(MastodonNotFoundError):
            both.alice_m.client.status_update(status.id, f"@helloquittex {code.group(0)}")
        return
    both.alice_m.client.status_update(status.id, f"@helloquittex {code.group(0)}")
    both.run_until(lambda: bool(both.mastodon_answers(status)))
    assert both.mastodon_answers(status) == [
        f"@{both.mastodon_acct} An edited post proves nothing: post the code in a new post."
    ]


@pytest.fixture
def both_with_chat(
    bluesky: BlueskyDevNetwork, mastodon: MastodonWorld, db: Engine, chat: RunningChatDouble
) -> Both:
    return Both(bluesky, mastodon, db, chat_proxy=chat.proxy)


def test_linking_by_bluesky_direct_message(both_with_chat: Both, chat: RunningChatDouble) -> None:
    both = both_with_chat
    alice = both.alice_b.chat(chat.proxy).convo

    def messages_from_bot(convo_id: str) -> list[str]:
        page = alice.get_messages({"convoId": convo_id})
        return [m.text for m in reversed(page.messages) if m.sender.did == both.bot.did]

    convo: list[str] = []

    def started() -> bool:  # the bot declares it accepts messages once it runs
        if not convo:
            convo.append(alice.get_convo_for_members({"members": [both.bot.did]}).convo.id)
            alice.send_message(
                {"convoId": convo[0], "message": {"text": f"lier {both.mastodon_acct}"}}
            )
        return bool(messages_from_bot(convo[0]))

    both.run_until(started)
    [challenge] = messages_from_bot(convo[0])
    assert challenge.startswith(f"Pour prouver que @{both.mastodon_acct} est à vous")
    assert not challenge.startswith("@"), "a message needs no mention"
    both.alice_m.client.status_post(ready(challenge), language="fr")
    both.run_until(lambda: len(messages_from_bot(convo[0])) == 2)
    assert messages_from_bot(convo[0])[1].startswith("C'est fait : @"), "confirmed by message"
    assert both.bsky_answers() == [], "nothing public on Bluesky"


def test_an_attestation_in_the_bots_signed_repo_anyone_can_verify(both: Both) -> None:
    import json
    from pathlib import Path

    import libipld
    from atproto import CAR
    from atproto_crypto.verify import verify_signature
    from atproto_identity.resolver import IdResolver

    from bsky_service.lexicon import Lexicons
    from shared.identity.attestation import COLLECTION

    both.alice_b.post("réglages attestation oui", mention=both.bot, langs=["fr"])
    both.alice_b.post(f"link {both.mastodon_acct}", mention=both.bot, langs=["en"])
    both.run_until(lambda: len(both.bsky_answers()) == 2)
    both.alice_m.post(ready("\n".join(both.bsky_answers())))
    pds = both.bot.client  # any client of the PDS: the repo is public
    query = {"repo": both.bot.did, "collection": COLLECTION, "rkey": both.alice_b.did}

    def attested() -> bool:
        try:
            pds.com.atproto.repo.get_record(query)
        except BadRequestError:  # RecordNotFound, not written yet; any other error fails
            return False
        return True

    both.run_until(attested)
    value = pds.com.atproto.repo.get_record(query).value
    record = value.to_dict()  # an unknown lexicon comes back as a DotDict
    lexicon = Path(__file__).parents[2] / "lexicons" / f"{COLLECTION}.json"
    Lexicons([json.loads(lexicon.read_text())]).validate_record(COLLECTION, record)
    networks = {a["network"]: a for a in record["accounts"]}
    assert networks["bluesky"]["id"] == both.alice_b.did
    assert networks["mastodon"]["handle"] == both.mastodon_acct
    assert networks["mastodon"]["trust"] == "proven"

    # The proof: the record under the bot's signed commit, checked with its DID's key.
    sync_query = {"did": both.bot.did, "collection": COLLECTION, "rkey": both.alice_b.did}
    car = CAR.from_bytes(pds.com.atproto.sync.get_record(sync_query))
    commit = car.blocks[car.root]
    unsigned = {k: v for k, v in commit.items() if k != "sig"}
    assert both.network.urls is not None
    key = IdResolver(plc_url=both.network.urls.plc).did.resolve_atproto_key(both.bot.did)
    assert verify_signature(key, libipld.encode_dag_cbor(unsigned), commit["sig"])
    tampered = {**unsigned, "rev": unsigned["rev"] + "x"}
    assert not verify_signature(key, libipld.encode_dag_cbor(tampered), commit["sig"])


def test_a_quote_or_repost_of_a_code_links_nothing(both: Both, bluesky: BlueskyDevNetwork) -> None:
    from atproto import client_utils, models

    # Mallory, on Bluesky, asks to link Alice's Mastodon account and gets a code...
    mallory = create_person(bluesky, f"mallory{next(_names)}")
    mallory.post(f"link {both.mastodon_acct}", mention=both.bot, langs=["en"])
    both.run_until(lambda: bool([r for r in mallory.answers_from(both.bot)]))
    # ...and Alice's Bluesky account quotes a post with a code and reposts it: neither the
    # quoted text nor a repost is her post's text.
    carrier = mallory.post(f"{CODE.search(mallory.answers_from(both.bot)[0].text).group(0)}")  # type: ignore[union-attr]
    ref = models.create_strong_ref(carrier)
    text = client_utils.TextBuilder().text("look ").mention(f"@{both.bot.handle}", both.bot.did)
    quote = both.alice_b.client.send_post(text, embed=models.AppBskyEmbedRecord.Main(record=ref))
    both.alice_b.client.repost(ref.uri, ref.cid)
    both.run_until(lambda: len(both.bsky_answers()) >= 1)
    assert all("Done" not in answer for answer in both.bsky_answers())
    assert not CODE.search(" ".join(both.bsky_answers()))
    assert quote.uri
