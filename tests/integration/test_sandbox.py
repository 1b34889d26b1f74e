"""`hqx sandbox`: the whole service and its world on this machine, a story, then nothing left."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from testworld.bluesky.services import PostgresServer

pytestmark = pytest.mark.integration
HQX = str(Path(sys.executable).with_name("hqx"))
RUN_TIMEOUT_SEC = 300


@pytest.fixture
def tmp() -> Iterator[Path]:
    """An empty TMPDIR for the sandbox that PostgreSQL (run as its own user) can enter."""
    folder = Path(tempfile.mkdtemp(prefix="hqx-test-sandbox-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def environment(tmp: Path) -> dict[str, str]:
    """The sandbox's temporary files all go under ``tmp``, to check nothing is left."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HQX_")}
    env["TMPDIR"] = str(tmp)
    return env


def leftovers(tmp: Path) -> tuple[list[str], list[str]]:
    """Files left under ``tmp`` and processes still running from there."""
    files = sorted(str(p.relative_to(tmp)) for p in tmp.iterdir())
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True)
    processes = [line for line in ps.stdout.splitlines() if str(tmp) in line]
    return files, processes


def without_waiting(tmp: Path) -> Iterator[tuple[list[str], list[str]]]:
    """Leftovers, looked at a few times: processes may take a moment to be reaped."""
    for _ in range(50):
        found = leftovers(tmp)
        yield found
        if found == ([], []):
            return
        time.sleep(0.1)


def settled(tmp: Path) -> tuple[list[str], list[str]]:
    *_, last = without_waiting(tmp)
    return last


def printed_addresses(out: str) -> set[tuple[str, int]]:
    """The loopback addresses the sandbox said it serves (and its story used)."""
    found = re.finditer(r"http://(127\.0\.0\.1|localhost):(\d+)", out)
    return {(m.group(1), int(m.group(2))) for m in found}


def accepting(addresses: set[tuple[str, int]]) -> set[tuple[str, int]]:
    """Those of ``addresses`` where something accepts a connection now. Only what the
    sandbox started is looked at: other servers of this machine are none of its business."""
    open_ = set()
    for address in addresses:
        with socket.socket() as probe:
            probe.settimeout(1.0)
            if probe.connect_ex(address) == 0:
                open_.add(address)
    return open_


