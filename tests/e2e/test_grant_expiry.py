"""Time-bound grants end by themselves: `run-due` revokes them when they expire, on a real slapd."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import Directory, iam_env, run_iam
from tests.support.company import BASE_FEED, groups_of, sync, write_feed

# 2026-11-30 ends at midnight in Paris: 23:00 UTC
BEFORE_END = "2026-11-30T22:59:59+00:00"
AFTER_END = "2026-11-30T23:00:01+00:00"
PROJECT_X = {
    "description": "a project's access: research, and developers (which engineering names too)",
    "entitlements": {
        "directory": [
            "group:cn=research,ou=groups,dc=example,dc=org",
            "group:cn=developers,ou=groups,dc=example,dc=org",
        ]
    },
}


@pytest.fixture
def granted(company: Path, tmp_path: Path, directory: Directory) -> Path:
    """ann (Engineering) holds project-x until 2026-11-30, in a company on Paris time."""
    config = yaml.safe_load(company.read_text())
    config["timezone"] = "Europe/Paris"
    company.write_text(yaml.safe_dump(config))
    policy_path = company.parent / "policy.yaml"
    policy = yaml.safe_load(policy_path.read_text())
    policy["roles"]["project-x"] = PROJECT_X
    policy["grants"] = [
        {"username": "ann", "role": "project-x", "expires": "2026-11-30", "requester": "bea", "reason": "X"}
    ]
    policy_path.write_text(yaml.safe_dump(policy))
    assert sync(company, write_feed(tmp_path / "feed.csv", BASE_FEED))[0].returncode == 0
    assert groups_of(directory, "ann") == {"staff", "engineering", "developers", "research"}
    return company


def run_due(config: Path, now: str) -> tuple[int, dict]:
    result = run_iam("--config", str(config), "run-due", "--now", now, "--format", "json")
    return result.returncode, json.loads(result.stdout) if result.stdout.strip() else {"err": result.stderr}


def audit(config: Path) -> list[dict]:
    text = (config.parent / "state/audit.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_run_due_revokes_a_grant_at_the_end_of_its_last_day_once(granted: Path, directory: Directory) -> None:
    code, early = run_due(granted, BEFORE_END)
    assert code == 0 and early["events"] == [], early
    assert "research" in groups_of(directory, "ann")

    code, due = run_due(granted, AFTER_END)

    assert code == 0, due
    assert [(e["type"], e["username"], e["status"]) for e in due["events"]] == [
        ("grant-expiry", "ann", "applied")
    ]
    assert groups_of(directory, "ann") == {"staff", "engineering", "developers"}
    [expired] = [r for r in audit(granted) if r["event"] == "grant.expired"]
    assert (expired["username"], expired["role"], expired["expires"]) == ("ann", "project-x", "2026-11-30")
    assert expired["requester"] == "bea"

    code, again = run_due(granted, "2026-12-02T09:00:00+00:00")
    assert code == 0 and again["events"] == [], again
    assert len([r for r in audit(granted) if r["event"] == "grant.expired"]) == 1


def test_two_run_due_workers_revoke_an_expired_grant_once(granted: Path, directory: Directory) -> None:
    args = [sys.executable, "-m", "iam", "--config", str(granted), "run-due", "--now", AFTER_END]
    workers = [
        subprocess.Popen(args, env=iam_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outcomes = [w.communicate(timeout=120) for w in workers]

    assert [w.returncode for w in workers] == [0, 0], outcomes
    assert groups_of(directory, "ann") == {"staff", "engineering", "developers"}
    records = audit(granted)
    assert len([r for r in records if r["event"] == "grant.expired"]) == 1
    started = [r for r in records if r["event"] == "run.started" and r["kind"] == "grant-expiry"]
    assert len(started) == 1


def test_a_grant_expiring_for_someone_no_longer_active_changes_nothing(
    granted: Path, tmp_path: Path, directory: Directory
) -> None:
    without_ann = [r for r in BASE_FEED if r["username"] != "ann"]
    result, _ = sync(granted, write_feed(tmp_path / "v2.csv", without_ann), "--max-terminations", "1")
    assert result.returncode == 0, result.stdout + result.stderr

    code, due = run_due(granted, AFTER_END)

    assert code == 0 and due["events"] == [], due
    assert groups_of(directory, "ann") == set()
