"""Delete after retention, end to end on a real slapd: `iam run-due` with a simulated clock.

A termination disables and strips at once; the entry is deleted only once
the directory's ``retention.delete_after_days`` have passed, only for a
person still terminated, only when it is read holding nothing, and never
for more people at once than the blast-radius limit allows.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from tests.conftest import Directory, run_iam
from tests.support import schemas
from tests.support.company import BASE_FEED, sync, write_feed
from tests.support.slapd import BASE_DN

ARCHIVE = f"ou=archive,{BASE_DN}"


def retention(config: Path, days: int = 30, **system: object) -> Path:
    data = yaml.safe_load(config.read_text())
    data["systems"]["directory"]["retention"] = {"delete_after_days": days}
    data["systems"]["directory"].update(system)
    config.write_text(yaml.safe_dump(data))
    return config


def offboard(config: Path, user: str) -> None:
    result = run_iam("--config", str(config), "offboard", user, "--reason", "resigned", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr


def run_due(config: Path, days_later: float) -> tuple[int, dict]:
    when = (datetime.now(UTC) + timedelta(days=days_later)).isoformat()
    result = run_iam("--config", str(config), "run-due", "--now", when, "--format", "json")
    report = json.loads(result.stdout)
    schemas.validate(report, "lifecycle-report")
    return result.returncode, report


def entry(directory: Directory, uid: str) -> str | None:
    conn = directory.slapd.admin()
    conn.search(BASE_DN, f"(uid={uid})", attributes=["1.1"])
    dn = conn.entries[0].entry_dn if conn.entries else None
    conn.unbind()
    return dn


def test_the_entry_is_deleted_once_its_retention_ends_and_not_before(
    directory: Directory, config_file: Path
) -> None:
    config = retention(config_file)
    offboard(config, "alice")
    shown = run_iam("--config", str(config), "status", "alice", "--format", "json")
    [scheduled] = json.loads(shown.stdout)["scheduled_deletes"]
    assert scheduled["system"] == "directory" and scheduled["delete_after_days"] == 30
    due = datetime.fromisoformat(scheduled["due"])
    assert timedelta(days=29) < due - datetime.now(UTC) <= timedelta(days=30)

    table = run_iam("--config", str(config), "status", "alice")
    assert "directory: the account is deleted on" in table.stdout and "retention 30 days" in table.stdout

    code, report = run_due(config, 29)
    assert code == 0 and report["deletions"] == []
    assert entry(directory, "alice") is not None

    code, report = run_due(config, 31)

    assert code == 0, report
    [deleted] = report["deletions"]
    assert (deleted["username"], deleted["systems"], deleted["status"]) == ("alice", ["directory"], "deleted")
    assert entry(directory, "alice") is None and entry(directory, "bob") is not None
    runs = json.loads(run_iam("--config", str(config), "runs", "--format", "json").stdout)
    [run] = [r for r in runs if r["id"] == deleted["run_id"]]
    assert (run["kind"], run["status"]) == ("delete", "complete")
    evidence = run_iam("--config", str(config), "evidence", deleted["run_id"], "--format", "json")
    assert evidence.returncode == 0, evidence.stderr
    assert "delete" in evidence.stdout
    audit = (config.parent / "state/audit.jsonl").read_text()
    assert '"op":"delete"' in audit and '"event":"access.changed"' in audit
    assert (
        json.loads(run_iam("--config", str(config), "status", "alice", "--format", "json").stdout)[
            "scheduled_deletes"
        ]
        == []
    )

    later = (datetime.now(UTC) + timedelta(days=31)).isoformat()
    shown = run_iam("--config", str(config), "run-due", "--now", later)
    assert shown.returncode == 0 and "retention" not in shown.stdout  # nothing left to delete

    code, report = run_due(config, 32)  # done once: nothing to do again
    assert code == 0 and report["deletions"] == []


def test_an_entry_that_still_grants_access_is_not_deleted(directory: Directory, config_file: Path) -> None:
    config = retention(config_file)
    offboard(config, "alice")
    admin = directory.slapd.admin()
    dn = entry(directory, "alice")
    assert admin.modify(directory.groups["eng"], {"member": [("MODIFY_ADD", [dn])]}), admin.result
    admin.unbind()

    code, report = run_due(config, 31)

    assert code == 3
    [refused] = report["deletions"]
    assert refused["status"] == "refused" and refused["run_id"] is None
    assert "still grants access" in refused["error"] and "cn=eng" in refused["error"]
    assert entry(directory, "alice") == dn


def test_too_many_due_deletes_at_once_delete_nothing(directory: Directory, config_file: Path) -> None:
    config = retention(config_file)
    data = yaml.safe_load(config.read_text())
    data["safety"] = {"max_terminations": 1}
    config.write_text(yaml.safe_dump(data))
    offboard(config, "alice")
    offboard(config, "bob")

    code, report = run_due(config, 31)

    assert code == 2
    assert "nothing was deleted" in report["blocked"]
    assert {(d["username"], d["status"]) for d in report["deletions"]} == {
        ("alice", "blocked"),
        ("bob", "blocked"),
    }
    assert entry(directory, "alice") and entry(directory, "bob")


def test_with_archive_dn_the_entry_is_moved_there_instead_of_deleted(
    directory: Directory, config_file: Path
) -> None:
    admin = directory.slapd.admin()
    assert admin.add(ARCHIVE, ["organizationalUnit"], {"ou": "archive"}), admin.result
    admin.unbind()
    config = retention(config_file, archive_dn=ARCHIVE)
    offboard(config, "alice")

    code, report = run_due(config, 31)

    assert code == 0, report
    assert report["deletions"][0]["status"] == "deleted"
    assert entry(directory, "alice") == f"uid=alice,{ARCHIVE}"
    assert run_due(config, 32)[1]["deletions"] == []


def test_a_rehire_cancels_the_delete(company: Path, tmp_path: Path, directory: Directory) -> None:
    config = retention(company)
    assert sync(config, write_feed(tmp_path / "v1.csv", BASE_FEED))[0].returncode == 0
    gone = [BASE_FEED[0], dict(BASE_FEED[1], status="terminated"), *BASE_FEED[2:]]
    assert sync(config, write_feed(tmp_path / "v2.csv", gone))[0].returncode == 0
    assert entry(directory, "bea") is not None
    planned = run_iam("--config", str(config), "plan", "bea", "--format", "json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    schemas.validate(plan, "plan")
    assert [(d["system"], d["delete_after_days"]) for d in plan["scheduled_deletes"]] == [("directory", 30)]
    back = [BASE_FEED[0], dict(BASE_FEED[1], department="Sales", title="Sales Rep"), *BASE_FEED[2:]]
    _, report = sync(config, write_feed(tmp_path / "v3.csv", back))
    assert [(e["type"], e["status"]) for e in report["events"]] == [("rehire", "applied")]

    _, report = run_due(config, 31)

    assert "bea" not in {d["username"] for d in report["deletions"]}
    assert entry(directory, "bea") is not None
    shown = json.loads(run_iam("--config", str(config), "status", "bea", "--format", "json").stdout)
    assert shown["scheduled_deletes"] == []


def test_a_bad_retention_setting_is_refused_by_name(directory: Directory, config_file: Path) -> None:
    config = retention(config_file, days=-1)

    result = run_iam("--config", str(config), "run-due")

    assert result.returncode == 2
    assert "systems.directory.retention.delete_after_days" in result.stderr


def test_evidence_of_a_person_tells_the_suspension_restore_termination_and_delete(
    directory: Directory, config_file: Path, tmp_path: Path
) -> None:
    config = retention(config_file)
    for command, reason in (("suspend", "incident: phished laptop"), ("restore", "incident closed")):
        done = run_iam("--config", str(config), command, "alice", "--reason", reason, "--yes")
        assert done.returncode == 0, done.stdout + done.stderr
    offboard(config, "alice")
    code, report = run_due(config, 31)
    assert code == 0, report
    [deleted] = report["deletions"]

    result = run_iam("--config", str(config), "evidence", "--user", "alice", "--format", "json")

    assert result.returncode == 0, result.stderr
    pack = json.loads(result.stdout)
    schemas.validate(pack, "evidence-pack")
    assert (pack["kind"], pack["status"]) == ("offboard", "complete")
    assert [(c["kind"], c["status"]) for c in pack["story"]] == [
        ("suspend", "complete"),
        ("restore", "complete"),
        ("delete", "complete"),
    ]
    suspension, restoration, deletion = pack["story"]
    assert suspension["reason"] == "incident: phished laptop" and restoration["reason"] == "incident closed"
    assert deletion["run_id"] == deleted["run_id"]
    [checked] = deletion["systems"]
    assert (checked["system"], checked["result"], checked["remaining"]) == ("directory", "complete", [])
    assert [s["op"] for s in checked["steps"]] == ["delete"] and checked["held_before"] is not None
    assert [s["op"] for s in suspension["systems"][0]["steps"]] == ["disable"]
    assert all(c["audit"]["records"] > 0 for c in pack["story"])

    page = run_iam("--config", str(config), "evidence", "--user", "alice", "--out", str(tmp_path / "e.html"))
    assert page.returncode == 0, page.stderr
    html = (tmp_path / "e.html").read_text()
    assert "The person's other runs" in html and "incident closed" in html
    assert deleted["run_id"] in html


def test_evidence_of_a_person_never_terminated_tells_the_suspension(
    directory: Directory, config_file: Path
) -> None:
    done = run_iam("--config", str(config_file), "suspend", "alice", "--reason", "incident", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr

    result = run_iam("--config", str(config_file), "evidence", "--user", "alice", "--format", "json")

    assert result.returncode == 0, result.stderr
    pack = json.loads(result.stdout)
    assert (pack["kind"], pack["reason"], pack["story"]) == ("suspend", "incident", [])
    nobody = run_iam("--config", str(config_file), "evidence", "--user", "bob", "--format", "json")
    assert nobody.returncode != 0 and "no termination of 'bob'" in nobody.stderr
