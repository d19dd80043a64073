"""Names and reasons from a real directory reach a terminal as text, never as escape sequences.

A uid, a group's name or a reason may hold anything: ESC[8m would hide the
rest of a row from the person reading it, U+202E would reverse it. The
tables show such characters as their escapes; ``--format json`` keeps them.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Directory, run_iam
from tests.support.slapd import BASE_DN, add_person

HIDDEN = "evil\x1b[8m\u202e"


def assert_no_raw_control(out: str) -> None:
    raw = sorted({f"U+{ord(c):04X}" for c in out if not c.isprintable() and c != "\n"})
    assert raw == [], f"raw control characters reached the terminal: {raw}"


def test_status_sweep_and_audit_show_escape_sequences_as_text(company: Path, directory: Directory) -> None:
    conn = directory.slapd.admin()
    group = f"cn={HIDDEN},ou=groups,{BASE_DN}"
    assert conn.add(group, ["groupOfNames"], {"cn": HIDDEN, "member": [directory.alice]}), conn.result
    add_person(conn, "mallory\x1b[8m")  # an orphan: HR knows nobody of that name
    conn.unbind()
    config = ("--config", str(company))

    status = run_iam(*config, "status", "alice")
    assert status.returncode == 0, status.stderr
    assert_no_raw_control(status.stdout)
    assert "evil\\x1b[8m\\u202e" in status.stdout
    exact = json.loads(run_iam(*config, "status", "alice", "--format", "json").stdout)
    assert f"holds group:{group}" in exact["systems"][0]["access"]

    sweep = run_iam(*config, "review", "sweep")
    assert sweep.returncode == 4, sweep.stderr
    assert_no_raw_control(sweep.stdout + sweep.stderr)
    assert "mallory\\x1b[8m" in sweep.stdout

    offboard = run_iam(*config, "offboard", "bob", "--reason", f"resigned {HIDDEN}", "--yes")
    assert offboard.returncode == 0, offboard.stderr
    shown = run_iam(*config, "audit", "show", "--user", "bob")
    assert_no_raw_control(shown.stdout)
    assert "resigned evil\\x1b[8m\\u202e" in shown.stdout


def test_an_error_prints_what_it_names_as_text(tmp_path: Path) -> None:
    missing = tmp_path / f"{HIDDEN}.yaml"
    failed = run_iam("--config", str(missing), "status", "alice")
    assert failed.returncode == 2
    assert_no_raw_control(failed.stderr)
    assert "evil\\x1b[8m\\u202e.yaml: configuration file not found" in failed.stderr
