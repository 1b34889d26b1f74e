"""The deploy files run as written: the systemd units pass `systemd-analyze verify` with the
installed `hqx` in place of /opt/helloquittex's, and each command they run is one `hqx`
accepts."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hqx.cli import _parser

UNITS = Path(__file__).resolve().parents[1] / "deploy" / "systemd"
INSTALLED = "/opt/helloquittex/bin/hqx"
HQX = str(Path(sys.executable).with_name("hqx"))


def units() -> list[Path]:
    return sorted(p for p in UNITS.iterdir() if p.suffix in (".service", ".target", ".timer"))


def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze is missing: scripts/system-packages.sh installs it"
    checked: list[Path] = []
    for unit in units():
        text = unit.read_text().replace(INSTALLED, HQX)
        # A template is verified as an instance (a port), as systemd would start it.
        name = unit.name.replace("@.service", "@8081.service")
        (tmp_path / name).write_text(text)
        checked.append(tmp_path / name)
    done = subprocess.run(
        [analyze, "verify", "--man=no", *map(str, checked)],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    said = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert (done.returncode, said) == (0, [])


@pytest.mark.parametrize("unit", units(), ids=lambda p: p.name)
def test_each_command_of_a_unit_is_one_hqx_accepts(unit: Path) -> None:
    commands = [
        line.split("=", 1)[1]
        for line in unit.read_text().splitlines()
        if line.startswith(("ExecStart=", "ExecStartPre="))
    ]
    for command in commands:
        program, *args = shlex.split(command)
        assert program == INSTALLED
        parsed = _parser().parse_args(args)
        assert callable(parsed.handler)
    if unit.suffix == ".service":
        assert commands, "a service runs hqx"
