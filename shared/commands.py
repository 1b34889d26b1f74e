"""Bot commands as small registered handlers, recognised in French and English.

A handler runs inside the transaction that records the incoming post, so what it writes and
the answer it queues commit together or not at all. Handlers never touch a network: what
they want said goes out through the outbox.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.messages import Lang, answer_language, say

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlmodel import Session

    from shared.protocol import IncomingPost

SHOWN_UNKNOWN_TEXT_CHARS = 40


@dataclass(frozen=True, slots=True)
class Context:
    """What a handler gets: the post, its words after the command, the answer language and
    the database session of the post's transaction."""

    post: IncomingPost
    args: tuple[str, ...]
    lang: Lang
    session: Session
    registry: CommandRegistry


@dataclass(frozen=True, slots=True)
class Answer:
    """What to say back, and in which language."""

    text: str
    lang: Lang


@dataclass(frozen=True, slots=True)
class Command:
    """A registered command: its name, the words that call it, and its handler."""

    name: str
    words: dict[Lang, tuple[str, ...]]
    handler: Callable[[Context], str]


def _fold(word: str) -> str:
    """Case-, accent- and punctuation-insensitive form of a command word."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if c.isalnum())


class CommandRegistry:
    """The commands the bots understand; unknown text gets a short help, never silence."""

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}
        self._by_word: dict[str, Command] = {}

    def register(
        self, name: str, *, fr: tuple[str, ...], en: tuple[str, ...]
    ) -> Callable[[Callable[[Context], str]], Callable[[Context], str]]:
        """Decorator: register ``handler`` under ``name``, called by the words ``fr``/``en``."""

        def decorate(handler: Callable[[Context], str]) -> Callable[[Context], str]:
            command = Command(name, {Lang.FR: fr, Lang.EN: en}, handler)
            self._commands[name] = command
            for word in (*fr, *en):
                folded = _fold(word)
                if folded in self._by_word:
                    raise ValueError(f"command word {word!r} is registered twice")
                self._by_word[folded] = command
            return handler

        return decorate

    def names(self) -> list[str]:
        """The registered commands' names, in registration order."""
        return list(self._commands)

    def answer(self, post: IncomingPost, session: Session) -> Answer:
        """Run the command the post asks for (or the help) and return what to answer."""
        words = post.text.split()
        lang = answer_language(post.languages, post.text)
        command = self._by_word.get(_fold(words[0])) if words else None
        if command is None:
            return Answer(unknown(post.text, lang, self), lang)
        context = Context(post, tuple(words[1:]), lang, session, self)
        return Answer(command.handler(context), lang)


def help_text(lang: Lang, registry: CommandRegistry) -> str:
    """The short help: who the bot is and the commands it understands."""
    described = ", ".join(say(f"command.{name}", lang) for name in registry.names())
    return f"{say('help.intro', lang)} {say('help.commands', lang, commands=described)}"


def unknown(text: str, lang: Lang, registry: CommandRegistry) -> str:
    """The answer to text that is no command: what was not understood, then the help."""
    shown = " ".join(text.split())
    if not shown:
        return help_text(lang, registry)
    if len(shown) > SHOWN_UNKNOWN_TEXT_CHARS:
        shown = shown[: SHOWN_UNKNOWN_TEXT_CHARS - 1] + "…"
    return f"{say('help.unknown', lang, text=shown)} {help_text(lang, registry)}"


def default_registry() -> CommandRegistry:
    """The commands of the service."""
    registry = CommandRegistry()

    # Greetings are asking who the bot is: they get the help, not "I didn't understand".
    @registry.register(
        "help", fr=("aide", "bonjour", "salut", "coucou"), en=("help", "hello", "hi", "hey")
    )
    def _help(context: Context) -> str:
        return help_text(context.lang, context.registry)

    return registry
