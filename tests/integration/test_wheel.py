"""The project as a wheel: installed with its ``sandbox`` extra into a fresh virtual
environment, away from this checkout, it carries everything `hqx sandbox` needs (the local
world's data files included) and plays the story."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT_SEC = 900
RUN_TIMEOUT_SEC = 300


def test_a_wheel_in_a_fresh_venv_runs_the_sandbox(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         f"{ROOT}[sandbox]"],
        capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SEC, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-2000:]
    where = subprocess.run(
        [str(python), "-c", "import testworld.bluesky as w; print(w.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    package = Path(where.stdout.strip()).parent
    assert venv in package.parents, "the world comes from the wheel, not from this checkout"
    assert (package / "package-lock.json").is_file() and (package / "network.mjs").is_file()

    # A TMPDIR that PostgreSQL, run as its own user, can enter (pytest's is private).
    work = Path(tempfile.mkdtemp(prefix="hqx-test-wheel-"))
    work.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HQX_")}
    env["TMPDIR"] = str(work)
    try:
        done = subprocess.run(
            [str(venv / "bin" / "hqx"), "sandbox"],
            cwd=work, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_SEC,
            check=False,
        )  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "@alice Done: @alice.test (Bluesky) and @alice (Mastodon) are now linked." in done.stdout
    assert done.stdout.rstrip().endswith("Stopped; nothing is left running.")
