"""A termination made outside HR's feed holds against it, on a real slapd.

dritchie is terminated for cause from the CLI (or by an event, or a sweep)
while HR's export still lists her active: no sync may give her access back,
every sync says so, until HR agrees or someone lifts the hold with an
audited `iam reinstate`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iam.actor import os_actor
from tests.conftest import Directory, iam_env, run_iam
from tests.e2e.conftest import HMAC
from tests.e2e.test_lifecycle import post
from tests.support.company import BASE_FEED, NOW, groups_of, locked, person, sync, write_feed
from tests.support.slapd import add_person

DRITCHIE = person("E5", "dritchie", "Research", "Researcher", manager="ann")
FEED = [*BASE_FEED, DRITCHIE]
LATER = "2026-11-23T10:00:00+00:00"


def audit(config: Path) -> list[dict]:
    text = (config.parent / "state/audit.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def dritchie_terminated(company: Path, tmp_path: Path, directory: Directory) -> Path:
    """The company synced with dritchie in Research, then dritchie offboarded from the CLI."""
    feed = write_feed(tmp_path / "feed.csv", FEED)
    assert sync(company, feed)[0].returncode == 0
    assert groups_of(directory, "dritchie") == {"staff", "research"}
    off = run_iam(
        "--config", str(company), "offboard", "dritchie", "--reason", "terminated for cause", "--yes"
    )
    assert off.returncode == 0, off.stdout + off.stderr
    assert groups_of(directory, "dritchie") == set() and locked(directory, "dritchie")
    return feed


def test_a_sync_still_listing_her_active_does_not_rehire_her_and_says_so_every_time(
    company: Path, dritchie_terminated: Path, directory: Directory
) -> None:
    for now in (NOW, LATER):
        result, report = sync(company, dritchie_terminated, now=now)

        assert result.returncode == 4, result.stdout + result.stderr
        assert groups_of(directory, "dritchie") == set() and locked(directory, "dritchie")
        assert report["events"] == []
        [conflict] = report["holds"]
        assert conflict["username"] == "dritchie"
        assert conflict["reason"] == "terminated for cause"
        assert conflict["by"] == os_actor() and conflict["source"] == "cli"
        assert conflict["run_id"] and conflict["terminated_at"]
        assert "HR still lists them active" in conflict["message"]
        assert "iam reinstate dritchie" in conflict["message"]

    table = run_iam("--config", str(company), "hr", "sync", str(dritchie_terminated), "--now", LATER)
    assert table.returncode == 4
    assert "dritchie" in table.stdout and "terminated for cause" in table.stdout
    assert groups_of(directory, "dritchie") == set() and locked(directory, "dritchie")
    conflicts = [r for r in audit(company) if r["event"] == "hold.conflict"]
    assert len(conflicts) == 3 and {r["username"] for r in conflicts} == {"dritchie"}


def test_a_dry_run_sync_shows_the_conflict_and_plans_no_rehire(
    company: Path, dritchie_terminated: Path, directory: Directory
) -> None:
    result, report = sync(company, dritchie_terminated, "--dry-run")

    assert result.returncode == 4, result.stdout + result.stderr
    assert report["events"] == [] and [h["username"] for h in report["holds"]] == ["dritchie"]


def test_the_sweep_reports_the_conflict_as_a_finding(
    company: Path, dritchie_terminated: Path, directory: Directory
) -> None:
    assert sync(company, dritchie_terminated)[0].returncode == 4

    result = run_iam("--config", str(company), "review", "sweep", "--now", LATER, "--format", "json")

    assert result.returncode == 4, result.stderr
    found = [f for f in json.loads(result.stdout)["findings"] if f["account"] == "dritchie"]
    assert [(f["type"], f["action"]) for f in found] == [("termination_hold_conflict", "review")]
    assert "terminated for cause" in found[0]["why"] and "HR still lists them active" in found[0]["why"]


def test_the_hold_ends_when_hr_terminates_her_too_and_a_later_return_is_a_rehire(
    company: Path, dritchie_terminated: Path, tmp_path: Path, directory: Directory
) -> None:
    gone = write_feed(tmp_path / "gone.csv", [*BASE_FEED, dict(DRITCHIE, status="terminated")])
    result, report = sync(company, gone)
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["holds"] == [] and [h["username"] for h in report["holds_ended"]] == ["dritchie"]

    back = write_feed(tmp_path / "back.csv", [*BASE_FEED, dict(DRITCHIE, department="Support")])
    result, report = sync(company, back, now=LATER)

    assert result.returncode == 0, result.stdout + result.stderr
    assert [(e["type"], e["username"], e["status"]) for e in report["events"]] == [
        ("rehire", "dritchie", "applied")
    ]
    # research still comes from the sample policy's grant to dritchie (until 2027-03-31)
    assert groups_of(directory, "dritchie") == {"staff", "support", "research"}
    assert not locked(directory, "dritchie")


def test_reinstate_lifts_the_hold_grants_nothing_and_the_next_sync_provisions(
    company: Path, dritchie_terminated: Path, directory: Directory
) -> None:
    assert sync(company, dritchie_terminated)[0].returncode == 4

    lifted = run_iam(
        "--config", str(company), "reinstate", "dritchie", "--reason", "HR confirmed: wrong person"
    )

    assert lifted.returncode == 0, lifted.stdout + lifted.stderr
    assert "nothing was granted" in lifted.stdout.lower()
    assert groups_of(directory, "dritchie") == set() and locked(directory, "dritchie")
    [record] = [r for r in audit(company) if r["event"] == "hold.lifted"]
    assert record["username"] == "dritchie" and record["reason"] == "HR confirmed: wrong person"
    assert record["by"] == os_actor() and record["terminated_for"] == "terminated for cause"

    result, report = sync(company, dritchie_terminated, now=LATER)

    assert result.returncode == 0, result.stdout + result.stderr
    assert report["holds"] == []
    assert [(e["type"], e["status"]) for e in report["events"]] == [("rehire", "applied")]
    assert groups_of(directory, "dritchie") == {"staff", "research"} and not locked(directory, "dritchie")

    again = run_iam("--config", str(company), "reinstate", "dritchie", "--reason", "twice")
    assert again.returncode == 2 and "no termination hold on 'dritchie'" in again.stderr


def test_reinstate_needs_a_reason(company: Path, dritchie_terminated: Path) -> None:
    result = run_iam("--config", str(company), "reinstate", "dritchie", "--reason", " ")
    assert result.returncode == 2 and "reason" in result.stderr


def test_an_immediate_leaver_event_from_a_file_holds(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    feed = write_feed(tmp_path / "feed.csv", FEED)
    assert sync(company, feed)[0].returncode == 0
    events = tmp_path / "for-cause.json"
    leaver = {"type": "leaver", "username": "dritchie", "immediate": True, "reason": "for cause"}
    events.write_text(json.dumps({"events": [leaver]}))
    submitted = run_iam("--config", str(company), "event", "submit", str(events), "--now", NOW)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    assert groups_of(directory, "dritchie") == set()

    result, report = sync(company, feed, now=LATER)

    assert result.returncode == 4, result.stdout + result.stderr
    assert groups_of(directory, "dritchie") == set() and locked(directory, "dritchie")
    [conflict] = report["holds"]
    assert conflict["by"] == os_actor() and conflict["source"] == "file:for-cause.json"
    assert "for cause" in conflict["reason"]


def test_an_immediate_leaver_from_the_http_endpoint_holds_in_the_name_of_its_source(
    event_server,
    company: Path,
    tmp_path: Path,
    directory: Directory,
) -> None:
    server, clock = event_server
    feed = write_feed(tmp_path / "feed.csv", FEED)
    env = iam_env({"IAM_TEST_HMAC": HMAC})  # the server's configuration needs it
    assert run_iam("--config", str(company), "hr", "sync", str(feed), "--now", NOW, env=env).returncode == 0
    body = {"events": [{"type": "leaver", "username": "dritchie", "immediate": True, "reason": "for cause"}]}
    response = post(server, json.dumps(body).encode(), int(clock["now"].timestamp()))
    assert response.status_code == 202, response.text
    assert groups_of(directory, "dritchie") == set()

    args = ("hr", "sync", str(feed), "--now", LATER, "--format", "json")
    result = run_iam("--config", str(company), *args, env=env)
    report = json.loads(result.stdout)

    assert result.returncode == 4, result.stdout + result.stderr
    assert groups_of(directory, "dritchie") == set() and locked(directory, "dritchie")
    [conflict] = report["holds"]
    assert conflict["by"] == "hr:hr" and conflict["source"] == "http:127.0.0.1"  # the HR key acted


def test_a_held_person_gets_nothing_from_a_due_event_or_an_explicit_event(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    """cal left through HR and comes back in January; meanwhile she is terminated for cause."""
    assert sync(company, write_feed(tmp_path / "v1.csv", BASE_FEED))[0].returncode == 0
    without_cal = [r for r in BASE_FEED if r["username"] != "cal"]
    assert sync(company, write_feed(tmp_path / "v2.csv", without_cal))[0].returncode == 0
    back = [*without_cal, dict(BASE_FEED[2], start_date="2027-01-04")]
    _, report = sync(company, write_feed(tmp_path / "v3.csv", back))
    assert [(e["type"], e["status"]) for e in report["events"]] == [("rehire", "scheduled")]
    off = run_iam("--config", str(company), "offboard", "cal", "--reason", "fraud found", "--yes")
    assert off.returncode == 0, off.stdout + off.stderr

    due = run_iam(
        "--config", str(company), "run-due", "--now", "2027-01-04T09:00:00+00:00", "--format", "json"
    )

    assert due.returncode == 4, due.stdout + due.stderr
    [event] = [e for e in json.loads(due.stdout)["events"] if e["username"] == "cal"]
    assert (event["type"], event["status"]) == ("rehire", "held") and "fraud found" in event["error"]
    assert groups_of(directory, "cal") == set() and locked(directory, "cal")

    mover = {"type": "mover", "person": dict(BASE_FEED[2], department="Support")}
    events = tmp_path / "mover.json"
    events.write_text(json.dumps({"events": [mover]}))
    submitted = run_iam("--config", str(company), "event", "submit", str(events), "--format", "json")
    assert submitted.returncode == 4, submitted.stdout + submitted.stderr
    assert [e["status"] for e in json.loads(submitted.stdout)["events"]] == ["held"]
    assert groups_of(directory, "cal") == set() and locked(directory, "cal")


def test_a_remediated_orphan_is_not_handed_to_a_new_hire_of_the_same_name_unasked(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    conn = directory.slapd.admin()
    add_person(conn, "ghost")
    conn.unbind()
    assert sync(company, write_feed(tmp_path / "v1.csv", BASE_FEED))[0].returncode == 0
    remediated = run_iam(
        "--config", str(company), "review", "sweep", "--remediate", "--yes", "--now", NOW,
        "--max-terminations", "5",
    )  # fmt: skip
    assert remediated.returncode == 0, remediated.stdout + remediated.stderr
    assert locked(directory, "ghost")

    hire = person("E9", "ghost", "Sales")
    result, report = sync(company, write_feed(tmp_path / "v2.csv", [*BASE_FEED, hire]), now=LATER)

    assert result.returncode == 4, result.stdout + result.stderr
    assert report["events"] == []
    [conflict] = report["holds"]
    assert conflict["username"] == "ghost" and conflict["source"].startswith("review sweep ")
    assert groups_of(directory, "ghost") == set() and locked(directory, "ghost")


def test_a_termination_typed_in_another_case_holds_the_person_hr_knows(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    """The directory finds DRITCHIE as dritchie: the run, the hold and the suspension follow
    HR's spelling, or the next sync took DRITCHIE's hold for another person's and gave
    dritchie her access back."""
    assert sync(company, write_feed(tmp_path / "feed.csv", FEED))[0].returncode == 0
    off = run_iam(
        "--config", str(company), "offboard", "DRITCHIE", "--reason", "for cause", "--yes", "--format", "json"
    )
    assert off.returncode == 0, off.stderr
    assert json.loads(off.stdout)["username"] == "dritchie"

    moved = [*BASE_FEED, dict(DRITCHIE, department="Engineering", title="Engineer")]
    _, report = sync(company, write_feed(tmp_path / "moved.csv", moved))

    assert [h["username"] for h in report["holds"]] == ["dritchie"]
    assert groups_of(directory, "dritchie") == set() and locked(directory, "dritchie")
    shown = run_iam("--config", str(company), "status", "Dritchie", "--format", "json")
    assert json.loads(shown.stdout)["username"] == "dritchie"
