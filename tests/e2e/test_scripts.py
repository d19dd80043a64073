"""The repository's scripts as newcomers meet them: `scripts/demo` shows no install noise unless it fails."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _quietly(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPTS / "quietly"), "installing things", *command], capture_output=True, text=True, timeout=60
    )


def test_a_quiet_install_that_works_prints_one_line() -> None:
    result = _quietly("bash", "-c", "echo 'Get:1 http://deb.debian.org noise'; echo warning >&2")

    assert result.returncode == 0
    assert result.stdout == "installing things ... ok\n"
    assert result.stderr == ""


def test_a_quiet_install_that_fails_shows_everything_it_said_and_its_exit_code() -> None:
    result = _quietly(
        "bash", "-c", "echo 'E: Unable to locate package nope'; echo 'pip: resolver' >&2; exit 7"
    )

    assert result.returncode == 7
    assert "FAILED (exit 7)" in result.stdout
    assert "E: Unable to locate package nope" in result.stdout and "pip: resolver" in result.stdout


def test_every_install_in_scripts_demo_goes_through_quietly() -> None:
    lines = (SCRIPTS / "demo").read_text().replace("\\\n", " ").splitlines()
    installs = [line for line in lines if re.search(r"pip install|install-packages|-m venv", line)]
    assert installs
    assert all(line.strip().startswith("scripts/quietly ") for line in installs), installs