def test_the_sandbox_plays_its_story_and_leaves_nothing_behind(tmp: Path) -> None:
    done = subprocess.run(
        [HQX, "sandbox"],
        env={**environment(tmp), "HQX_LOG_FORMAT": "json", "HQX_LOG_LEVEL": "INFO"},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SEC,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    # The story: a person mentions the bot on each network and gets its answer.
    assert "[Bluesky] @alice.test mentions the bot:" in out
    assert "[Bluesky] @helloquittex.test answers @alice.test" in out
    assert "@alice.test Bonjour ! Je suis HelloQuitteX" in out
    assert "[Mastodon] @camille mentions the bot:" in out
    assert "[Mastodon] @helloquittex answers @camille" in out
    assert "@camille Hello! I'm HelloQuitteX" in out
    # Alice links her two accounts: a code on Bluesky, posted from Mastodon, confirmed on both.
    assert "[Bluesky] @alice.test asks to link:" in out
    assert "Pour prouver que @alice@127.0.0.1:" in out
    assert "[Mastodon] @alice posts the text from her Mastodon account:" in out
    assert "@alice Done: @alice.test (Bluesky) and @alice (Mastodon) are now linked." in out
    assert "C'est fait : @alice.test (Bluesky) et @alice@127.0.0.1:" in out
    assert "Comptes reliés : @alice.test (Bluesky, prouvé), @alice@127.0.0.1:" in out
    # Her X archive, through the link the bot gave her privately, shows as claimed.
    assert "[Mastodon] @alice writes privately:" in out
    assert "Your own link to upload your X archive" in out
    assert "[Web] Alice sends twitter-2025-01-19-alice_x.zip through their link:" in out
    assert "Est-ce bien votre archive ?" in out and "Compte X @alice_x" in out, "shown first"
    assert "[Web] Alice confirms the import:" in out
    assert "200 HelloQuitteX Archive importée / imported: @alice_x 1,200 abonnés" in out
    assert "@alice_x (X, déclaré)." in out
    # Then "Sign in with X" (X's OAuth, a local double of it): X itself confirms the account.
    assert "[Web] Alice clicks “Se connecter avec X”, approves on X, comes back:" in out
    assert "200 HelloQuitteX X ✓ @alice_x C'est fait : X a confirmé" in out
    assert "@alice_x (X, vérifié par X)." in out
    # Her space: the private link, and follows allowed on her own Mastodon server.
    assert "[Web] Alice opens her link and presses Enter: her space." in out
    assert "Allowed on mastodon for alice@127.0.0.1:" in out
    # Bruno and Camille bring their archives; at the cutover everyone finds their contacts.
    assert "[Web] Bruno sends twitter-2025-01-19-bruno_x.zip through their link:" in out
    assert "[Web] Camille sends twitter-2025-01-19-camille_x.zip through their link:" in out
    assert "[Bluesky] @helloquittex.test writes to @alice.test:" in out
    assert "1 de vos contacts de X est sur Bluesky. Il est dans votre pack de démarrage : " in out
    assert "https://bsky.app/starter-pack/helloquittex.test/" in out
    assert "[Bluesky] Alice's starter pack, as the AppView shows it: “Mes contacts de X”: " in out
    assert "[Mastodon] @helloquittex writes to @camille:" in out
    assert "1 of your X contacts is on Mastodon." in out
    assert "(search for these addresses on your server): alice@127.0.0.1:" in out
    assert "Account address,Show boosts,Notify on new posts,Languages" in out
    assert "[Mastodon] @alice now follows @camille: made for her, from her account" in out
    assert "alice@127.0.0.1:" in out and ",true,false," in out
    assert re.search(r"\d+ answers on Bluesky, \d+ on Mastodon; given twice: 0", out), out
    # Where to look, on loopback only.
    for name in ("Bluesky PDS", "Bluesky AppView", "Mastodon server", "Web portal"):
        [line] = [line for line in out.splitlines() if line.strip().startswith(name)]
        address = line.split()[-1] if name != "Chat double" else line
        assert address.startswith(("http://127.0.0.1:", "http://localhost:")), line
    assert out.rstrip().endswith("Stopped; nothing is left running.")
    assert settled(tmp) == ([], [])
    served = printed_addresses(out)
    assert len(served) >= 5, "PLC, PDS, AppView, Mastodon, portal"
    assert accepting(served) == set(), "a server the sandbox started still listens"
    nobody_in_the_log(done.stderr, out)


def test_two_processes_of_each_role_play_the_story_and_a_waiting_bot_takes_over(
    tmp: Path, postgres: PostgresServer
) -> None:
    """Two web, two work and two bots processes on PostgreSQL (the web ones behind a
    round-robin forwarder): the whole story; then the active bots process is killed with
    SIGKILL and the waiting one answers the next mentions within 30 s; no post answered
    twice."""
    database = postgres.create_database("hqx_sandbox_roles")
    done = subprocess.run(
        [HQX, "sandbox", "--processes", "2"],
        env={**environment(tmp), "HQX_DATABASE_URL": database},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SEC,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-5000:]
    assert "as 2 web, 2 work and 2 bots processes on PostgreSQL" in out
    assert "200 HelloQuitteX Archive importée / imported: @alice_x 1,200 abonnés" in out
    assert "@alice_x (X, vérifié par X)." in out
    assert "1 de vos contacts de X est sur Bluesky." in out
    assert "[Mastodon] @alice now follows @camille: made for her, from her account" in out
    killed = re.search(r"the bots process (\d+), active on Bluesky, is killed", out)
    assert killed is not None, out
    took = re.search(r"answered ([\d.]+) s \(Bluesky\) and ([\d.]+) s \(Mastodon\)", out)
    assert took is not None and max(map(float, took.groups())) <= 30.0, out
    answered = re.search(r"(\d+) answers on Bluesky, (\d+) on Mastodon; given twice: 0", out)
    assert answered is not None, out
    assert min(map(int, answered.groups())) >= 4, "every mention of the story, answered once"
    assert out.rstrip().endswith("Stopped; nothing is left running.")
    assert settled(tmp) == ([], [])


def nobody_in_the_log(err: str, story: str) -> None:
    """The service's log of the whole story (JSON lines on standard error; the local
    world's own servers may write there too) names none of the story's people: no DID, no
    handle, no address, no X username or id."""
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert len(records) >= 5, f"the service logged as JSON lines: {err[-2000:]}"
    logged = "\n".join(f"{r['message']} {r.get('exception', '')}" for r in records)
    people = set(re.findall(r"did:plc:[a-z0-9]+", story))
    people |= set(re.findall(r"@?\b(\w+@127\.0\.0\.1:\d+)", story))
    people |= {"alice.test", "bruno.test", "camille.test", "alice_x", "bruno_x", "camille_x"}
    assert {who for who in people if who in logged} == set()
    assert "did:" not in logged


def test_keep_leaves_it_running_until_ctrl_c(tmp: Path) -> None:
    process = subprocess.Popen(
        [HQX, "sandbox", "--keep"],
        env=environment(tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_SEC
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C stops it all" in line or time.monotonic() > deadline:
                break
        portal = next(line.split()[-1] for line in lines if "Web portal" in line)
        with urllib.request.urlopen(f"{portal}/healthz", timeout=10) as response:
            health = json.loads(response.read())
        assert health["status"] == "ok"
        assert health["bots"]["bluesky"]["handle"] == "helloquittex.test"
        assert health["bots"]["bluesky"]["messages"] == "on"
        assert health["bots"]["mastodon"]["handle"].startswith("helloquittex@127.0.0.1:")
        assert settled(tmp)[1], "the world is still running while kept"
        served = printed_addresses("".join(lines))
        assert len(served) >= 6, "PLC, PDS, AppView, chat, Mastodon, portal"
        assert accepting(served) == served, "all of it serves while kept"
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=120)
    assert process.returncode == 0, "".join(lines) + rest
    assert rest.rstrip().endswith("Stopped; nothing is left running.")
    assert settled(tmp) == ([], [])
    assert accepting(served) == set(), "a server the sandbox started still listens"
