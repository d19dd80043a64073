"""Crash and outage recovery with `iam resume`, the audit chain, and secrecy."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from iam.lab.waiting import wait_for

from tests.conftest import Directory, iam_env, run_iam
from tests.support.slapd import ADMIN_PASSWORD, BASE_DN, add_group

MANY = 150


def give_many_groups(directory: Directory) -> None:
    conn = directory.slapd.admin()
    for i in range(MANY):
        add_group(conn, f"bulk{i:03d}", "groupOfNames", [directory.alice])
    conn.unbind()


def journal(config_file: Path) -> list[tuple[int, str, int]]:
    path = config_file.parent / "state/iam.db"
    if not path.exists():
        return []
    db = sqlite3.connect(path, timeout=30)
    try:
        return db.execute("select seq, status, attempts from steps order by seq").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def wait_for_done_steps(config_file: Path, count: int, proc: subprocess.Popen[str]) -> None:
    def under_way() -> bool:
        if sum(1 for _, status, _ in journal(config_file) if status == "done") >= count:
            return True
        assert proc.poll() is None, "the run ended before it could be interrupted"
        return False

    wait_for(under_way, 60, f"{count} steps of the run done", interval=0.005)


def start_offboarding_many_groups(
    directory: Directory, config_file: Path, *extra: str
) -> subprocess.Popen[str]:
    """alice in many groups, her offboarding started in another process and under way."""
    give_many_groups(directory)
    command = [
        sys.executable,
        "-m",
        "iam",
        "--config",
        str(config_file),
        "offboard",
        "alice",
        "--reason",
        "left",
        "--yes",
        *extra,
    ]
    proc = subprocess.Popen(command, env=iam_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_done_steps(config_file, 5, proc)
    return proc


def groups_of_alice(directory: Directory) -> int:
    conn = directory.slapd.admin()
    conn.search(
        BASE_DN,
        "(|(member=uid=alice,ou=people,dc=example,dc=org)"
        "(member=uid=alice,ou=leavers,dc=example,dc=org)(memberUid=alice))",
        attributes=["cn"],
    )
    count = len(conn.entries)
    conn.unbind()
    return count


def changes_per_step(config_file: Path) -> Counter[int]:
    lines = (config_file.parent / "state/audit.jsonl").read_text().splitlines()
    return Counter(r["seq"] for r in map(json.loads, lines) if r["event"] == "access.changed")


def test_killed_run_is_finished_by_resume_without_doing_anything_twice(
    directory: Directory, config_file: Path
) -> None:
    proc = start_offboarding_many_groups(directory, config_file)
    directory.slapd.pause()  # freeze the server so the run is caught mid-way
    proc.kill()
    proc.wait()
    directory.slapd.resume()
    before = journal(config_file)
    done_before = {seq for seq, status, _ in before if status == "done"}
    assert 5 <= len(done_before) < len(before)

    result = run_iam("--config", str(config_file), "resume", "--format", "json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "complete"
    assert groups_of_alice(directory) == 0
    after = journal(config_file)
    assert all(status == "done" for _, status, _ in after)
    assert all(attempts == 1 for seq, _, attempts in after if seq in done_before)
    assert max(changes_per_step(config_file).values()) == 1


def test_server_gone_mid_run_leaves_partial_then_resume_completes(
    directory: Directory, config_file: Path
) -> None:
    proc = start_offboarding_many_groups(directory, config_file, "--format", "json")
    directory.slapd.pause()
    out, err = proc.communicate(timeout=120)
    directory.slapd.resume()

    assert proc.returncode == 3, err
    report = json.loads(out)
    assert report["status"] == "partial"
    assert report["systems"][0]["error"]
    assert groups_of_alice(directory) > 0

    result = run_iam("--config", str(config_file), "resume", report["run_id"][:8], "--format", "json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "complete"
    assert groups_of_alice(directory) == 0
    assert max(changes_per_step(config_file).values()) == 1


def test_resume_with_nothing_to_do_is_a_clear_error(config_file: Path) -> None:
    result = run_iam("--config", str(config_file), "resume")
    assert result.returncode == 2
    assert "no unfinished run" in result.stderr


@pytest.fixture
def audited(directory: Directory, config_file: Path) -> Path:
    for user in ("alice", "bob"):
        result = run_iam("--config", str(config_file), "offboard", user, "--reason", "left", "--yes")
        assert result.returncode == 0, result.stderr
    verify = run_iam("--config", str(config_file), "audit", "verify")
    assert verify.returncode == 0, verify.stderr
    assert "chain intact" in verify.stdout
    return config_file.parent / "state/audit.jsonl"


def _tamper_and_verify(config_file: Path, log: Path, edit) -> subprocess.CompletedProcess[str]:
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(edit(lines)))
    return run_iam("--config", str(config_file), "audit", "verify")


def test_audit_verify_detects_an_edited_record(audited: Path, config_file: Path) -> None:
    def edit(lines: list[str]) -> list[str]:
        lines[3] = lines[3].replace('"username":"alice"', '"username":"mallory"')
        return lines

    result = _tamper_and_verify(config_file, audited, edit)
    assert result.returncode == 3
    assert "line 4" in result.stderr and "edited" in result.stderr


def test_audit_verify_detects_a_removed_record(audited: Path, config_file: Path) -> None:
    result = _tamper_and_verify(config_file, audited, lambda lines: lines[:2] + lines[3:])
    assert result.returncode == 3
    assert "removed" in result.stderr


def test_audit_verify_detects_reordered_records(audited: Path, config_file: Path) -> None:
    result = _tamper_and_verify(config_file, audited, lambda lines: [lines[1], lines[0], *lines[2:]])
    assert result.returncode == 3


def test_audit_verify_detects_a_truncated_tail(audited: Path, config_file: Path) -> None:
    result = _tamper_and_verify(config_file, audited, lambda lines: lines[:-3])
    assert result.returncode == 3
    assert "records were removed" in result.stderr


def test_no_secret_reaches_output_log_journal_or_report(directory: Directory, config_file: Path) -> None:
    outputs = [
        run_iam(
            "--config", str(config_file), "offboard", "alice", "--reason", "left", "--yes", "--format", fmt
        )
        for fmt in ("json", "table")
    ]
    outputs.append(run_iam("--config", str(config_file), "--debug", "status", "alice", "--format", "json"))
    conn = directory.slapd.admin()
    conn.search(BASE_DN, "(uid=alice)", attributes=["userPassword"])
    scrambled = conn.entries[0].userPassword.value
    scrambled = scrambled.decode() if isinstance(scrambled, bytes) else scrambled
    assert scrambled.startswith("{CRYPT}!")
    token = scrambled.removeprefix("{CRYPT}!")
    state = config_file.parent / "state"
    texts = [o.stdout + o.stderr for o in outputs]
    texts += [p.read_bytes().decode("latin-1") for p in state.iterdir()]
    for secret in (ADMIN_PASSWORD, token, "alice-Passw0rd"):
        for text in texts:
            assert secret not in text
