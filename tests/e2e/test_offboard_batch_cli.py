"""`iam offboard --from FILE` end to end against a real slapd (issue 14: many leavers at once)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.conftest import Directory, run_iam
from tests.e2e.test_offboard_cli import can_bind, outside_view
from tests.support import schemas


def leavers_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "leavers.csv"
    path.write_text(text)
    return path


def test_a_list_offboards_each_person_and_exits_with_the_worst_run(
    directory: Directory, config_file: Path, tmp_path: Path
) -> None:
    path = leavers_file(tmp_path, "username,reason\nalice,resigned\nnobdoy,layoff\nbob,layoff\n")
    result = run_iam(
        "--config", str(config_file), "offboard", "--from", str(path), "--yes", "--format", "json"
    )
    assert result.returncode == 2, (
        result.stderr
    )  # alice and bob done; "nobdoy" not found (exit 2, per person)
    document = json.loads(result.stdout)
    schemas.validate(document, "offboard-batch")
    assert [(r["username"], r["status"], r["reason"]) for r in document["runs"]] == [
        ("alice", "complete", "resigned"),
        ("nobdoy", "not_found", "layoff"),
        ("bob", "complete", "layoff"),
    ]
    for uid in ("alice", "bob"):
        assert outside_view(directory.slapd, uid)["groups"] == []
    assert not can_bind(directory.slapd, directory.alice, "alice-Passw0rd")


def test_a_list_all_found_exits_0_with_one_summary_line(
    directory: Directory, config_file: Path, tmp_path: Path
) -> None:
    path = leavers_file(tmp_path, "alice\nbob\n")
    result = run_iam(
        "--config", str(config_file), "offboard", "--from", str(path), "--reason", "layoff", "--yes"
    )
    assert result.returncode == 0, result.stderr
    assert f"{path}: 2 people: 2 complete" in result.stdout


def test_a_bad_file_is_refused_naming_its_line_and_nothing_changes(
    directory: Directory, config_file: Path, tmp_path: Path
) -> None:
    path = leavers_file(tmp_path, "alice\nbob smith\n")
    result = run_iam("--config", str(config_file), "offboard", "--from", str(path), "--reason", "x", "--yes")
    assert result.returncode == 2
    assert f"{path}:2: invalid username 'bob smith'" in result.stderr
    assert can_bind(directory.slapd, directory.alice, "alice-Passw0rd")


def test_a_list_over_the_limit_is_refused_and_nothing_changes(
    directory: Directory, config_file: Path, tmp_path: Path
) -> None:
    path = leavers_file(tmp_path, "alice\nbob\n")
    result = run_iam(
        "--config",
        str(config_file),
        "offboard",
        "--from",
        str(path),
        "--reason",
        "x",
        "--yes",
        "--max-terminations",
        "1",
    )
    assert result.returncode == 2
    assert "would terminate 2 people, more than the limit of 1" in result.stderr
    assert can_bind(directory.slapd, directory.alice, "alice-Passw0rd")


def test_a_username_and_a_file_together_are_refused(config_file: Path, tmp_path: Path) -> None:
    path = leavers_file(tmp_path, "alice\n")
    result = run_iam("--config", str(config_file), "offboard", "alice", "--from", str(path), "--reason", "x")
    assert result.returncode == 2
    assert "give a USERNAME or --from FILE" in result.stderr


def test_a_dry_run_of_a_list_shows_every_plan_and_changes_nothing(
    directory: Directory, config_file: Path, tmp_path: Path
) -> None:
    path = leavers_file(tmp_path, "alice\nnobdoy\n")
    base = ("--config", str(config_file), "offboard", "--from", str(path), "--reason", "layoff", "--dry-run")
    shown = run_iam(*base)
    assert shown.returncode == 2, shown.stderr  # "nobdoy" is found nowhere, as in a real run
    assert "dry run: nothing was changed" in shown.stdout and "alice" in shown.stdout
    result = run_iam(*base, "--format", "json")
    document = json.loads(result.stdout)
    schemas.validate(document, "offboard-batch")
    assert [(r["username"], r["status"], r["dry_run"]) for r in document["runs"]] == [
        ("alice", "planned", True),
        ("nobdoy", "not_found", True),
    ]
    assert outside_view(directory.slapd, "alice")["groups"] != []
    assert can_bind(directory.slapd, directory.alice, "alice-Passw0rd")
    status = run_iam("--config", str(config_file), "status", "alice", "--format", "json")
    assert json.loads(status.stdout)["identity_status"] != "terminated"
    with sqlite3.connect(config_file.parent / "state" / "iam.db") as db:
        assert db.execute("select count(*) from holds").fetchone() == (0,)  # nobody held against HR
        assert db.execute("select count(*) from runs where dry_run = 0").fetchone() == (0,)


def test_a_dry_run_says_nothing_is_left_to_remove_for_someone_already_offboarded(
    directory: Directory, config_file: Path, tmp_path: Path
) -> None:
    first = run_iam("--config", str(config_file), "offboard", "alice", "--reason", "resigned", "--yes")
    assert first.returncode == 0, first.stderr
    path = leavers_file(tmp_path, "alice\nnobdoy\n")

    result = run_iam(
        "--config", str(config_file), "offboard", "--from", str(path), "--reason", "x", "--dry-run"
    )

    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") == 3}
    assert "nothing left to remove" in rows["alice"], result.stdout
    assert "no account in any system" in rows["nobdoy"], result.stdout
