"""``hqx sandbox``: the whole service on this machine, with no account anywhere.

It starts a world (Bluesky's own PLC, PDS and AppView; the chat double; the Mastodon-API
test server), then the service itself (both bots, the scheduler, the web portal) on SQLite,
plays a short story with demo people and prints what each of them sees. With ``--keep`` it
stays up for a person to explore until Ctrl-C. Everything it starts listens on 127.0.0.1,
and everything it started is stopped and removed when it ends, however it ends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import os
import re
import secrets
import shutil
import signal
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from aiohttp import web

from bsky_service.lexicon import Lexicons
from hqx.app import create_app
from mastodon_bot.text import html_to_text
from shared.clock import utcnow
from shared.config import Settings, UploadLimits
from shared.db import migrate
from shared.db.engine import create_sync_engine
from shared.identity import challenge
from shared.xarchive.sample import random_ids, write_archive
from testworld.bluesky.chat import ChatDouble
from testworld.bluesky.install import ensure_installed
from testworld.bluesky.network import BlueskyDevNetwork
from testworld.bluesky.people import PASSWORD, create_person
from testworld.bluesky.services import free_port
from testworld.mastodon import people as mastodon_people
from testworld.mastodon.server import MastodonTestServer
from testworld.processes import ROLES, RoleProcesses, balancer, environment, until_serving
from testworld.takeover import answered_once, takeover
from testworld.x.server import XApp, XDouble, XUser

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiohttp import ClientResponse, ClientSession
    from yarl import URL

    from testworld.bluesky.people import Person
    from testworld.mastodon.people import MastodonPerson

SETTLE_SEC = 60.0
"""The longest an archive's page may say "reading" or "importing" in the story."""
X_CLIENT_ID = "helloquittex-sandbox"
ALICE_X = XUser("1000000042", "alice_x", "Alice")
# Alice's archive: 1,200 followers, the first 300 of whom she followed back. Bruno and
# Camille are two of them.
ALICE_CONTACTS = list(random_ids(1200, seed=7))
BRUNO_X, CAMILLE_X = ALICE_CONTACTS[0], ALICE_CONTACTS[1]
# The cutover comes this long after the service starts: the story has brought everyone by
# then, and watches the first delivery.
CUTOVER_AFTER = timedelta(seconds=45)
DELIVERY_TIMEOUT_SEC = 120.0
SUGGESTION = re.compile(r"\d+ (of your X contacts|de vos contacts de X)")
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
    x: XDouble | None = None
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


@dataclass(frozen=True, slots=True)
class Layout:
    """How the service runs: one process on SQLite (``each`` 0), or ``each`` process of
    every role on the PostgreSQL database ``database_url``."""

    each: int = 0
    database_url: str = ""


def run_sandbox(*, keep: bool, out: TextIO | None = None, layout: Layout | None = None) -> int:
    """Install what is missing, start everything, play the story; return the exit status."""
    import sys

    stream = out or sys.stdout
    transcript = Transcript(stream)
    transcript.line("HelloQuitteX sandbox: everything runs on this machine, on 127.0.0.1.")
    installation = ensure_installed(log=lambda line: transcript.line(f"  [install] {line}"))
    return asyncio.run(_sandbox(installation, keep, transcript, layout or Layout()))


async def _sandbox(installation: Any, keep: bool, transcript: Transcript, layout: Layout) -> int:
    root = Path(tempfile.mkdtemp(prefix="hqx-sandbox-"))
    try:
        async with AsyncExitStack() as stack:
            world = await _start_world(stack, installation, root, transcript)
            people, processes = await _start_service(stack, world, transcript, layout)
            ok = await _story(world, people, transcript)
            stage = Stage(world, people, transcript)
            if processes is not None:
                ok = await takeover(stage, processes) and ok
            ok = await answered_once(stage) and ok
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
    """The sandbox's demo people and bot accounts: Alice is on both networks."""

    bot_bsky: Person
    alice: Person
    bruno: Person
    bot_mastodon: MastodonPerson
    camille: MastodonPerson
    alice_mastodon: MastodonPerson


