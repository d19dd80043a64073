"""`iam suspend` and `iam restore` end to end on a real slapd, checked from outside.

An incident: the person's access is cut now, reversibly. The directory
refuses their password while suspended and takes it again after the
restore; their groups stay on the disabled entry and nothing has to be
rebuilt; no sync gives them anything meanwhile, and the sweep shows the
suspension (a finding once it is too old) rather than a leaver.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from tests.conftest import Directory, run_iam
from tests.e2e.test_offboard_cli import can_bind, outside_view
from tests.support import schemas
from tests.support.company import BASE_FEED, groups_of, locked, sync, write_feed

PASSWORD = "alice-Passw0rd"
BEA_GROUPS = {"staff", "finance", "payroll-entry"}


def iam_json(config: Path, *args: str):
    result = run_iam("--config", str(config), *args, "--format", "json")
    return result, (json.loads(result.stdout) if result.stdout.strip() else None)


def suspend(config: Path, user: str, *extra: str):
    return iam_json(config, "suspend", user, "--reason", "incident: phished laptop", "--yes", *extra)


def restore(config: Path, user: str, *extra: str):
    return iam_json(config, "restore", user, "--reason", "incident closed", "--yes", *extra)


def audit(config: Path) -> list[dict]:
    text = (config.parent / "state/audit.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_suspend_locks_her_out_keeps_her_groups_and_restore_lets_her_back_in(
    directory: Directory, config_file: Path
) -> None:
    before = outside_view(directory.slapd, "alice")
    assert can_bind(directory.slapd, directory.alice, PASSWORD) and len(before["groups"]) == 4

    result, report = suspend(config_file, "alice", "--ticket", "INC-7")

    assert result.returncode == 0, result.stdout + result.stderr
    schemas.validate(report, "run-report")
    assert (report["kind"], report["status"]) == ("suspend", "complete")
    ops = [s["op"] for system in report["systems"] for s in system["steps"]]
    assert ops == ["disable"]  # no password scrambled, no group removed, not moved to the leavers
    during = outside_view(directory.slapd, "alice")
    assert not can_bind(directory.slapd, directory.alice, PASSWORD)
    assert during["groups"] == before["groups"] and during["dn"] == before["dn"]

    shown, status = iam_json(config_file, "status", "alice")
    assert shown.returncode == 0, shown.stderr
    schemas.validate(status, "status")
    assert status["identity_status"] == "suspended"
    held = status["suspension"]
    assert (held["reason"], held["ticket"], held["age_days"]) == ("incident: phished laptop", "INC-7", 0)
    assert held["run_id"] == report["run_id"]
    assert len(held["held"]["directory"]["entitlements"]) == 4 and held["held"]["directory"]["enabled"]
    table = run_iam("--config", str(config_file), "status", "alice")
    assert "suspended alice for 0 day(s)" in table.stdout and "incident: phished laptop" in table.stdout
    [placed] = [r for r in audit(config_file) if r["event"] == "suspension.placed"]
    assert placed["username"] == "alice" and placed["ticket"] == "INC-7"

    result, report = restore(config_file, "alice")

    assert result.returncode == 0, result.stdout + result.stderr
    schemas.validate(report, "run-report")
    assert (report["kind"], report["status"]) == ("restore", "complete")
    assert can_bind(directory.slapd, directory.alice, PASSWORD)
    assert outside_view(directory.slapd, "alice")["groups"] == before["groups"]
    assert iam_json(config_file, "status", "alice")[1]["suspension"] is None
    assert [r["event"] for r in audit(config_file)].count("suspension.lifted") == 1

    again, _ = restore(config_file, "alice")
    assert again.returncode == 2 and "not suspended" in again.stderr


def test_bad_input_and_a_dry_run_change_nothing(directory: Directory, config_file: Path) -> None:
    before = outside_view(directory.slapd, "alice")

    nobody, _ = suspend(config_file, "alicee")
    assert nobody.returncode == 2 and "no system holds an account named 'alicee'" in nobody.stderr
    assert "alice" in nobody.stderr  # the likely typo is named
    blank = run_iam("--config", str(config_file), "suspend", "alice", "--reason", " ", "--yes")
    assert blank.returncode == 2 and "reason" in blank.stderr
    odd = run_iam("--config", str(config_file), "suspend", "alice\n", "--reason", "x", "--yes")
    assert odd.returncode == 2 and "invalid username" in odd.stderr
    dry, report = suspend(config_file, "alice", "--dry-run")
    assert dry.returncode == 0 and report["status"] == "planned"

    assert outside_view(directory.slapd, "alice") == before
    assert can_bind(directory.slapd, directory.alice, PASSWORD)
    assert iam_json(config_file, "status", "alice")[1]["suspension"] is None
    not_suspended, _ = restore(config_file, "alice")
    assert not_suspended.returncode == 2 and "not suspended" in not_suspended.stderr


def test_a_suspended_person_gets_nothing_from_a_sync_and_the_sweep_shows_the_suspension(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    assert sync(company, write_feed(tmp_path / "v1.csv", BASE_FEED))[0].returncode == 0
    assert groups_of(directory, "bea") == BEA_GROUPS
    assert suspend(company, "bea")[0].returncode == 0
    moved = [BASE_FEED[0], dict(BASE_FEED[1], department="Sales", title="Sales Rep"), *BASE_FEED[2:]]

    result, report = sync(company, write_feed(tmp_path / "v2.csv", moved))

    assert result.returncode == 4, result.stdout + result.stderr
    [held] = report["events"]
    assert (held["type"], held["username"], held["status"]) == ("mover", "bea", "held")
    assert "suspended" in held["error"] and "iam restore bea" in held["error"]
    assert groups_of(directory, "bea") == BEA_GROUPS and locked(directory, "bea")

    now = datetime.now(UTC)
    swept, sweep = iam_json(company, "review", "sweep", "--now", now.isoformat())
    schemas.validate(sweep, "review-sweep")
    assert [f for f in sweep["findings"] if f["account"] == "bea"] == []  # neither leaver nor excess
    assert [(s["username"], s["age_days"]) for s in sweep["suspensions"]] == [("bea", 0)]

    later = (now + timedelta(days=31)).isoformat()
    swept, sweep = iam_json(company, "review", "sweep", "--now", later)
    assert swept.returncode == 4
    [old] = [f for f in sweep["findings"] if f["account"] == "bea"]
    assert old["type"] == "suspended" and "31 days" in old["why"] and "max_suspension_days 30" in old["why"]

    # after the restore the held mover goes through
    assert restore(company, "bea")[0].returncode == 0
    result, report = sync(company, write_feed(tmp_path / "v2.csv", moved))
    assert result.returncode == 0, result.stdout + result.stderr
    assert groups_of(directory, "bea") == {"staff", "sales"} and not locked(directory, "bea")


def test_restore_leaves_out_what_the_policy_no_longer_grants(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    assert sync(company, write_feed(tmp_path / "v1.csv", BASE_FEED))[0].returncode == 0
    assert suspend(company, "bea")[0].returncode == 0
    policy = company.parent / "policy.yaml"
    data = yaml.safe_load(policy.read_text())
    data["birthright"] = [b for b in data["birthright"] if b["role"] != "payroll-clerk"]
    policy.write_text(yaml.safe_dump(data))

    result, report = restore(company, "bea")

    assert result.returncode == 0, result.stdout + result.stderr
    assert report["status"] == "complete"
    assert groups_of(directory, "bea") == {"staff", "finance"} and not locked(directory, "bea")
    [lifted] = [r for r in audit(company) if r["event"] == "suspension.lifted"]
    assert lifted["not_restored"] == {"directory": ["group:cn=payroll-entry,ou=groups,dc=example,dc=org"]}


def test_hr_terminating_a_suspended_person_is_a_leaver_and_ends_the_suspension(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    assert sync(company, write_feed(tmp_path / "v1.csv", BASE_FEED))[0].returncode == 0
    assert suspend(company, "bea")[0].returncode == 0
    gone = [BASE_FEED[0], dict(BASE_FEED[1], status="terminated"), *BASE_FEED[2:]]

    result, report = sync(company, write_feed(tmp_path / "v2.csv", gone))

    assert result.returncode == 0, result.stdout + result.stderr
    assert [(e["type"], e["username"], e["status"]) for e in report["events"]] == [
        ("leaver", "bea", "applied")
    ]
    assert groups_of(directory, "bea") == set() and locked(directory, "bea")
    status = iam_json(company, "status", "bea")[1]
    assert status["identity_status"] == "terminated" and status["suspension"] is None
    late, _ = restore(company, "bea")
    assert late.returncode == 2 and "not suspended" in late.stderr
    again, _ = suspend(company, "bea")
    assert again.returncode == 2 and "terminated" in again.stderr


def test_a_suspend_while_the_directory_is_down_ends_partial_and_resume_records_and_cuts_it(
    directory: Directory, config_file: Path
) -> None:
    before = outside_view(directory.slapd, "alice")
    directory.slapd.stop()

    result, report = suspend(config_file, "alice")

    assert result.returncode == 3, result.stdout + result.stderr
    assert report["status"] == "partial"
    [down] = report["systems"]
    assert down["system"] == "directory" and down["result"] in ("error", "unverified"), down
    directory.slapd.start()
    assert can_bind(directory.slapd, directory.alice, PASSWORD)  # nothing was cut there yet

    resumed, again = iam_json(config_file, "resume", report["run_id"])

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert again["status"] == "complete"
    assert not can_bind(directory.slapd, directory.alice, PASSWORD)
    [held] = [r for r in audit(config_file) if r["event"] == "suspension.held_recorded"]
    assert held["systems"] == ["directory"] and held["held"]["directory"]["enabled"] is True

    restored, back = restore(config_file, "alice")

    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert back["status"] == "complete"
    assert can_bind(directory.slapd, directory.alice, PASSWORD)
    assert outside_view(directory.slapd, "alice")["groups"] == before["groups"]
