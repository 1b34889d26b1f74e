"""Bot commands as small registered handlers, recognised in French and English.

A command may have an async ``prepare`` step, run before the post's transaction, for what
needs a network (finding the account a person names). Its handler then runs inside the
transaction that records the incoming post, so what it writes and the answers it queues
commit together or not at all. Handlers never touch a network: what they want said goes
out through the outbox.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from shared.bot.messages import Lang, answer_language, say
from shared.identity import challenge
from shared.identity.addresses import find_post_url

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from sqlmodel import Session

    from shared.actions import Action
    from shared.identity.accounts import Account, XPost
    from shared.protocol import IncomingPost
    from shared.vocabulary import Network

P = TypeVar("P", covariant=True)
"""What a command's ``prepare`` step finds, and its handler reads (``None``: no step)."""

SHOWN_UNKNOWN_TEXT_CHARS = 40
PROOF = "proof"
X_PROOF = "xproof"


class Resolver(Protocol):
    """Finds accounts on the networks the service runs bots on."""

    def networks(self) -> frozenset[str]:
        """The networks with a running bot."""

    async def resolve(self, network: Network, handle: str) -> Account | None:
        """The account ``handle`` names on ``network``, or ``None`` if there is none."""

    def reads_x(self) -> bool:
        """Whether the service reads posts on X."""

    async def x_post(self, url: str) -> XPost | str | None:
        """A post on X (its author and text), a one-line reason it cannot be read, or
        ``None`` when the service does not read X."""


@dataclass(frozen=True, slots=True)
class Environment:
    """What handlers may use besides the database."""

    secret_key: str | None
    now: datetime
    public_url: str | None
    bot_handles: Mapping[Network, str]
    """The bot's handle on each network it runs on."""
    delivers: Mapping[Network, frozenset[type[Action]]]
    """What each network's bot delivers (see :attr:`shared.protocol.Protocol.delivers`)."""
    old_keys: tuple[str, ...] = ()
    """Secret keys rotated out, still verifying the codes they signed."""
    reconnect_at: datetime | None = None
    """When reconnection starts (``None``: the service does not reconnect)."""

    def network_delivering(self, kind: type[Action]) -> Network | None:
        """A network whose bot delivers ``kind`` (the first one configured), if any."""
        return next((n for n, kinds in self.delivers.items() if kind in kinds), None)


@dataclass(frozen=True, slots=True)
class Outbound:
    """An action a handler wants sent besides its answer (e.g. a confirmation elsewhere)."""

    key: str
    network: Network
    action: Action
    person_id: int | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """What to say back, in which language, and what else to send."""

    text: str | None
    """``None``: say nothing (a throttled flood)."""
    lang: Lang
    also: tuple[Outbound, ...] = ()
    person_id: int | None = None
    scrub: bool = False
    """Forget the answer's addressee once it is sent (the person asked to be forgotten)."""


@dataclass(frozen=True, slots=True)
class Context(Generic[P]):
    """What a handler gets."""

    post: IncomingPost
    args: tuple[str, ...]
    lang: Lang
    session: Session
    registry: CommandRegistry
    env: Environment
    prepared: P
    """What the command's ``prepare`` step found."""


Handler = Callable[[Context[P]], "Answer | str"]
"""A command's handler: it runs in the post's transaction and says what to answer."""
Prepare = Callable[["IncomingPost", tuple[str, ...], Resolver], Awaitable[P]]
"""A command's network step, run before the transaction."""


@dataclass(frozen=True, slots=True)
class Command(Generic[P]):
    """A registered command: its name, the words that call it, its steps."""

    name: str
    words: dict[Lang, tuple[str, ...]]
    handler: Handler[P]
    prepare: Prepare[P] | None = None
    listed: bool = True
    """Shown in the help."""


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a post asks for."""

    command: Command[Any] | None
    args: tuple[str, ...]
    lang: Lang


def fold(word: str) -> str:
    """Case-, accent- and punctuation-insensitive form of a command word."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if c.isalnum())


class CommandRegistry:
    """The commands the bots understand; unknown text gets a short help, never silence."""

    def __init__(self) -> None:
        self._commands: dict[str, Command[Any]] = {}
        self._by_word: dict[str, Command[Any]] = {}

    def register(
        self,
        name: str,
        *,
        fr: tuple[str, ...],
        en: tuple[str, ...],
        prepare: Prepare[P] | None = None,
        listed: bool = True,
    ) -> Callable[[Handler[P]], Handler[P]]:
        """Decorator: register ``handler`` under ``name``, called by the words ``fr``/``en``;
        it reads what ``prepare`` found."""

        def decorate(handler: Handler[P]) -> Handler[P]:
            command = Command(name, {Lang.FR: fr, Lang.EN: en}, handler, prepare, listed)
            self._commands[name] = command
            for word in (*fr, *en):
                folded = fold(word)
                if self._by_word.get(folded, command).name != name:
                    raise ValueError(f"command word {word!r} is registered twice")
                self._by_word[folded] = command
            return handler

        return decorate

    def names(self) -> list[str]:
        """The commands shown in the help, in registration order."""
        return [name for name, command in self._commands.items() if command.listed]

    def parse(self, post: IncomingPost) -> Parsed:
        """The command a post asks for: a posted code is a proof, whatever surrounds it."""
        lang = answer_language(post.languages, post.text)
        code = challenge.find(post.text)
        if code is not None and PROOF in self._commands:
            return Parsed(self._commands[PROOF], (code,), lang)
        x_post = find_post_url(post.text)
        if x_post is not None and X_PROOF in self._commands:
            return Parsed(self._commands[X_PROOF], (x_post,), lang)
        words = post.text.split()
        command = self._by_word.get(fold(words[0])) if words else None
        return Parsed(command, tuple(words[1:]) if command else tuple(words), lang)

    async def prepare(self, parsed: Parsed, post: IncomingPost, resolver: Resolver) -> Any:
        """Run the command's network step, if it has one."""
        if parsed.command is None or parsed.command.prepare is None:
            return None
        return await parsed.command.prepare(post, parsed.args, resolver)

    def answer(
        self,
        parsed: Parsed,
        post: IncomingPost,
        session: Session,
        env: Environment,
        prepared: object = None,
    ) -> Answer:
        """Run the handler (or the help) and return what to answer."""
        if parsed.command is None:
            return Answer(unknown(post.text, parsed.lang, self), parsed.lang)
        context = Context(post, parsed.args, parsed.lang, session, self, env, prepared)
        result = parsed.command.handler(context)
        return result if isinstance(result, Answer) else Answer(result, parsed.lang)


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
