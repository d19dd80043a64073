import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import iam_env, run_iam


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One run of `iam demo`, outside the checkout, read by every test below."""
    here = tmp_path_factory.mktemp("demo")
    return run_iam("demo", "--workdir", str(here / "demo"), cwd=here), here / "demo"


def test_demo_suspends_and_restores_ada_and_deletes_her_entry_when_retention_ends(demo) -> None:
    result, _ = demo
    out = result.stdout
    assert "suspend ada: COMPLETE" in out and "restore ada: COMPLETE" in out
    assert "while suspended, card 7001 at hq-main-entrance: DENIED" in out
    assert "after the restore, card 7001 at hq-main-entrance: GRANTED" in out
    assert "iam run-due --now" in out and ": 0 deletion(s)" in out
    assert "ada deleted in directory" in out


def test_demo_tells_joiner_mover_leaver_and_verifies_each(demo) -> None:
    result, workdir = demo
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for chapter in ("joiner ada: COMPLETE", "mover ada: COMPLETE", "offboard ada: COMPLETE", "chain intact"):
        assert chapter in out
    assert "no_access" in out
    assert "Keycloak Admin API emulator" in out and "end 1 session(s)" in out
    assert "revoke consent and offline tokens for mail" in out
    assert "card 7001 at hq-main-entrance: GRANTED" in out
    assert "after offboarding, card 7001 at hq-main-entrance: DENIED" in out
    assert "demo-admin-pw" not in out + (workdir / "iam-audit.jsonl").read_text()


def test_demo_vpn_is_a_real_openvpn_server_that_refuses_the_leaver(demo) -> None:
    """As root (CI) the demo's VPN runs; elsewhere it may be skipped, and must say why."""
    result, workdir = demo
    out = result.stdout
    if os.geteuid() != 0 and not os.environ.get("CI"):
        assert "VPN: OpenVPN server in" in out or "VPN: skipped, " in out
        return
    assert "VPN: OpenVPN server in network namespace" in out
    assert "ada connected to the VPN with ada.ovpn (written by iam, mode 0o600): from 127.0.0.1" in out
    assert "revoke certificate" in out and "kill 1 live tunnel(s) (CRL in place)" in out
    assert "after offboarding, ada's VPN client tried to reconnect: REFUSED (certificate revoked)" in out
    assert "demo-vpn-management-pw" not in out + (workdir / "iam-audit.jsonl").read_text()
    namespace = re.search(r"network namespace (iamdemo-[0-9a-f]+)", out)
    assert namespace, out
    # this demo's own namespace: other demos may run on the machine at the same time
    left = Path("/run/netns") / namespace.group(1)
    assert not left.exists(), "the demo left its network namespace behind"


def test_the_demo_goes_on_without_the_vpn_when_no_namespace_can_be_made(tmp_path: Path) -> None:
    """A container where `ip netns add` is refused: the demo says so and the story still verifies."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ip").write_text(
        "#!/bin/sh\necho 'mount --make-shared /run/netns failed: Operation not permitted' >&2\nexit 1\n"
    )
    (fake / "ip").chmod(0o755)
    env = iam_env()
    env["PATH"] = f"{fake}:{env['PATH']}"
    result = run_iam("demo", "--workdir", str(tmp_path / "demo"), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert "VPN: skipped, " in result.stdout and "offboard ada: COMPLETE" in result.stdout
    assert "connected to the VPN" not in result.stdout


def test_the_demo_refuses_a_directory_it_did_not_make_and_deletes_nothing(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("years of work")
    (mine / "iam.db").write_text("not the demo's")

    result = run_iam("demo", "--workdir", str(mine), cwd=tmp_path)

    assert result.returncode == 2, result.stdout[-2000:] + result.stderr
    assert "not empty, and not made by `iam demo`" in result.stderr
    assert sorted(p.name for p in mine.iterdir()) == ["iam.db", "thesis.txt"]
    assert (mine / "iam.db").read_text() == "not the demo's"


def test_a_rerun_replaces_only_the_demos_own_files(demo) -> None:
    """The directory the module's demo made: a rerun keeps what the user put beside the demo's files."""
    _, workdir = demo
    (workdir / "notes.txt").write_text("keep me")
    runs_before = _run_ids(workdir / "iam-audit.jsonl")

    result = run_iam("demo", "--workdir", str(workdir), cwd=workdir.parent)

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert (workdir / "notes.txt").read_text() == "keep me"
    runs_after = _run_ids(workdir / "iam-audit.jsonl")
    assert runs_after and not runs_after & runs_before  # a fresh log, not the old one continued


def _run_ids(log: Path) -> set[str]:
    return {json.loads(line).get("run_id") for line in log.read_text().splitlines()} - {None}


@pytest.mark.parametrize("on_path", [False, True], ids=["venv-not-on-path", "venv-on-path"])
def test_the_demos_closing_command_runs_as_printed(tmp_path: Path, on_path: bool) -> None:
    """scripts/demo runs .venv/bin/iam, which is on no PATH: the command the demo tells the user
    to run must work from their shell all the same."""
    script = Path(sys.executable).with_name("iam")
    if not script.is_file():
        pytest.skip("iam is not installed as a script beside this Python")
    env = iam_env()
    others = [d for d in env["PATH"].split(os.pathsep) if d and not (Path(d) / "iam").exists()]
    env["PATH"] = os.pathsep.join([str(script.parent)] * on_path + others)
    argv = [str(script), "demo", "--workdir", "demo"]
    shown = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stdout[-2000:] + shown.stderr
    command = shown.stdout.splitlines()[-1].split("with the public key alone: ", 1)[1]
    assert command.startswith("iam audit verify " if on_path else f"{script} audit verify ")

    checked = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True)

    assert checked.returncode == 0, checked.stdout + checked.stderr
