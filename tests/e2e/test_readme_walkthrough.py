"""The README, word for word: its walk-through runs against a real slapd, its files exist, its
command table is `iam --help`'s."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from iam.policy import load_policy
from tests.conftest import run_iam
from tests.support.slapd import free_port, slapd_available

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"<!-- walkthrough:.*?-->\s*```sh\n(.*?)```\s*<!-- /walkthrough -->", re.S)
#: The lab directory's port, which examples/company/iam.yaml names: one walk-through at a time.
LOCK = Path("/tmp/iam-lab-directory-3890.lock")


def walkthrough() -> list[str]:
    (block,) = BLOCK.findall(README)
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@pytest.fixture
def checkout(tmp_path: Path) -> Iterator[Path]:
    """The repository's examples copied as a newcomer's checkout has them; the lab directory stopped after."""
    if not slapd_available():
        pytest.skip("slapd is not installed (run scripts/test, which installs it)")
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield tmp_path
        finally:
            company = tmp_path / "examples/company"
            if (company / "iam-directory").exists():  # a failed step must not leave slapd running
                subprocess.run(
                    [sys.executable, "-m", "iam", "lab", "directory", "stop"], cwd=company, check=False
                )


def test_the_readme_walkthrough_runs_command_by_command_against_a_real_slapd(checkout: Path) -> None:
    commands = walkthrough()
    assert commands[0] == "cd examples/company" and "iam lab directory start" in commands[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("IAM_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # this checkout's iam
    state: list[str] = []  # cd and export lines, replayed before each command as a shell keeps them
    for command in commands:
        kept = command.startswith(("cd ", "export "))
        if kept:
            state.append(command)
        script = "\n".join(["set -eu", *state, *([] if kept else [command])])
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=600,
        )
        assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        if command.startswith("iam hr sync hr-feed.csv") and "--dry-run" not in command:
            assert result.stdout.splitlines()[-1].endswith(", 0 failed"), result.stdout[-500:]
    company = checkout / "examples/company"
    pid = company / "iam-directory/slapd.pid"
    assert not pid.exists()  # the last command stopped it


def test_the_walkthroughs_directory_holds_every_group_the_sample_policy_names() -> None:
    ldif = (REPO / "examples/company/directory.ldif").read_text()
    dns = set(re.findall(r"^dn: (.+)$", ldif, re.M))
    roles = load_policy(REPO / "examples/company/policy.yaml").roles.values()
    named = {e.value for r in roles for ents in r.entitlements.values() for e in ents}
    assert named and named <= dns
    assert {f"ou={ou},dc=example,dc=org" for ou in ("people", "groups", "leavers")} <= dns


def test_every_file_the_readme_names_under_examples_exists() -> None:
    named = set(re.findall(r"examples/[\w./-]*\w", README))
    assert named
    missing = sorted(path for path in named if not (REPO / path).exists())
    assert missing == []
    for line in walkthrough():  # files a walk-through command reads in examples/company
        for word in line.split():
            if re.fullmatch(r"[\w-]+\.(csv|json|yaml|ldif)", word):
                assert (REPO / "examples/company" / word).exists(), word


def test_the_readme_command_table_lists_exactly_the_commands_of_iam_help() -> None:
    table = README.split("### Commands", 1)[1].split("\n\n", 2)[1]
    documented = set(re.findall(r"`iam ([a-z][\w-]*)", table))
    shown = run_iam("--help")
    assert shown.returncode == 0, shown.stderr
    listing = shown.stdout.split("Commands:", 1)[1]
    commands = set(re.findall(r"^  ([a-z][\w-]*)", listing, re.M))
    assert documented == commands


def test_the_readme_names_every_json_schema_in_schemas() -> None:
    listed = README.split("- Schemas: the JSON Schemas", 1)[1].split("\n\n", 1)[0].split("for editors", 1)[0]
    named = set(re.findall(r"`([a-z][a-z-]*)`", listed))
    committed = {p.name.removesuffix(".schema.json") for p in (REPO / "schemas").glob("*.schema.json")}
    assert committed - named == set()


def test_git_ignores_what_following_the_readme_writes_in_the_checkout() -> None:
    """A newcomer's `git status` after the README's commands: nothing iam wrote, no secret to commit."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    written = [
        "iam-demo/iam.db",  # scripts/demo
        "iam-lab/iam.yaml",  # iam lab up --workdir iam-lab
        "iam-lab/secrets/lenel-password",
        "examples/iam.db",  # iam --config examples/iam.yaml ...
        "examples/iam-audit.jsonl",
        "examples/iam-audit.jsonl.lock",
        "examples/iam-audit.jsonl.0000012345",
        "examples/company/iam-directory/admin-password",  # the walk-through
        "examples/company/iam-directory/data/data.mdb",
        "examples/company/iam-directory/slapd.conf",
        "examples/company/iam-audit.jsonl.lock",
        "examples/company/reviews/certification-kjackson-841d3889.csv",
    ]
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *written], cwd=REPO, capture_output=True, text=True
    )
    assert sorted(ignored.stdout.split()) == sorted(written)


def test_the_lab_directory_refuses_a_missing_ldif_and_starts_nothing(tmp_path: Path) -> None:
    result = run_iam(
        "lab",
        "directory",
        "start",
        "--workdir",
        str(tmp_path / "d"),
        "--ldif",
        str(tmp_path / "none.ldif"),
        "--port",
        str(free_port()),
    )
    assert result.returncode == 2
    assert "none.ldif" in result.stderr
    assert not (tmp_path / "d/slapd.pid").exists() and not (tmp_path / "d/data").exists()
    stopped = run_iam("lab", "directory", "stop", "--workdir", str(tmp_path / "d"))
    assert stopped.returncode == 0 and "no lab directory runs" in stopped.stderr
