"""Policy acknowledgement before access, end to end on a real slapd.

The sample company's finance role is marked as needing the privacy policy
signed: it is granted only once HR records the acknowledgement, and when a
new version's grace period ends unsigned, `run-due` takes it away again
(a mover-like revoke, audited) until the person signs.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.conftest import Directory, run_iam
from tests.support.company import BASE_FEED, NOW, groups_of, sync, write_feed


def require(company: Path, version: str, **extra: object) -> None:
    policy = company.parent / "policy.yaml"
    data = yaml.safe_load(policy.read_text())
    data["roles"]["finance"]["requires_acknowledgement"] = True
    data["require_acknowledgement"] = {"version": version, "grace_days": 14, **extra}
    policy.write_text(yaml.safe_dump(data))


def unsigned() -> list[dict[str, str]]:
    """The base company with bea never having signed."""
    bea = dict(BASE_FEED[1], policy_ack_version="", policy_ack_date="")
    return [BASE_FEED[0], bea, *BASE_FEED[2:]]


def signed(version: str) -> list[dict[str, str]]:
    bea = dict(BASE_FEED[1], policy_ack_version=version, policy_ack_date="2026-11-20")
    return [BASE_FEED[0], bea, *BASE_FEED[2:]]


def test_a_role_that_needs_the_policy_signed_is_granted_only_once_hr_records_it(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    require(company, "2026-01")
    assert sync(company, write_feed(tmp_path / "v1.csv", unsigned()))[0].returncode == 0
    assert groups_of(directory, "bea") == {"staff", "payroll-entry"}

    result, report = sync(company, write_feed(tmp_path / "v2.csv", signed("2026-01")))

    assert result.returncode == 0, result.stdout + result.stderr
    assert [(e["type"], e["username"], e["status"]) for e in report["events"]] == [
        ("mover", "bea", "applied")
    ]
    assert groups_of(directory, "bea") == {"staff", "payroll-entry", "finance"}


def test_past_the_grace_period_of_a_new_version_the_role_goes_until_it_is_signed(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    require(company, "2026-01")
    assert sync(company, write_feed(tmp_path / "v1.csv", signed("2026-01")))[0].returncode == 0
    assert "finance" in groups_of(directory, "bea")
    require(company, "2026-11")  # took effect 2026-11-01; grace ends 2026-11-15, before NOW

    result = run_iam("--config", str(company), "run-due", "--now", NOW, "--format", "json")

    assert result.returncode == 0, result.stdout + result.stderr
    events = json.loads(result.stdout)["events"]
    assert [(e["type"], e["username"], e["status"]) for e in events] == [("ack-overdue", "bea", "applied")]
    assert groups_of(directory, "bea") == {"staff", "payroll-entry"}
    audit = [json.loads(x) for x in (company.parent / "state/audit.jsonl").read_text().splitlines()]
    [overdue] = [r for r in audit if r["event"] == "acknowledgement.overdue"]
    assert (overdue["username"], overdue["version"], overdue["roles"]) == ("bea", "2026-11", ["finance"])
    again = run_iam("--config", str(company), "run-due", "--now", NOW, "--format", "json")
    assert json.loads(again.stdout)["events"] == []

    swept = run_iam("--config", str(company), "review", "sweep", "--now", NOW, "--format", "json")
    found = {f["account"]: f for f in json.loads(swept.stdout)["findings"] if f["type"] == "unacknowledged"}
    assert set(found) == {"ann", "bea", "cal", "dan"}
    assert "acknowledged 2026-01" in found["bea"]["why"] and "withheld: finance" in found["bea"]["why"]

    result, _ = sync(company, write_feed(tmp_path / "v2.csv", signed("2026-11")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "finance" in groups_of(directory, "bea")


def test_a_version_that_is_no_date_needs_since(company: Path, tmp_path: Path, directory: Directory) -> None:
    require(company, "privacy-v7")

    result, _ = sync(company, write_feed(tmp_path / "v1.csv", BASE_FEED))

    assert result.returncode == 2 and "require_acknowledgement.since" in result.stderr, result.stderr
    assert groups_of(directory, "bea") == set()  # nothing was done


def test_the_sweep_reports_nobody_unsigned_while_the_grace_period_runs(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    require(company, "2026-11")  # took effect 2026-11-01; grace ends 2026-11-15
    assert sync(company, write_feed(tmp_path / "v1.csv", signed("2026-11")))[0].returncode == 0

    def unsigned(now: str) -> set[str]:
        swept = run_iam("--config", str(company), "review", "sweep", "--now", now, "--format", "json")
        assert swept.returncode in (0, 4), swept.stderr
        return {f["account"] for f in json.loads(swept.stdout)["findings"] if f["type"] == "unacknowledged"}

    assert unsigned("2026-11-15T12:00:00+00:00") == set()
    assert unsigned("2026-11-16T12:00:00+00:00") == {"ann", "cal", "dan"}
