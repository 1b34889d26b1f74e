"""Commands in French and English: the language of the answer, help, and unknown text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.bot.commands import Answer, CommandRegistry, Environment
from shared.bot.handlers import default_registry
from shared.bot.messages import Lang, answer_language
from shared.protocol import Author, IncomingPost
from shared.vocabulary import Network


def post(text: str, languages: tuple[str, ...] = ()) -> IncomingPost:
    return IncomingPost(
        network=Network.BLUESKY,
        post_id="at://did:plc:alice/app.bsky.feed.post/1",
        author=Author("did:plc:alice", "alice.test"),
        text=text,
        languages=languages,
    )


ENV = Environment(
    secret_key=None, now=datetime.now(UTC), public_url=None, bot_handles={}, delivers={}
)


def said(answer: Answer) -> str:
    """What the bot says (these commands always say something)."""
    assert answer.text is not None
    return answer.text


def ask(text: str, languages: tuple[str, ...] = ()) -> Answer:
    """The answer of commands that need no database."""
    registry = default_registry()
    asked = post(text, languages)
    return registry.answer(registry.parse(asked), asked, session=None, env=ENV)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("declared", "text", "expected"),
    [
        (["fr"], "help", Lang.FR),
        (["fr-FR"], "help", Lang.FR),
        (["en"], "bonjour", Lang.EN),
        (["de", "fr"], "hallo", Lang.FR),  # the first declared language we speak
        (["de"], "hallo", Lang.EN),
        ([], "Bonjour, je voudrais de l'aide", Lang.FR),  # nothing declared: the words tell
        ([], "What is this?", Lang.EN),
    ],
)
def test_the_answer_is_in_the_language_of_the_post(
    declared: list[str], text: str, expected: Lang
) -> None:
    assert answer_language(declared, text) is expected


@pytest.mark.parametrize(
    ("text", "languages", "start"),
    [
        ("aide", ("fr",), "Bonjour ! Je suis HelloQuitteX"),
        ("AIDE !", (), "Bonjour ! Je suis HelloQuitteX"),
        ("help", ("en",), "Hello! I'm HelloQuitteX"),
        ("Bonjour ! Vous pouvez m'aider ?", ("fr",), "Bonjour ! Je suis HelloQuitteX"),
        ("hi there", ("en",), "Hello! I'm HelloQuitteX"),
        ("", ("en",), "Hello! I'm HelloQuitteX"),
    ],
)
def test_help_and_greetings_get_the_help(text: str, languages: tuple[str, ...], start: str) -> None:
    answer = ask(text, languages)
    assert said(answer).startswith(start)
    expected = {
        Lang.FR: "aide, lier COMPTE, délier COMPTE, statut, espace, réglages, stop, oublier.",
        Lang.EN: "help, link ACCOUNT, unlink ACCOUNT, status, space, settings, stop, forget.",
    }
    assert said(answer).endswith(expected[answer.lang])
    assert len(said(answer)) < 250, "with a mention, the help fits in one Bluesky post"


def test_unknown_text_gets_a_short_help_never_silence() -> None:
    answer = ask("what is this", ("en",))
    assert said(answer).startswith("I didn't understand “what is this”. Hello! I'm HelloQuitteX")
    french = ask("quoi donc", ("fr",))
    assert said(french).startswith("Je n'ai pas compris « quoi donc ». Bonjour !")


def test_long_unknown_text_is_shown_cut() -> None:
    answer = ask("blah " * 50, ("en",))
    quoted = said(answer).split("“")[1].split("”")[0]
    assert len(quoted) == 40
    assert quoted.endswith("…")
    assert len(said(answer)) < 300, "an answer must fit in one Bluesky post"


def test_a_command_word_cannot_be_registered_twice() -> None:
    registry = CommandRegistry()
    registry.register("help", fr=("aide",), en=("help",))(lambda _c: "")
    with pytest.raises(ValueError, match="'Aide' is registered twice"):
        registry.register("other", fr=("Aide",), en=("other",))(lambda _c: "")
