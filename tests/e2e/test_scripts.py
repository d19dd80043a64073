"""The repository's scripts as newcomers meet them: `scripts/demo` shows no install noise unless it fails."""

from __future__ import annotations

import os
import re
import shutil
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


def _demo_installs(tmp_path: Path, python3_has_ensurepip: bool) -> list[str]:
    """scripts/demo run as root in a copy of the checkout whose installs only say what they would do."""
    checkout, fake = tmp_path / "checkout", tmp_path / "bin"
    (checkout / "scripts").mkdir(parents=True)
    (checkout / ".venv/bin").mkdir(parents=True)
    fake.mkdir()
    shutil.copy(SCRIPTS / "demo", checkout / "scripts/demo")
    calls = tmp_path / "calls"
    stubs = {
        checkout / "scripts/quietly": f'shift; echo "$*" >> {calls}',
        checkout / ".venv/bin/iam": "true",
        fake / "id": "echo 0",
        # Debian's python3, with or without python3-venv (which holds ensurepip)
        fake / "python3": f"exit {0 if python3_has_ensurepip else 1}",
    }
    for path, body in stubs.items():
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [str(checkout / "scripts/demo")], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return calls.read_text().splitlines()


def test_scripts_demo_installs_python3_venv_where_python3_cannot_make_a_venv(tmp_path: Path) -> None:
    installs = [c for c in _demo_installs(tmp_path, python3_has_ensurepip=False) if "install-packages" in c]
    assert installs == ["scripts/install-packages openvpn easy-rsa iproute2 python3-venv"]


def test_scripts_demo_asks_for_no_python3_venv_where_python3_makes_venvs(tmp_path: Path) -> None:
    installs = [c for c in _demo_installs(tmp_path, python3_has_ensurepip=True) if "install-packages" in c]
    assert installs == ["scripts/install-packages openvpn easy-rsa iproute2"]
