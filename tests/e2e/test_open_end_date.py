"""9999-12-31, HR's usual "no end date", on a real slapd: never an end, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Directory, run_iam
from tests.support.company import BASE_FEED, groups_of, locked, person, sync, write_feed

NO_END = "9999-12-31"
EVE = person("E7", "eve", "Sales", end_date=NO_END)
EVE_GROUPS = {"staff", "sales"}


def seen(report: dict) -> list[tuple[str, str, str]]:
    return [(e["type"], e["username"], e["status"]) for e in report["events"]]


def run_due(config: Path, now: str) -> dict:
    result = run_iam("--config", str(config), "run-due", "--now", now, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_feed_with_no_end_date_is_synced_and_its_leavers_still_run(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    first, report = sync(company, write_feed(tmp_path / "v1.csv", [*BASE_FEED, EVE]))

    assert first.returncode == 0, first.stderr
    assert groups_of(directory, "eve") == EVE_GROUPS
    leave = [e for e in report["events"] if e["username"] == "eve" and e["type"] == "leaver"]
    assert [(e["status"], e["effective_at"][:10]) for e in leave] == [("scheduled", NO_END)]

    without_cal = [p for p in BASE_FEED if p["username"] != "cal"] + [EVE]
    second, report = sync(company, write_feed(tmp_path / "v2.csv", without_cal))

    assert second.returncode == 0, second.stderr  # a stored person with that date breaks nothing
    assert seen(report) == [("leaver", "cal", "applied")]
    assert locked(directory, "cal") and groups_of(directory, "eve") == EVE_GROUPS
    run_due(company, "2099-01-01T00:00:00+00:00")
    assert groups_of(directory, "eve") == EVE_GROUPS and not locked(directory, "eve")


def test_an_end_date_moved_to_no_end_replaces_the_scheduled_leave(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    assert sync(company, write_feed(tmp_path / "v1.csv", BASE_FEED))[0].returncode == 0  # dan ends 2026-12-31
    extended = [*BASE_FEED[:3], dict(BASE_FEED[3], end_date=NO_END)]

    result, report = sync(company, write_feed(tmp_path / "v2.csv", extended))

    assert result.returncode == 0, result.stderr
    assert sorted((e["type"], e["status"]) for e in report["events"]) == [
        ("leaver", "scheduled"),
        ("mover", "applied"),
    ]
    assert run_due(company, "2027-01-01T00:00:01+00:00")["events"] == []
    assert "engineering" in groups_of(directory, "dan") and not locked(directory, "dan")


def test_a_joiner_event_with_no_end_date_breaks_no_later_sync(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    events = tmp_path / "eve.json"
    events.write_text(json.dumps({"events": [{"type": "joiner", "person": EVE}]}))
    submitted = run_iam("--config", str(company), "event", "submit", str(events), "--format", "json")
    assert submitted.returncode == 0, submitted.stderr
    assert groups_of(directory, "eve") == EVE_GROUPS

    result, report = sync(company, write_feed(tmp_path / "feed.csv", [*BASE_FEED, EVE]))

    assert result.returncode == 0, result.stderr
    assert ("leaver", "eve", "scheduled") in seen(report)
    assert groups_of(directory, "eve") == EVE_GROUPS and not locked(directory, "eve")
