"""``hqx sandbox``: the whole service on this machine, with no account anywhere.

It starts a world (Bluesky's own PLC, PDS and AppView; the chat double; the Mastodon-API
test server), then the service itself (both bots, the scheduler, the web portal) on SQLite,
plays a short story with demo people and prints what each of them sees. With ``--keep`` it
stays up for a person to explore until Ctrl-C. Everything it starts listens on 127.0.0.1,
and everything it started is stopped and removed when it ends, however it ends.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import signal
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from aiohttp import web

from bsky_service.app import create_app
from bsky_service.devnet.chat import ChatDouble
from bsky_service.devnet.install import ensure_installed
from bsky_service.devnet.network import BlueskyDevNetwork
from bsky_service.devnet.people import PASSWORD, create_person
from bsky_service.devnet.services import free_port
from bsky_service.lexicon import Lexicons
from mastodon_bot.testserver import people as mastodon_people
from mastodon_bot.testserver.server import MastodonTestServer
from shared.config import Settings
from shared.db import migrate
from shared.db.engine import create_sync_engine

if TYPE_CHECKING:
    from collections.abc import Callable

    from bsky_service.devnet.people import Person
    from mastodon_bot.testserver.people import MastodonPerson

ANSWER_TIMEOUT_SEC = 60.0
ANSWER_POLL_SEC = 0.3
BOT_NAME = "helloquittex"


@dataclass
class World:
    """What the sandbox started, with the addresses a person can visit."""

    root: Path
    network: BlueskyDevNetwork
    chat_proxy: str = ""
    mastodon_url: str = ""
    portal_url: str = ""
    mastodon: MastodonTestServer | None = None
    addresses: dict[str, str] = field(default_factory=dict)


class Transcript:
    """What the sandbox prints: what each person does and sees."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def line(self, text: str = "") -> None:
        print(text, file=self._out, flush=True)

    def says(self, network: str, who: str, text: str, note: str = "") -> None:
        shown = " ".join(text.split())
        self.line(f"  [{network}] @{who}{note}:")
        self.line(f"      {shown}")


def run_sandbox(*, keep: bool, out: TextIO | None = None) -> int:
    """Install what is missing, start everything, play the story; return the exit status."""
    import sys

    stream = out or sys.stdout
    transcript = Transcript(stream)
    transcript.line("HelloQuitteX sandbox: everything runs on this machine, on 127.0.0.1.")
    installation = ensure_installed(log=lambda line: transcript.line(f"  [install] {line}"))
    return asyncio.run(_sandbox(installation, keep, transcript))


async def _sandbox(installation: Any, keep: bool, transcript: Transcript) -> int:
    root = Path(tempfile.mkdtemp(prefix="hqx-sandbox-"))
    try:
        async with AsyncExitStack() as stack:
            world = await _start_world(stack, installation, root, transcript)
            people = await _start_service(stack, world, transcript)
            ok = await _story(world, people, transcript)
            _where_to_look(world, transcript)
            if keep:
                await _until_stopped(transcript)
            transcript.line("Stopping everything the sandbox started…")
        transcript.line("Stopped; nothing is left running.")
        return 0 if ok else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def _serve(stack: AsyncExitStack, app: web.Application, port: int | None = None) -> str:
    """Serve ``app`` on 127.0.0.1; stopped when ``stack`` closes. Returns its URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    port = port or free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return f"http://127.0.0.1:{port}"


async def _start_world(
    stack: AsyncExitStack, installation: Any, root: Path, transcript: Transcript
) -> World:
    transcript.line("Starting the local Bluesky network (PLC, PDS, AppView)…")
    started = time.monotonic()
    network = BlueskyDevNetwork(installation)
    stack.push_async_callback(asyncio.to_thread, network.stop)
    await asyncio.to_thread(network.start)
    assert network.urls is not None  # noqa: S101  (started)
    transcript.line(f"  ready in {time.monotonic() - started:.1f} s")
    world = World(root=root, network=network)

    lexicons = Lexicons.from_json_file(installation.lexicons_path())
    chat = ChatDouble(lexicons, network.urls.plc, network.urls.appview)
    chat_url = await _serve(stack, chat.app())
    world.chat_proxy = await asyncio.to_thread(chat.register, network, chat_url)

    port = free_port()
    world.mastodon = MastodonTestServer(f"127.0.0.1:{port}")
    world.mastodon_url = await _serve(stack, world.mastodon.app(), port)
    world.addresses = {
        "Bluesky PDS": network.urls.pds,
        "Bluesky AppView": network.urls.appview,
        "PLC directory": network.urls.plc,
        "Chat double": f"{chat_url} (reached through the PDS as {world.chat_proxy})",
        "Mastodon server": world.mastodon_url,
    }
    return world


@dataclass
class People:
    """The sandbox's demo people and bot accounts."""

    bot_bsky: Person
    alice: Person
    bot_mastodon: MastodonPerson
    camille: MastodonPerson


