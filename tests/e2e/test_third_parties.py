"""Contractors and vendors whose owner leaves, on a real slapd.

A termination is always applied, whatever else is wrong with the row; the
sync that terminates an owner names the third parties they sponsored and
does what `safety.orphaned_third_parties` says (review, or terminate).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import Directory, run_iam
from tests.support.company import BASE_FEED, FIELDS, groups_of, locked, person, sync, write_feed

ANN, BEA, CAL = BASE_FEED[:3]
VIC = person("E6", "vic", "Sales", "Vendor", kind="vendor", owner="cal", end_date="2027-06-30")
VIC_GROUPS = {"third-parties", "vendor-portal", "sales"}
WITHOUT_CAL = [ANN, BEA, VIC]


@pytest.fixture
def vic_synced(company: Path, tmp_path: Path, directory: Directory) -> Path:
    assert sync(company, write_feed(tmp_path / "v1.csv", [ANN, BEA, CAL, VIC]))[0].returncode == 0
    assert groups_of(directory, "vic") == VIC_GROUPS
    return company


def test_the_sync_that_terminates_an_owner_lists_their_third_parties_for_review(
    vic_synced: Path, tmp_path: Path, directory: Directory
) -> None:
    result, report = sync(vic_synced, write_feed(tmp_path / "v2.csv", WITHOUT_CAL))

    assert result.returncode == 0, result.stdout + result.stderr
    assert [(e["type"], e["username"], e["status"]) for e in report["events"]] == [
        ("leaver", "cal", "applied")
    ]
    assert report["orphaned_third_parties"] == [
        {"owner": "cal", "username": "vic", "kind": "vendor", "action": "review"}
    ]
    assert groups_of(directory, "vic") == VIC_GROUPS and not locked(directory, "vic")


def test_the_table_names_the_third_parties_of_a_leaving_owner(
    vic_synced: Path, tmp_path: Path, directory: Directory
) -> None:
    feed = write_feed(tmp_path / "v2.csv", WITHOUT_CAL)
    result = run_iam("--config", str(vic_synced), "hr", "sync", str(feed), "--now", "2026-11-22T10:00:00Z")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "vic (vendor) was sponsored by cal" in result.stdout
    assert "orphaned_third_parties" in result.stdout  # the setting that would terminate them


@pytest.mark.parametrize(
    ("row", "now"),
    [
        pytest.param(dict(VIC, status="terminated"), "2026-11-23T10:00:00+00:00", id="status-terminated"),
        pytest.param(
            dict(VIC, status="terminated", email="not-an-email", end_date="", given_name=""),
            "2026-11-23T10:00:00+00:00",
            id="terminated-and-otherwise-invalid",
        ),
        pytest.param(VIC, "2027-07-01T00:00:01+00:00", id="end-date-passed"),
    ],
)
def test_a_third_party_whose_owner_left_is_terminated_when_hr_says_so(
    vic_synced: Path, tmp_path: Path, directory: Directory, row: dict[str, str], now: str
) -> None:
    assert sync(vic_synced, write_feed(tmp_path / "v2.csv", WITHOUT_CAL))[0].returncode == 0

    result, report = sync(vic_synced, write_feed(tmp_path / "v3.csv", [ANN, BEA, row]), now=now)

    assert result.returncode == 0, result.stdout + result.stderr
    assert report["rejected"] == []
    assert [(e["type"], e["username"], e["status"]) for e in report["events"]] == [
        ("leaver", "vic", "applied")
    ]
    assert groups_of(directory, "vic") == set() and locked(directory, "vic")


def test_a_third_party_gone_from_the_feed_after_their_owner_is_terminated(
    vic_synced: Path, tmp_path: Path, directory: Directory
) -> None:
    assert sync(vic_synced, write_feed(tmp_path / "v2.csv", WITHOUT_CAL))[0].returncode == 0

    result, report = sync(vic_synced, write_feed(tmp_path / "v3.csv", [ANN, BEA]))

    assert result.returncode == 0, result.stdout + result.stderr
    assert [(e["type"], e["username"]) for e in report["events"]] == [("leaver", "vic")]
    assert groups_of(directory, "vic") == set() and locked(directory, "vic")


def test_with_terminate_they_leave_with_their_owner_within_the_blast_radius(
    vic_synced: Path, tmp_path: Path, directory: Directory
) -> None:
    data = yaml.safe_load(vic_synced.read_text())
    data["safety"] = {"orphaned_third_parties": "terminate"}
    vic_synced.write_text(yaml.safe_dump(data))
    feed = write_feed(tmp_path / "v2.csv", WITHOUT_CAL)

    blocked, report = sync(vic_synced, feed)

    assert blocked.returncode == 2, blocked.stdout + blocked.stderr
    assert "would terminate 2" in report["blocked"]
    assert groups_of(directory, "cal") and groups_of(directory, "vic") == VIC_GROUPS

    result, report = sync(vic_synced, feed, "--max-terminations", "2")

    assert result.returncode == 0, result.stdout + result.stderr
    assert [(e["type"], e["username"], e["status"]) for e in report["events"]] == [
        ("leaver", "cal", "applied"),
        ("leaver", "vic", "applied"),
    ]
    assert report["orphaned_third_parties"] == [
        {"owner": "cal", "username": "vic", "kind": "vendor", "action": "terminate"}
    ]
    assert groups_of(directory, "vic") == set() and locked(directory, "vic")


def test_an_unknown_orphaned_third_parties_setting_is_a_config_error(
    vic_synced: Path, tmp_path: Path
) -> None:
    data = yaml.safe_load(vic_synced.read_text())
    data["safety"] = {"orphaned_third_parties": "delete"}
    vic_synced.write_text(yaml.safe_dump(data))

    result, _ = sync(vic_synced, write_feed(tmp_path / "v2.csv", WITHOUT_CAL))

    assert result.returncode == 2 and "orphaned_third_parties" in result.stderr


def test_a_contractor_hr_makes_an_employee_is_not_terminated_on_the_old_end_date(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    """The leave dan's end date scheduled goes when HR's next export gives no end date."""
    assert sync(company, write_feed(tmp_path / "v1.csv", BASE_FEED))[0].returncode == 0
    hired = dict(BASE_FEED[3], kind="employee", owner="", end_date="", title="Engineer")
    feed = write_feed(tmp_path / "v2.csv", [*BASE_FEED[:3], hired])

    result, preview = sync(company, feed, "--dry-run")
    assert leaves(preview) == [("dan", "would cancel")], result.stderr
    result, report = sync(company, feed)
    assert result.returncode == 0, result.stdout + result.stderr
    assert leaves(report) == [("dan", "cancelled")]

    later = "2027-01-05T10:00:00+00:00"
    due = run_iam("--config", str(company), "run-due", "--now", later, "--format", "json")
    assert due.returncode == 0, due.stdout + due.stderr
    assert not locked(directory, "dan") and groups_of(directory, "dan")


def leaves(report: dict) -> list[tuple[str, str]]:
    return [(e["username"], e["status"]) for e in report["events"] if e["type"] == "leaver"]


def test_an_export_without_the_end_date_column_cancels_no_leave(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    """A column dropped from HR's export says nothing of end dates: bea's last day stands."""
    leaving = [BASE_FEED[0], dict(BASE_FEED[1], end_date="2027-03-31"), *BASE_FEED[2:]]
    assert sync(company, write_feed(tmp_path / "v1.csv", leaving))[0].returncode == 0
    employees = [{k: v for k, v in row.items() if k != "end_date"} for row in BASE_FEED[:3]]
    export = tmp_path / "v2.csv"
    with export.open("w", newline="") as handle:  # the header itself has no end_date
        writer = csv.DictWriter(handle, [f for f in FIELDS if f != "end_date"])
        writer.writeheader()
        writer.writerows(employees)
    result, report = sync(company, export)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bea" not in dict(leaves(report))
    listed = run_iam("--config", str(company), "event", "list", "--status", "pending", "--format", "json")
    pending = [(e["type"], e["username"]) for e in json.loads(listed.stdout)]
    assert ("leaver", "bea") in pending, listed.stdout
