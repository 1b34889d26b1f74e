"""What the bots say, in French and English, and which of the two a post is answered in."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable


class Lang(StrEnum):
    """The languages the service speaks."""

    FR = "fr"
    EN = "en"


# Used only when a post declares no language: words a French request is likely to contain.
_FRENCH_WORDS = re.compile(
    r"\b(bonjour|salut|coucou|merci|aide|lier|relier|statut|réglages|reglages|oublier|"
    r"oublie|arrête|arrete|s'il|svp|je|mon|mes|compte|comptes)\b",
    re.IGNORECASE,
)


def answer_language(declared: Iterable[str], text: str) -> Lang:
    """The language to answer a post in: the first it declares that we speak, else French
    if its words look French, else English."""
    for tag in declared:
        primary = tag.split("-", 1)[0].lower()
        if primary in Lang.__members__.values():
            return Lang(primary)
    return Lang.FR if _FRENCH_WORDS.search(text) else Lang.EN


CATALOG: dict[str, dict[Lang, str]] = {
    "help.intro": {
        Lang.FR: (
            "Bonjour ! Je suis HelloQuitteX : je vous aide à retrouver vos contacts de X "
            "sur Bluesky et Mastodon."
        ),
        Lang.EN: (
            "Hello! I'm HelloQuitteX: I help you find your X contacts again on Bluesky "
            "and Mastodon."
        ),
    },
    "help.commands": {
        Lang.FR: "Écrivez-moi en me mentionnant : {commands}.",
        Lang.EN: "Mention me with one of: {commands}.",
    },
    "help.unknown": {
        Lang.FR: "Je n'ai pas compris « {text} ».",
        Lang.EN: "I didn't understand “{text}”.",
    },
    "command.help": {
        Lang.FR: "aide (ce message)",
        Lang.EN: "help (this message)",
    },
}


def say(key: str, lang: Lang, **values: object) -> str:
    """The text ``key`` in ``lang``, with ``values`` filled in."""
    return CATALOG[key][lang].format(**values)