async def _start_service(stack: AsyncExitStack, world: World, transcript: Transcript) -> People:
    assert world.mastodon is not None  # noqa: S101  (started)
    network, mastodon, url = world.network, world.mastodon, world.mastodon_url
    bot_bsky = await asyncio.to_thread(create_person, network, BOT_NAME)
    alice = await asyncio.to_thread(create_person, network, "alice")
    bot_mastodon = mastodon_people.create_person(mastodon, url, BOT_NAME)
    camille = mastodon_people.create_person(mastodon, url, "camille")

    port = free_port()
    assert network.urls is not None  # noqa: S101  (started)
    settings = Settings(
        database_url=f"sqlite:///{world.root / 'sandbox.db'}",
        secret_key=secrets.token_urlsafe(48),
        public_url=f"http://127.0.0.1:{port}",
        http_port=port,
        bsky_pds_url=network.urls.pds,
        bsky_handle=bot_bsky.handle,
        bsky_app_password=PASSWORD,
        mastodon_api_base_url=url,
        mastodon_access_token=bot_mastodon.account.token,
        mastodon_poll_sec=1.0,  # a local server: no budget to spare
    )
    await asyncio.to_thread(_create_database, settings.database_url)
    transcript.line("Starting the service (both bots, the scheduler, the web portal) on SQLite…")
    world.portal_url = await _serve(stack, create_app(settings), port)
    world.addresses["Web portal"] = world.portal_url
    world.addresses["Database"] = str(world.root / "sandbox.db")
    return People(bot_bsky, alice, bot_mastodon, camille)


def _create_database(url: str) -> None:
    engine = create_sync_engine(url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


async def _story(world: World, people: People, transcript: Transcript) -> bool:
    transcript.line()
    transcript.line("The story")
    bsky_ok = await _bluesky_mention(world, people, transcript)
    mastodon_ok = await _mastodon_mention(people, transcript)
    return bsky_ok and mastodon_ok


async def _bluesky_mention(world: World, people: People, transcript: Transcript) -> bool:
    alice, bot = people.alice, people.bot_bsky
    text = "Bonjour ! Vous pouvez m'aider à quitter X ?"
    await asyncio.to_thread(alice.post, text, bot, ["fr"])
    transcript.says("Bluesky", alice.handle, f"{text} @{bot.handle}", " mentions the bot")

    def answered() -> str | None:
        world.network.process_all()
        answers = alice.answers_from(bot)
        return answers[0].text if answers else None

    return await _await_answer(answered, "Bluesky", bot.handle, alice.handle, transcript)


async def _mastodon_mention(people: People, transcript: Transcript) -> bool:
    camille, bot = people.camille, people.bot_mastodon
    text = f"@{bot.acct} hello! How do I find my X friends here?"
    status = await asyncio.to_thread(camille.post, text)
    transcript.says("Mastodon", camille.acct, text, " mentions the bot")

    def answered() -> str | None:
        from mastodon_bot.text import html_to_text

        answers = camille.answers_to(status)
        return html_to_text(answers[0].content) if answers else None

    return await _await_answer(answered, "Mastodon", bot.acct, camille.acct, transcript)


async def _await_answer(
    answered: Callable[[], str | None],
    network: str,
    bot: str,
    person: str,
    transcript: Transcript,
) -> bool:
    started = time.monotonic()
    while time.monotonic() - started < ANSWER_TIMEOUT_SEC:
        text = await asyncio.to_thread(answered)
        if text is not None:
            took = time.monotonic() - started
            transcript.says(network, bot, text, f" answers @{person} ({took:.1f} s later)")
            return True
        await asyncio.sleep(ANSWER_POLL_SEC)
    transcript.line(f"  [{network}] no answer to @{person} within {ANSWER_TIMEOUT_SEC:.0f} s")
    return False


def _where_to_look(world: World, transcript: Transcript) -> None:
    transcript.line()
    transcript.line("Where to look")
    for name, address in world.addresses.items():
        transcript.line(f"  {name:17} {address}")
    transcript.line(f"  {'Demo accounts':17} password {PASSWORD!r} on the PDS; Mastodon tokens")
    transcript.line(f"  {'':17} token-helloquittex, token-camille (Bearer)")


async def _until_stopped(transcript: Transcript) -> None:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    transcript.line()
    transcript.line("Everything keeps running for you to explore. Ctrl-C stops it all.")
    try:
        await stopped.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
