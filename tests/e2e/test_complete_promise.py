"""`complete` is never said while access is left: typos, hostile names, blind dry runs,
hidden errors and remediations that would break separation of duty, through the CLI
against a real slapd."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import Directory, run_iam
from tests.support import schemas
from tests.support.company import BASE_FEED, NOW, groups_of, locked, person, sync, write_feed
from tests.support.slapd import BASE_DN


def offboard(config: Path, username: str, *extra: str):
    return run_iam("--config", str(config), "offboard", username, "--reason", "resigned", "--yes", *extra)


def test_a_name_no_system_holds_is_not_found_with_close_names(
    directory: Directory, config_file: Path
) -> None:
    result = offboard(config_file, "alcie", "--format", "json")

    assert result.returncode == 2, result.stdout + result.stderr
    report = json.loads(result.stdout)
    schemas.validate(report, "run-report")
    assert report["status"] == "not_found"
    assert report["suggestions"] == ["alice"]
    assert [s["result"] for s in report["systems"]] == ["no_account"]
    status = run_iam("--config", str(config_file), "status", "alcie", "--format", "json")
    assert json.loads(status.stdout)["identity_status"] is None  # nobody recorded as terminated
    runs = json.loads(run_iam("--config", str(config_file), "runs", "--format", "json").stdout)
    assert [(r["username"], r["status"]) for r in runs] == [("alcie", "not_found")]

    table = offboard(config_file, "alcie")
    assert table.returncode == 2
    assert "nothing was terminated" in table.stderr and "Did you mean: alice?" in table.stderr
    assert "COMPLETE" not in table.stdout + table.stderr
    assert groups_of(directory, "alice") == {"eng", "solo", "ops", "unix"}


@pytest.mark.parametrize("name", ["alice\n", "alice\t", "ali\x1bce", "alice\r"])
def test_a_username_with_a_control_character_is_refused_and_alice_untouched(
    directory: Directory, config_file: Path, name: str
) -> None:
    result = offboard(config_file, name)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "invalid username" in result.stderr
    assert groups_of(directory, "alice") == {"eng", "solo", "ops", "unix"}
    assert not locked(directory, "alice")


def test_a_feed_row_with_a_newline_in_a_name_is_refused_with_its_row_and_field(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    rows = [
        *BASE_FEED,
        person("E9", "nl\nuser", "Sales", given_name="Nl", email="nl@example.org"),
        person("E10", "tab", "Sales", family_name="T\tab"),
    ]
    feed = write_feed(tmp_path / "feed.csv", rows)

    result, report = sync(company, feed)

    assert result.returncode == 2, result.stderr
    problems = {(r["row"], r["field"]) for r in report["rejected"]}
    assert problems == {(6, "username"), (8, "family_name")}  # the quoted newline spans lines 6-7
    assert all("control character" in r["message"] for r in report["rejected"])
    for name in ("nluser", "nl", "user", "tab"):
        assert groups_of(directory, name) == set()
    assert groups_of(directory, "cal") == {"staff", "sales"}  # the good rows are still applied


def test_an_event_with_a_control_character_in_a_name_is_refused(company: Path, tmp_path: Path) -> None:
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"events": [{"type": "leaver", "username": "alice\n"}]}))

    result = run_iam("--config", str(company), "event", "submit", str(events), "--format", "json")

    assert result.returncode == 2
    rejected = json.loads(result.stdout)["rejected"]
    assert [(r["row"], r["field"]) for r in rejected] == [(1, "username")]


def test_remediation_cannot_grant_what_separation_of_duty_forbids(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    assert sync(company, write_feed(tmp_path / "feed.csv", BASE_FEED))[0].returncode == 0
    assert groups_of(directory, "bea") == {"staff", "finance", "payroll-entry"}
    policy_file = company.parent / "policy.yaml"
    policy = yaml.safe_load(policy_file.read_text())
    policy["grants"] = [
        {"username": "bea", "role": "payroll-approver", "expires": "2027-01-31", "requester": "ann"}
    ]
    policy_file.write_text(yaml.safe_dump(policy))

    result = run_iam(
        "--config", str(company), "review", "sweep", "--now", NOW, "--format", "json", "--remediate", "--yes"
    )

    assert result.returncode == 3, result.stdout[-2000:] + result.stderr
    assert "payroll-entry-vs-approval" in result.stderr
    assert groups_of(directory, "bea") == {"staff", "finance", "payroll-entry"}
    audit = (company.parent / "state/audit.jsonl").read_text()
    assert '"event":"run.refused"' in audit


def test_a_dry_run_that_cannot_read_the_directory_says_so_once_and_exits_3(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    feed = write_feed(tmp_path / "feed.csv", BASE_FEED)
    directory.slapd.stop()

    result, report = sync(company, feed, "--dry-run")

    assert result.returncode == 3, result.stdout[-2000:] + result.stderr
    assert list(report["unreachable"]) == ["directory"]
    due = [e for e in report["events"] if e["status"] != "would wait"]
    assert due and all(e["status"] == "cannot plan" for e in due), json.dumps(due[0]["run"])
    # only the first person's read spent the retry policy; the rest were not tried again
    errors = [s["error"] for e in due for s in e["run"]["systems"]]
    assert sum("not tried again" not in err for err in errors) == 1

    table = run_iam("--config", str(company), "hr", "sync", str(feed), "--now", NOW, "--dry-run")
    assert table.returncode == 3
    assert table.stdout.count("unreachable:") == 1


@pytest.mark.parametrize("recover", ["run-due", "hr sync", "resume"])
def test_a_joiner_stuck_on_a_missing_ou_shows_the_real_error_and_is_finished_later(
    company: Path, tmp_path: Path, directory: Directory, recover: str
) -> None:
    data = yaml.safe_load(company.read_text())
    data["systems"]["directory"]["users_dn"] = f"ou=staff,{BASE_DN}"  # not created yet
    company.write_text(yaml.safe_dump(data))
    feed = write_feed(tmp_path / "feed.csv", BASE_FEED[:1])

    result, report = sync(company, feed)

    assert result.returncode == 3, result.stdout[-2000:] + result.stderr
    run = report["events"][0]["run"]
    errors = [st["error"] for s in run["systems"] for st in s["steps"] if st["error"]]
    assert errors and f"users_dn ou=staff,{BASE_DN} does not exist" in errors[0]
    assert not any("drift" in (s["error"] or "") for s in run["systems"])

    conn = directory.slapd.admin()
    assert conn.add(f"ou=staff,{BASE_DN}", ["organizationalUnit"], {"ou": "staff"}), conn.result
    conn.unbind()
    if recover == "run-due":
        # well after the retry wait (measured from the failed try, which ran on the real clock)
        later = run_iam(
            "--config", str(company), "run-due", "--now", "2030-01-01T00:00:00+00:00", "--format", "json"
        )
    elif recover == "hr sync":
        later = sync(company, feed)[0]
    else:
        later = run_iam("--config", str(company), "resume", "--format", "json")

    assert later.returncode == 0, later.stdout[-2000:] + later.stderr
    assert groups_of(directory, "ann") == {"staff", "engineering", "developers"}
    conn = directory.slapd.admin()
    conn.search(f"ou=staff,{BASE_DN}", "(uid=ann)")
    assert len(conn.entries) == 1
    conn.unbind()
    if recover != "resume":
        again, _ = sync(company, feed)  # finished: nothing left to retry or change
        assert again.returncode == 0 and json.loads(again.stdout)["events"] == []


def test_an_offboarding_dry_run_that_cannot_read_a_system_exits_3(
    directory: Directory, config_file: Path
) -> None:
    directory.slapd.stop()

    result = offboard(config_file, "alice", "--dry-run")

    assert result.returncode == 3, result.stdout + result.stderr
    assert "cannot plan: cannot connect to" in result.stdout
    assert "Incomplete plan" in result.stdout and "Dry run: nothing was changed." in result.stdout
    as_json = offboard(config_file, "alice", "--dry-run", "--format", "json")
    assert as_json.returncode == 3
    report = json.loads(as_json.stdout)
    assert report["status"] == "planned" and report["systems"][0]["result"] == "error"
