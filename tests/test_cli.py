"""The `hqx` command as an operator uses it: exit codes, one-line errors, output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hqx.cli import main
from shared.db.migrate import MIGRATIONS_DIR
from tests.archives import OWNER, OWNER_ID, make_archive

MIGRATIONS = MIGRATIONS_DIR / "versions"

if TYPE_CHECKING:
    import pytest

FOLLOWERS = [11, 12, 13, 2**64 - 1]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_json_reports_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = make_archive(tmp_path / "a.zip", [*FOLLOWERS, 11], [21, 22])
    code, out, _ = run(capsys, "archive", "inspect", str(path), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["account_id"] == str(OWNER_ID)
    assert report["username"] == OWNER
    assert (report["followers"], report["following"]) == (4, 2)
    assert (report["rejected_rows"], report["duplicate_rows"]) == (0, 1)
    assert [Path(f).name for f in report["files"]] == ["account.js", "follower.js", "following.js"]


def test_inspect_refusal_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "photo.zip"
    path.write_bytes(b"\x89PNG not a zip")
    code, out, err = run(capsys, "archive", "inspect", str(path), "--json")
    assert code == 1
    assert out == ""
    assert err == "hqx: error: photo.zip is not a zip file\n"


def test_import_needs_the_schema_then_stores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_archive(tmp_path / "a.zip", FOLLOWERS, [21])
    code, _, err = run(capsys, "archive", "import", str(path))
    assert code == 1
    assert "run `hqx db upgrade`" in err
    assert run(capsys, "db", "upgrade")[0] == 0
    code, out, _ = run(capsys, "archive", "import", str(path), "--organisation")
    assert code == 0
    assert f"Imported @{OWNER} (X id {OWNER_ID}) for person 1 (new)" in out
    assert "followers   4" in out
    code, out, _ = run(capsys, "archive", "import", str(path))
    assert "replaced    5 edges of the earlier import" in out
    head = sorted(p.stem.split("_")[0] for p in MIGRATIONS.glob("[0-9]*.py"))[-1]
    assert run(capsys, "db", "status")[1].startswith(f"schema {head}, code {head}: up to date")


def test_a_bad_setting_stops_every_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("HQX_CUTOVER_AT=soon\n")
    code, _, err = run(capsys, "db", "status")
    assert code == 1
    assert err.startswith("hqx: error: HQX_CUTOVER_AT: 'soon' is not an ISO 8601 date-time")


def test_config_check_masks_secrets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HQX_MASTODON_API_BASE_URL", "https://m.example")
    monkeypatch.setenv("HQX_MASTODON_ACCESS_TOKEN", "very-secret-token")
    code, out, _ = run(capsys, "config", "check")
    assert code == 0
    assert "very-secret-token" not in out
    assert "Mastodon bot: configured" in out and "Bluesky bot: not configured" in out


def test_sample_writes_an_archive_that_imports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run(capsys, "archive", "sample", "demo.zip", "--followers", "50", "--following", "5")[0]
        == 0
    )
    code, out, _ = run(capsys, "archive", "inspect", "demo.zip", "--json")
    assert (json.loads(out)["followers"], json.loads(out)["following"]) == (50, 5)
    code, _, err = run(capsys, "archive", "sample", "demo.zip")
    assert (code, err) == (1, "hqx: error: demo.zip already exists\n")


def test_the_installed_console_script_runs(tmp_path: Path) -> None:
    hqx = Path(sys.executable).with_name("hqx")
    result = subprocess.run([str(hqx), "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "archive" in result.stdout and "db" in result.stdout


def test_import_draws_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    import fcntl
    import os
    import pty
    import struct
    import termios

    path = make_archive(tmp_path / "a.zip", FOLLOWERS, [21])
    hqx = str(Path(sys.executable).with_name("hqx"))
    env = {**os.environ, "HQX_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}"}
    subprocess.run([hqx, "db", "upgrade"], env=env, check=True, capture_output=True)
    controller, terminal = pty.openpty()
    # A new pseudo-terminal is 0 columns wide, where a bar has no room: give it a real width.
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        result = subprocess.run(
            [hqx, "archive", "import", str(path)], env=env, stderr=terminal, stdout=subprocess.PIPE
        )
        os.close(terminal)
        drawn = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal's other end is closed: all is read
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(controller)
    assert result.returncode == 0
    assert b"Imported @" in result.stdout
    assert b"importing" in drawn and b"100%" in drawn


def test_the_sandbox_without_the_local_world_says_how_to_get_it(tmp_path: Path) -> None:
    """The product installed alone (no `sandbox` extra): one line, not a traceback."""
    script = (
        "import sys; sys.modules['testworld'] = None\n"  # as if the world were not installed
        "from hqx.cli import main; sys.exit(main(['sandbox']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert done.stderr.startswith("hqx: error: the sandbox needs the local test world (")
    assert done.stderr.rstrip().endswith("pip install 'helloquittex[sandbox]'")
    assert "Traceback" not in done.stderr