async def _start_service(
    stack: AsyncExitStack, world: World, transcript: Transcript, layout: Layout
) -> tuple[People, RoleProcesses | None]:
    assert world.mastodon is not None  # noqa: S101  (started)
    network, mastodon, url = world.network, world.mastodon, world.mastodon_url
    bot_bsky = await asyncio.to_thread(create_person, network, BOT_NAME)
    alice = await asyncio.to_thread(create_person, network, "alice")
    bruno = await asyncio.to_thread(create_person, network, "bruno")
    bot_mastodon = mastodon_people.create_person(mastodon, url, BOT_NAME)
    camille = mastodon_people.create_person(mastodon, url, "camille")
    alice_mastodon = mastodon_people.create_person(mastodon, url, "alice")

    port = free_port()
    assert network.urls is not None  # noqa: S101  (started)
    # X, as far as "Sign in with X" goes: Alice is signed in there, and approves.
    world.x = XDouble(
        apps={X_CLIENT_ID: XApp(X_CLIENT_ID, f"http://127.0.0.1:{port}/x/signin/callback")},
        at_browser=ALICE_X,
    )
    x_url = await _serve(stack, world.x.app())
    world.addresses["X sign-in double"] = x_url
    settings = Settings(
        database_url=f"sqlite:///{world.root / 'sandbox.db'}",
        secret_key=secrets.token_urlsafe(48),
        public_url=f"http://127.0.0.1:{port}",
        http_port=port,
        bsky_pds_url=network.urls.pds,
        bsky_handle=bot_bsky.handle,
        bsky_app_password=PASSWORD,
        bsky_chat_proxy=world.chat_proxy,
        mastodon_api_base_url=url,
        mastodon_access_token=bot_mastodon.account.token,
        mastodon_poll_sec=1.0,  # a local server: no budget to spare
        x_client_id=X_CLIENT_ID,
        x_authorize_url=f"{x_url}/i/oauth2/authorize",
        x_api_url=x_url,
        upload_limits=UploadLimits(folder=world.root / "uploads"),
        cutover_at=utcnow() + CUTOVER_AFTER,
        reconnect_check_sec=1.0,
        # The people's own servers of this world: on loopback, over plain http.
        outbound_allow=tuple(urlsplit(u).netloc for u in (network.urls.pds, url)),
    )
    people = People(bot_bsky, alice, bruno, bot_mastodon, camille, alice_mastodon)
    if layout.each:
        settings = dataclasses.replace(settings, database_url=layout.database_url)
        await asyncio.to_thread(_create_database, settings.database_url)
        processes = await _start_processes(stack, world, transcript, settings, layout.each)
        world.portal_url = await _serve(stack, balancer(processes.web_ports), port)
        world.addresses["Web portal"] = world.portal_url
        return people, processes
    await asyncio.to_thread(_create_database, settings.database_url)
    transcript.line("Starting the service (both bots, the scheduler, the web portal) on SQLite…")
    world.portal_url = await _serve(stack, create_app(settings), port)
    world.addresses["Web portal"] = world.portal_url
    world.addresses["Database"] = str(world.root / "sandbox.db")
    return people, None


