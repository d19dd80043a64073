"""Access-review sweeps on a real slapd: every kind of finding, once; remediation; diff; certification."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import ldap3
import pytest
import yaml

from iam.actor import os_user
from tests.conftest import Directory, run_iam
from tests.support import schemas
from tests.support.company import BASE_FEED, NOW, groups_of, person, sync, write_feed
from tests.support.slapd import BASE_DN, add_person

SWEEP_NOW = "2026-12-05T10:00:00+00:00"
# eve's contract ends before SWEEP_NOW; vic's owner cal is the one who leaves
THIRD_PARTIES = [
    person(
        "E5",
        "eve",
        "Support",
        "Contractor",
        kind="contractor",
        owner="ann",
        end_date="2026-11-30",
        manager="ann",
    ),
    person("E6", "vic", "Sales", "Vendor", kind="vendor", owner="cal", end_date="2027-06-30"),
]


def admin_modify(directory: Directory, dn: str, changes: dict) -> None:
    conn = directory.slapd.admin()
    assert conn.modify(dn, changes), conn.result
    conn.unbind()


def group(cn: str) -> str:
    return f"cn={cn},ou=groups,{BASE_DN}"


def user(uid: str) -> str:
    return f"uid={uid},ou=people,{BASE_DN}"


def add_member(directory: Directory, cn: str, dn: str) -> None:
    admin_modify(directory, group(cn), {"member": [(ldap3.MODIFY_ADD, [dn])]})


def sweep(config: Path, *extra: str, now: str = SWEEP_NOW):
    result = run_iam("--config", str(config), "review", "sweep", "--now", now, *extra)
    return result


def findings_of(result) -> set[tuple[str, str, str | None]]:
    data = json.loads(result.stdout)
    schemas.validate(data, "review-sweep")
    return {(f["type"], f["account"], f["entitlement"]) for f in data["findings"]}


@pytest.fixture
def synced(company: Path, tmp_path: Path, directory: Directory) -> Path:
    """The base company synced at NOW, with dormancy read from a settable attribute.

    The directory fixture's alice and bob are not in HR: removed, or they would be orphans.
    """
    conn = directory.slapd.admin()
    for dn in (directory.alice, directory.bob):
        assert conn.delete(dn), conn.result
    conn.unbind()
    data = yaml.safe_load(company.read_text())
    data["systems"]["directory"]["last_login_attribute"] = "carLicense"
    company.write_text(yaml.safe_dump(data))
    rows = [
        *BASE_FEED,
        *THIRD_PARTIES,
    ]
    result, _ = sync(company, write_feed(tmp_path / "feed.csv", rows))
    assert result.returncode == 0, result.stderr + result.stdout
    return company


def test_a_freshly_synced_directory_is_clean(synced: Path) -> None:
    result = sweep(synced, "--format", "json", now=NOW)
    assert result.returncode == 0, result.stdout + result.stderr
    assert findings_of(result) == set()


def test_every_kind_of_finding_is_found_exactly_once(
    synced: Path, tmp_path: Path, directory: Directory
) -> None:
    conn = directory.slapd.admin()
    add_person(conn, "ghost")
    conn.unbind()
    add_member(directory, "sales", user("ghost"))  # orphan
    feed = [
        BASE_FEED[0],
        BASE_FEED[1],
        BASE_FEED[3],
        *THIRD_PARTIES,
    ]
    assert sync(synced, write_feed(tmp_path / "v2.csv", feed), "--max-terminations", "1")[0].returncode == 0
    add_member(directory, "sales", f"uid=cal,ou=leavers,{BASE_DN}")  # leaver with access
    add_member(directory, "sales", user("ann"))  # excess
    admin_modify(directory, group("finance"), {"member": [(ldap3.MODIFY_DELETE, [user("bea")])]})  # missing
    admin_modify(
        directory, user("dan"), {"carLicense": [(ldap3.MODIFY_REPLACE, ["20250101000000Z"])]}
    )  # dormant
    policy_path = synced.parent / "policy.yaml"
    policy = yaml.safe_load(policy_path.read_text())
    policy["grants"] = [
        {"username": "ann", "role": "research", "expires": "2026-11-30", "requester": "bea"},  # expired grant
        {"username": "bea", "role": "payroll-approver", "expires": "2027-06-30", "requester": "ann"},  # SoD
    ]
    policy_path.write_text(yaml.safe_dump(policy))
    add_member(directory, "research", user("ann"))
    add_member(directory, "payroll-approval", user("bea"))

    result = sweep(synced, "--format", "json")

    assert result.returncode == 4, result.stderr
    assert findings_of(result) == {
        ("orphan", "ghost", None),
        ("leaver_with_access", "cal", None),
        ("excess", "ann", group("sales").join(["group:", ""])),
        ("expired", "ann", f"group:{group('research')}"),
        ("missing", "bea", f"group:{group('finance')}"),
        ("sod_conflict", "bea", None),
        ("dormant", "dan", None),
        ("expired", "eve", None),
        ("unowned_third_party", "vic", None),
    }


def test_remediation_then_a_second_sweep_is_clean(synced: Path, directory: Directory, tmp_path: Path) -> None:
    conn = directory.slapd.admin()
    add_person(conn, "ghost")
    conn.unbind()
    add_member(directory, "sales", user("ghost"))
    add_member(directory, "sales", user("ann"))
    admin_modify(directory, group("finance"), {"member": [(ldap3.MODIFY_DELETE, [user("bea")])]})
    admin_modify(directory, user("dan"), {"carLicense": [(ldap3.MODIFY_REPLACE, ["20250101000000Z"])]})

    shown = sweep(synced, "--remediate", now=NOW)
    assert shown.returncode == 4
    assert "add --yes" in shown.stderr and "sales" in groups_of(directory, "ann")

    applied = sweep(synced, "--remediate", "--yes", "--format", "json", now=NOW)
    assert applied.returncode == 0, applied.stderr

    again = sweep(synced, "--format", "json", now=NOW)
    assert again.returncode == 0, again.stdout
    assert findings_of(again) == set()
    audit = (synced.parent / "state/audit.jsonl").read_text()
    sweep_id = json.loads(applied.stdout)["id"]
    assert f"review sweep {sweep_id}" in audit

    diff = run_iam("--config", str(synced), "review", "diff", "--format", "json")
    data = json.loads(diff.stdout)
    assert {f["type"] for f in data["resolved"]} == {"orphan", "excess", "missing", "dormant"}
    assert data["new"] == []


@pytest.mark.parametrize("fmt", ["csv", "html"])
def test_reports_are_written_as_files(synced: Path, directory: Directory, tmp_path: Path, fmt: str) -> None:
    add_member(directory, "sales", user("ann"))
    out = tmp_path / f"report.{fmt}"
    result = sweep(synced, "--format", fmt, "--out", str(out), now=NOW)
    assert result.returncode == 4
    text = out.read_text()
    if fmt == "csv":
        rows = list(csv.DictReader(text.splitlines()))
        assert [(r["type"], r["account"]) for r in rows] == [("excess", "ann")]
    else:
        assert text.startswith("<!doctype html>") and "<svg" in text and "Excess entitlement" in text
        assert "<script" not in text and "http" not in text.split("<body>")[1]


def test_certification_revokes_what_the_manager_marks(
    synced: Path, directory: Directory, tmp_path: Path
) -> None:
    export = run_iam(
        "--config",
        str(synced),
        "review",
        "certify",
        "--manager",
        "ann",
        "--due",
        "2026-12-01",
        "--out",
        str(tmp_path),
        "--now",
        NOW,
        "--format",
        "json",
    )
    assert export.returncode == 0, export.stderr
    campaign = json.loads(export.stdout)
    csv_path = Path(campaign["files"][0])
    rows = list(csv.DictReader(csv_path.read_text().splitlines()))
    assert {r["username"] for r in rows} == {"bea", "cal", "eve"}
    for row in rows:
        if row["username"] == "cal" and "sales" in row["entitlement"]:
            row["decision"] = "revoke"
        elif row["username"] == "bea":
            row["decision"] = "keep"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, rows[0].keys())
        writer.writeheader()
        writer.writerows(rows)

    def import_decisions():
        return run_iam(
            "--config",
            str(synced),
            "review",
            "certify",
            "--import",
            str(csv_path),
            "--now",
            "2026-12-02T09:00:00+00:00",
            "--format",
            "json",
        )

    refused = import_decisions()  # whoever runs it is neither ann nor her delegate
    assert refused.returncode == 2 and "may not decide for ann's certification" in refused.stderr
    assert "sales" in groups_of(directory, "cal")
    typed = run_iam(
        "--config", str(synced), "review", "certify", "--import", str(csv_path), "--decided-by", "ann"
    )
    assert typed.returncode == 2 and "sales" in groups_of(directory, "cal")  # a typed name decides nothing
    config = yaml.safe_load(synced.read_text())
    config.setdefault("review", {})["delegates"] = {"ann": [os_user()]}
    synced.write_text(yaml.safe_dump(config))

    late = import_decisions()

    assert late.returncode == 4, late.stderr
    result = json.loads(late.stdout)
    assert result["overdue"] and {i["username"] for i in result["undecided"]} == {"cal", "eve"}
    assert "sales" not in groups_of(directory, "cal") and "staff" in groups_of(directory, "cal")
    assert "finance" in groups_of(directory, "bea")
    audit = (synced.parent / "state/audit.jsonl").read_text()
    assert f'"decided_by":"{os_user()} (delegate of ann)"' in audit


def test_schedule_sweeps_and_writes_reports(synced: Path, tmp_path: Path) -> None:
    out = tmp_path / "reviews"
    result = run_iam(
        "--config",
        str(synced),
        "review",
        "schedule",
        "--every",
        "60",
        "--run-now",
        "--max-runs",
        "1",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "stopped after 1 sweep" in result.stderr
    assert len(list(out.glob("review-*.html"))) == 1 and len(list(out.glob("review-*.json"))) == 1


def test_schedule_refuses_a_bad_cron_expression(synced: Path) -> None:
    result = run_iam("--config", str(synced), "review", "schedule", "--cron", "every day")
    assert result.returncode == 2 and "--cron" in result.stderr