async def _start_processes(
    stack: AsyncExitStack, world: World, transcript: Transcript, settings: Settings, each: int
) -> RoleProcesses:
    """``each`` process of every role, on PostgreSQL, behind a forwarder on the portal's
    address; stopped when ``stack`` closes."""
    transcript.line(
        f"Starting the service as {each} web, {each} work and {each} bots processes on PostgreSQL…"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HQX_")}
    env |= environment(settings)
    text = os.environ.get("HQX_LOG_FORMAT", "text") == "text"
    env["HQX_LOG_FORMAT"] = "text" if text else "json"
    env["HQX_LOG_LEVEL"] = "WARNING" if text else os.environ.get("HQX_LOG_LEVEL", "INFO")
    processes = RoleProcesses(env, dict.fromkeys(ROLES, each))
    stack.push_async_callback(asyncio.to_thread, processes.stop)
    await asyncio.to_thread(processes.start)
    await until_serving(processes)
    return processes


def _create_database(url: str) -> None:
    engine = create_sync_engine(url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


class Stage:
    """Where the story's people talk to the bots, and see what they answer."""

    def __init__(self, world: World, people: People, transcript: Transcript) -> None:
        self.world, self.people, self.transcript = world, people, transcript

    async def on_bluesky(self, person: Person, text: str, note: str) -> str | None:
        """``person`` posts ``text`` mentioning the bot (in French); the bot's answer."""
        bot = self.people.bot_bsky
        before = len(await asyncio.to_thread(person.answers_from, bot))
        await asyncio.to_thread(person.post, text, bot, ["fr"])
        self.transcript.says("Bluesky", person.handle, f"{text} @{bot.handle}", note)
        return await self.answer_on_bluesky(person, before)

    async def answer_on_bluesky(self, person: Person, before: int) -> str | None:
        """The bot's answer to ``person`` that follows the first ``before`` ones."""
        bot = self.people.bot_bsky

        def answered() -> str | None:
            self.world.network.process_all()
            answers = person.answers_from(bot)
            return answers[before].text if len(answers) > before else None

        return await self._answer(answered, "Bluesky", bot.handle, person.handle)

    async def on_mastodon(
        self, person: MastodonPerson, text: str, note: str, *, direct: bool = False
    ) -> str | None:
        """``person`` posts ``text`` mentioning the bot (in English); the bot's answer."""
        bot = self.people.bot_mastodon
        visibility = "direct" if direct else "public"
        status = await asyncio.to_thread(
            person.client.status_post, text, language="en", visibility=visibility
        )
        self.transcript.says("Mastodon", person.acct, text, note)

        def answered() -> str | None:
            answers = person.answers_to(status)
            return html_to_text(answers[0].content) if answers else None

        return await self._answer(answered, "Mastodon", bot.acct, person.acct)

    async def _answer(
        self, answered: Callable[[], str | None], network: str, bot: str, person: str
    ) -> str | None:
        started = time.monotonic()
        while time.monotonic() - started < ANSWER_TIMEOUT_SEC:
            text = await asyncio.to_thread(answered)
            if text is not None:
                took = time.monotonic() - started
                self.transcript.says(network, bot, text, f" answers @{person} ({took:.1f} s later)")
                return text
            await asyncio.sleep(ANSWER_POLL_SEC)
        self.transcript.line(
            f"  [{network}] no answer to @{person} within {ANSWER_TIMEOUT_SEC:.0f} s"
        )
        return None


async def _story(world: World, people: People, transcript: Transcript) -> bool:
    stage = Stage(world, people, transcript)
    bot_acct = f"{people.bot_mastodon.acct}@{world.mastodon_url.removeprefix('http://')}"
    alice_acct = f"{people.alice_mastodon.acct}@{world.mastodon_url.removeprefix('http://')}"
    transcript.line()
    transcript.line("The story")
    transcript.line("1. Two people meet the bot.")
    greeted = await stage.on_bluesky(
        people.alice, "Bonjour ! Vous pouvez m'aider à quitter X ?", " mentions the bot"
    )
    helped = await stage.on_mastodon(
        people.camille, f"@{bot_acct} hello! How do I find my X friends here?", " mentions the bot"
    )
    transcript.line("2. Alice links her Bluesky and Mastodon accounts.")
    asked = await stage.on_bluesky(people.alice, f"lier {alice_acct}", " asks to link")
    code = challenge.find(asked or "")
    if code is None:
        transcript.line("  the bot gave Alice no code")
        return False
    # What the bot handed over to post, as it is: it names the account that asked.
    ready = next(line for line in (asked or "").splitlines() if code in line)
    before = len(await asyncio.to_thread(people.alice.answers_from, people.bot_bsky))
    proven = await stage.on_mastodon(
        people.alice_mastodon, ready, " posts the text from her Mastodon account"
    )
    confirmed = await stage.answer_on_bluesky(people.alice, before)
    transcript.line("3. Alice brings her X archive, through a link the bot gives her privately.")
    answer = await stage.on_mastodon(
        people.alice_mastodon, f"@{bot_acct} link x", " writes privately", direct=True
    )
    uploaded = await _upload_archive(
        world, answer or "", transcript, ("Alice", ALICE_X.id, ALICE_X.username),
        ALICE_CONTACTS, ALICE_CONTACTS[:300],
    )  # fmt: skip
    status = await stage.on_bluesky(people.alice, "statut", " asks what is linked")
    claimed = "(X, déclaré)" in (status or "")
    transcript.line("4. An archive only claims: Alice has X itself confirm her account.")
    signed = await _sign_in_with_x(answer or "", transcript)
    status = await stage.on_bluesky(people.alice, "statut", " asks again")
    verified = "(X, vérifié par X)" in (status or "")
    transcript.line("5. Alice signs in to her space and lets the service follow for her.")
    allowed = await _allow_follows(stage, bot_acct)
    steps = (greeted, helped, proven, confirmed, uploaded, claimed, signed, verified, allowed)
    return all(steps) and await _reconnection(stage, bot_acct)


async def _allow_follows(stage: Stage, bot_acct: str) -> bool:
    """Alice asks for her space, opens the private link, and allows follows on her Mastodon
    server (she is signed in there): OAuth with PKCE, her consent on her own server."""
    from aiohttp import ClientSession, CookieJar

    world, people, transcript = stage.world, stage.people, stage.transcript
    answer = await stage.on_mastodon(
        people.alice_mastodon, f"@{bot_acct} espace", " writes privately", direct=True
    )
    link = re.search(r"http://127\.0\.0\.1:\d+/me/signin/[\w-]+", answer or "")
    if link is None or world.mastodon is None:
        transcript.line("  the bot gave Alice no sign-in link")
        return False
    world.mastodon.oauth.sign_in(people.alice_mastodon.account)
    # The portal is on 127.0.0.1: a jar that keeps cookies of an address, as browsers do.
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as browser:
        async with browser.get(f"{link.group(0)}?lang=en") as opened:
            proof = re.search(r'name="page" value="(\w+)"', await opened.text())
        if proof is None:
            return False
        async with browser.post(f"{link.group(0)}?lang=en", data={"page": proof.group(1)}) as space:
            page = await space.text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        transcript.line("  [Web] Alice opens her link and presses Enter: her space.")
        if csrf is None:
            return False
        form = {"csrf": csrf.group(1)}
        async with browser.post(f"{world.portal_url}/me/follows/mastodon?lang=en",
                                data=form) as onward:  # fmt: skip
            button = re.search(r'<a class="button" href="([^"]+)">', await onward.text())
        if button is None:
            return False
        async with browser.get(html.unescape(button.group(1))) as back:
            page = await back.text()
    allowed = re.search(r"Allowed on mastodon for [^<]+", page)
    transcript.line("  [Web] She allows it on her Mastodon server, and is back in her space:")
    transcript.line(f"      {allowed.group(0) if allowed else _page_text(page)[:200]}")
    return allowed is not None


async def _reconnection(stage: Stage, bot_acct: str) -> bool:
    """Bruno (Bluesky) and Camille (Mastodon), whom Alice knew on X, bring their archives;
    at the cutover everyone gets their contacts: starter packs on Bluesky, messages in their
    own threads on Mastodon, with the bridge between the two."""
    world, people, transcript = stage.world, stage.people, stage.transcript
    transcript.line("6. Bruno and Camille, whom Alice knew on X, bring their archives too.")
    await asyncio.to_thread(people.bruno.allow_messages_from, "all")
    await stage.on_bluesky(people.bruno, "lier x", " asks for his upload link")
    message = await _private_message(stage, people.bruno)
    bruno = ("Bruno", str(BRUNO_X), "bruno_x")
    bruno_up = await _upload_archive(world, message or "", transcript, bruno, [], [ALICE_X_ID])
    answer = await stage.on_mastodon(
        people.camille, f"@{bot_acct} link x", " writes privately", direct=True
    )
    camille = ("Camille", str(CAMILLE_X), "camille_x")
    camille_up = await _upload_archive(world, answer or "", transcript, camille, [ALICE_X_ID], [])
    transcript.line("7. The cutover: each of them finds their X contacts.")
    found = await _delivered(stage)
    return bruno_up and camille_up and found


ALICE_X_ID = int(ALICE_X.id)


async def _private_message(stage: Stage, person: Person) -> str | None:
    """The bot's latest private message to ``person`` on Bluesky (through the chat double)."""
    bot = stage.people.bot_bsky

    def received() -> str | None:
        chat = person.chat(stage.world.chat_proxy).convo
        for convo in chat.list_convos().convos:
            if bot.did in {m.did for m in convo.members}:
                texts = [m.text for m in chat.get_messages({"convoId": convo.id}).messages
                         if m.sender.did == bot.did]  # fmt: skip
                if texts:
                    return str(texts[0])  # newest first
        return None

    return await stage._answer(received, "Bluesky", bot.handle, f"{person.handle} (privately)")


async def _delivered(stage: Stage) -> bool:
    """Wait for the cutover's delivery to reach everyone; show it; on Mastodon, Camille is
    followed for Alice (she allowed it), and Camille downloads her following list."""
    people, transcript = stage.people, stage.transcript
    bot = people.bot_bsky

    def on_bluesky(person: Person) -> Callable[[], str | None]:
        def delivered() -> str | None:
            stage.world.network.process_all()
            texts = [a.text for a in person.answers_from(bot) if "starter-pack" in a.text]
            return texts[0] if texts else None

        return delivered

    def on_mastodon(person: MastodonPerson) -> Callable[[], str | None]:
        def delivered() -> str | None:
            texts = [html_to_text(n.status.content) for n in person.mentions()]
            found = [t for t in texts if SUGGESTION.search(t)]
            return found[0] if found else None

        return delivered

    waits = [
        ("Bluesky", bot.handle, people.alice.handle, on_bluesky(people.alice)),
        ("Bluesky", bot.handle, people.bruno.handle, on_bluesky(people.bruno)),
        ("Mastodon", people.bot_mastodon.acct, people.camille.acct,
         on_mastodon(people.camille)),
    ]  # fmt: skip
    shown = []
    for network, bot_name, person, delivered in waits:
        shown.append(await _wait(stage, delivered, network, bot_name, person))
    if not all(shown):
        return False
    members = await asyncio.to_thread(_pack_members, stage)
    transcript.line(f"  [Bluesky] Alice's starter pack, as the AppView shows it: {members}")
    followed = await _followed_for_alice(stage)
    listed = await _following_list(shown[2] or "", transcript)
    return "@bruno.test" in members and followed and listed


async def _followed_for_alice(stage: Stage) -> bool:
    """Camille, followed from Alice's own Mastodon account, with her own token."""
    server, people = stage.world.mastodon, stage.people
    assert server is not None  # noqa: S101  (started)
    pair = (people.alice_mastodon.account.id, people.camille.account.id)
    started = time.monotonic()
    while time.monotonic() - started < DELIVERY_TIMEOUT_SEC:
        if server.follows.get(pair) == "following":
            stage.transcript.line(
                f"  [Mastodon] @{people.alice_mastodon.acct} now follows @{people.camille.acct}: "
                "made for her, from her account (no message needed)"
            )
            return True
        await asyncio.sleep(ANSWER_POLL_SEC)
    stage.transcript.line("  [Mastodon] Camille was not followed for Alice in time")
    return False


async def _wait(
    stage: Stage, delivered: Callable[[], str | None], network: str, bot: str, person: str
) -> str | None:
    started = time.monotonic()
    while time.monotonic() - started < DELIVERY_TIMEOUT_SEC:
        text = await asyncio.to_thread(delivered)
        if text is not None:
            stage.transcript.says(network, bot, text, f" writes to @{person}")
            return text
        await asyncio.sleep(ANSWER_POLL_SEC)
    stage.transcript.line(f"  [{network}] nothing reached @{person} in time")
    return None


def _pack_members(stage: Stage) -> str:
    """Who is in Alice's starter pack (the pack the bot wrote that holds Bruno)."""
    bot = stage.people.bot_bsky
    listed = bot.client.com.atproto.repo.list_records(
        {"repo": bot.did, "collection": "app.bsky.graph.starterpack", "limit": 100}
    )
    for record in listed.records:
        pack = bot.client.app.bsky.graph.get_starter_pack({"starterPack": record.uri})
        items = bot.client.app.bsky.graph.get_list({"list": pack.starter_pack.list.uri}).items
        handles = sorted(f"@{item.subject.handle}" for item in items)
        if "@bruno.test" in handles:
            return f"“{pack.starter_pack.record.name}”: " + ", ".join(handles)
    return "none found"


async def _following_list(message: str, transcript: Transcript) -> bool:
    """Camille opens the following-list link of her Mastodon message and downloads it."""
    from aiohttp import ClientSession

    link = re.search(r"http://127\.0\.0\.1:\d+/x/following/[\w-]+", message)
    if link is None:
        transcript.line("  the bot gave Camille no following list")
        return False
    async with ClientSession() as session:
        async with session.get(link.group(0)) as page:
            shown = _page_text(await page.text())
        transcript.line("  [Web] Camille opens the link of her Mastodon message:")
        transcript.line(f"      {page.status} {shown}")
        async with session.post(link.group(0)) as download:
            csv = await download.text()
    transcript.line("  [Web] and downloads the list to import on Mastodon:")
    for line in csv.splitlines():
        transcript.line(f"      {line}")
    return download.status == 200 and len(csv.splitlines()) == 2


async def _sign_in_with_x(answer: str, transcript: Transcript) -> bool:
    """Alice follows "Sign in with X" from her link; X (the double) sends her back."""
    from aiohttp import ClientSession, CookieJar

    link = re.search(r"http://127\.0\.0\.1:\d+/x/upload/([\w-]+)", answer)
    if link is None:
        return False
    # A browser keeps the portal's cookies for the way back (here the host is an address).
    jar = CookieJar(unsafe=True)
    async with ClientSession(cookie_jar=jar) as browser:
        # Her link's page says whose it is, and carries the form that starts the sign-in.
        async with browser.get(link.group(0)) as opened:
            page = await opened.text()
        form = re.search(r'action="(/x/signin/[\w-]+)">\s*<input type="hidden" name="page" '
                         r'value="(\w+)">', page)  # fmt: skip
        if form is None:
            return False
        start = link.group(0).split("/x/upload/")[0] + form.group(1)
        async with browser.post(start, data={"page": form.group(2)}) as onward:
            refresh = re.search(
                r'http-equiv="refresh" content="0; url=([^"]+)"', await onward.text()
            )
        if refresh is None:
            return False
        # To X, approved there, and back.
        async with browser.get(html.unescape(refresh.group(1))) as response:
            page = await response.text()
    shown = _page_text(page)
    transcript.line("  [Web] Alice clicks “Se connecter avec X”, approves on X, comes back:")
    transcript.line(f"      {response.status} {shown}")
    return response.status == 200


async def _upload_archive(
    world: World,
    answer: str,
    transcript: Transcript,
    who: tuple[str, str, str],
    followers: list[int],
    following: list[int],
) -> bool:
    """``who`` (name, X id, X username) opens their link and sends the zip X gave them (a
    sample in X's format)."""
    from aiohttp import ClientSession, FormData

    name, x_id, username = who
    link = re.search(r"http://127\.0\.0\.1:\d+/x/upload/[\w-]+", answer)
    if link is None:
        transcript.line(f"  the bot gave {name} no upload link")
        return False
    archive = world.root / f"twitter-2025-01-19-{username}.zip"
    await asyncio.to_thread(write_archive, archive, int(x_id), username, followers, following)
    form = FormData()
    form.add_field("archive", archive.read_bytes(), filename=archive.name)
    async with ClientSession() as session:
        async with session.post(link.group(0), data=form) as response:
            status, page, waiting = await _settled(session, response)
        transcript.line(f"  [Web] {name} sends {archive.name} through their link:")
        transcript.line(f"      {status} {_page_text(page)}")
        if status != 200:
            return False
        async with session.post(waiting, data={"action": "import"}) as response:
            status, page, _ = await _settled(session, response)
        transcript.line(f"  [Web] {name} confirms the import:")
        transcript.line(f"      {status} {_page_text(page)}")
        return status == 200


async def _settled(session: ClientSession, response: ClientResponse) -> tuple[int, str, URL]:
    """The archive's page once it says more than "reading" or "importing" (it refreshes
    itself meanwhile, as the person's browser would): its status, text and address."""
    status, page, where = response.status, await response.text(), response.url
    deadline = asyncio.get_running_loop().time() + SETTLE_SEC
    while 'http-equiv="refresh"' in page and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.2)
        async with session.get(where) as again:
            status, page = again.status, await again.text()
    return status, page, where


def _page_text(page: str) -> str:
    """What a person reads on a portal page, below its title."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.split("<h1>", 1)[-1])).split())


def _where_to_look(world: World, transcript: Transcript) -> None:
    transcript.line()
    transcript.line("Where to look")
    for name, address in world.addresses.items():
        transcript.line(f"  {name:17} {address}")
    transcript.line(f"  {'Demo accounts':17} password {PASSWORD!r} on the PDS; Mastodon tokens")
    transcript.line(f"  {'':17} token-helloquittex, token-camille, token-alice (Bearer)")


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
