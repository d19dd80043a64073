"""HR-driven joiner / mover / leaver / rehire end to end on a real slapd."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.conftest import Directory, run_iam
from tests.e2e.conftest import HMAC
from tests.support.company import BASE_FEED, NOW, changes, groups_of, locked, person, sync, write_feed
from tests.support.slapd import BASE_DN


def test_joiners_get_exactly_their_roles_and_a_second_sync_changes_nothing(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    feed = write_feed(tmp_path / "feed.csv", BASE_FEED)
    result, report = sync(company, feed)
    assert result.returncode == 0, result.stderr + result.stdout
    assert sorted(e["type"] for e in report["events"]) == ["joiner"] * 4 + ["leaver"]
    assert groups_of(directory, "ann") == {"staff", "engineering", "developers"}
    assert groups_of(directory, "bea") == {"staff", "finance", "payroll-entry"}
    assert groups_of(directory, "cal") == {"staff", "sales"}
    assert groups_of(directory, "dan") == {"staff", "engineering", "developers", "third-parties"}
    before = changes(company)

    again, report = sync(company, feed)

    assert again.returncode == 0, again.stderr
    assert report["events"] == []
    assert changes(company) == before


def test_mover_leaver_and_rehire(company: Path, tmp_path: Path, directory: Directory) -> None:
    assert sync(company, write_feed(tmp_path / "v1.csv", BASE_FEED))[0].returncode == 0
    moved = [dict(BASE_FEED[0], department="Finance", title="Accountant"), BASE_FEED[1], BASE_FEED[3]]

    result, report = sync(company, write_feed(tmp_path / "v2.csv", moved))

    assert result.returncode == 0, result.stderr + result.stdout
    kinds = {(e["type"], e["username"], e["status"]) for e in report["events"]}
    assert ("mover", "ann", "applied") in kinds and ("leaver", "cal", "applied") in kinds
    assert groups_of(directory, "ann") == {"staff", "finance"}
    assert groups_of(directory, "cal") == set() and locked(directory, "cal")

    back = [*moved, dict(BASE_FEED[2], department="Support")]
    result, report = sync(company, write_feed(tmp_path / "v3.csv", back))

    assert result.returncode == 0, result.stderr + result.stdout
    assert [(e["type"], e["username"]) for e in report["events"]] == [("rehire", "cal")]
    assert groups_of(directory, "cal") == {"staff", "support"}
    assert not locked(directory, "cal")


def entry_of(directory: Directory, uid: str) -> dict[str, object]:
    """The person's entry as a separate admin client reads it: DN and the attributes HR owns."""
    conn = directory.slapd.admin()
    names = ["title", "departmentNumber", "manager", "mail", "givenName", "sn", "displayName"]
    conn.search(BASE_DN, f"(uid={uid})", attributes=[*names, "pwdAccountLockedTime"])
    (entry,) = conn.response
    conn.unbind()
    return {"dn": entry["dn"], **{k: v for k, v in entry["attributes"].items() if v != []}}


def test_hr_facts_follow_a_mover_and_a_rehire_comes_back_to_people_with_todays_values(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    people = f"ou=people,{BASE_DN}"
    assert sync(company, write_feed(tmp_path / "v1.csv", BASE_FEED))[0].returncode == 0
    bea = entry_of(directory, "bea")
    assert bea["title"] == ["Payroll Clerk"] and bea["departmentNumber"] == ["Finance"]
    assert bea["manager"] == [f"uid=ann,{people}"] and bea["displayName"] == ["Bea Test"]

    moved = [
        dict(BASE_FEED[0], department="Finance", title="Accountant"),
        dict(BASE_FEED[1], manager="dan", title="Payroll Lead"),
        BASE_FEED[3],
    ]
    result, report = sync(company, write_feed(tmp_path / "v2.csv", moved))

    assert result.returncode == 0, result.stderr + result.stdout
    ann = entry_of(directory, "ann")
    assert ann["title"] == ["Accountant"] and ann["departmentNumber"] == ["Finance"]
    bea = entry_of(directory, "bea")
    assert bea["manager"] == [f"uid=dan,{people}"] and bea["title"] == ["Payroll Lead"]
    cal = entry_of(directory, "cal")
    assert cal["dn"] == f"uid=cal,ou=leavers,{BASE_DN}" and cal["pwdAccountLockedTime"]

    back = [
        *moved,
        dict(BASE_FEED[2], department="Support", title="Support Engineer", email="cal@example.com"),
    ]
    result, report = sync(company, write_feed(tmp_path / "v3.csv", back))

    assert result.returncode == 0, result.stderr + result.stdout
    assert [(e["type"], e["username"], e["status"]) for e in report["events"]] == [
        ("rehire", "cal", "applied")
    ]
    cal = entry_of(directory, "cal")
    assert cal["dn"] == f"uid=cal,{people}"
    assert cal["title"] == ["Support Engineer"] and cal["departmentNumber"] == ["Support"]
    assert cal["mail"] == ["cal@example.com"] and cal["manager"] == [f"uid=ann,{people}"]
    assert "pwdAccountLockedTime" not in cal and groups_of(directory, "cal") == {"staff", "support"}
    before = changes(company)

    again, report = sync(company, write_feed(tmp_path / "v4.csv", back))

    assert again.returncode == 0, again.stderr
    assert report["events"] == [] and changes(company) == before
    assert entry_of(directory, "cal") == cal


def test_future_leaver_waits_for_the_end_of_the_last_day(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    assert sync(company, write_feed(tmp_path / "v1.csv", BASE_FEED))[0].returncode == 0
    pending = run_iam("--config", str(company), "event", "list", "--status", "pending", "--format", "json")
    assert [(e["type"], e["username"]) for e in json.loads(pending.stdout)] == [("leaver", "dan")]

    early = run_iam(
        "--config", str(company), "run-due", "--now", "2026-12-31T23:59:00+00:00", "--format", "json"
    )
    assert early.returncode == 0, early.stderr
    assert json.loads(early.stdout)["events"] == []
    assert "engineering" in groups_of(directory, "dan")

    due = run_iam(
        "--config", str(company), "run-due", "--now", "2027-01-01T00:00:01+00:00", "--format", "json"
    )
    assert due.returncode == 0, due.stderr
    assert [(e["type"], e["status"]) for e in json.loads(due.stdout)["events"]] == [("leaver", "applied")]
    assert groups_of(directory, "dan") == set() and locked(directory, "dan")


def test_a_future_event_shows_one_time_with_its_zone_when_submitted_and_listed(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    assert sync(company, write_feed(tmp_path / "v1.csv", BASE_FEED))[0].returncode == 0
    events = tmp_path / "leaver.json"
    leaver = {"type": "leaver", "username": "cal", "reason": "left", "effective_at": "2030-06-30T18:00+02:00"}
    events.write_text(json.dumps({"events": [leaver]}))

    submitted = run_iam("--config", str(company), "event", "submit", str(events))
    listed = run_iam("--config", str(company), "event", "list", "--status", "pending")

    assert submitted.returncode == 0 and listed.returncode == 0, submitted.stderr + listed.stderr
    for shown in (submitted.stdout, listed.stdout):
        assert "2030-06-30 16:00 UTC" in shown, shown


def test_bad_rows_are_reported_and_good_rows_applied(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    rows = [
        *BASE_FEED,
        person("E5", "eve", "Research", manager="nobody"),
        person("E6", "fay", "Sales", kind="contractor", owner="ann"),
        person("E7", "gus", "Sales", email="not-an-email"),
        person("E8", "a b", "Sales", email="ab@example.org"),
    ]
    result, report = sync(company, write_feed(tmp_path / "bad.csv", rows))

    assert result.returncode == 2
    problems = {(r["row"], r["field"]) for r in report["rejected"]}
    assert problems == {(6, "manager"), (7, "end_date"), (8, "email"), (9, "username")}
    assert groups_of(directory, "ann") == {"staff", "engineering", "developers"}
    for name in ("eve", "fay", "gus"):
        assert groups_of(directory, name) == set()


def test_separation_of_duty_refuses_the_plan_and_names_the_rule(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    policy = yaml.safe_load((company.parent / "policy.yaml").read_text())
    policy["grants"] = [
        {"username": "bea", "role": "payroll-approver", "expires": "2027-01-31", "requester": "ann"}
    ]
    (company.parent / "policy.yaml").write_text(yaml.safe_dump(policy))

    result, report = sync(company, write_feed(tmp_path / "feed.csv", BASE_FEED))

    assert result.returncode == 2
    bea = next(e for e in report["events"] if e["username"] == "bea")
    assert bea["status"] == "rejected" and "payroll-entry-vs-approval" in bea["error"]
    assert groups_of(directory, "bea") == set()
    assert groups_of(directory, "ann") == {"staff", "engineering", "developers"}


def test_a_feed_that_would_terminate_too_many_changes_nothing(
    company: Path, tmp_path: Path, directory: Directory
) -> None:
    many = [*BASE_FEED, *(person(f"X{i}", f"extra{i}", "Support", manager="ann") for i in range(30))]
    assert sync(company, write_feed(tmp_path / "big.csv", many))[0].returncode == 0
    truncated = write_feed(tmp_path / "truncated.csv", BASE_FEED)

    result, report = sync(company, truncated)

    assert result.returncode == 2
    assert "would terminate 30" in report["blocked"]
    assert groups_of(directory, "extra0") == {"staff", "support"}

    allowed, _ = sync(company, truncated, "--max-terminations", "30")
    assert allowed.returncode == 0, allowed.stderr
    assert groups_of(directory, "extra0") == set()


def test_plan_shows_should_versus_has(company: Path, tmp_path: Path, directory: Directory) -> None:
    assert sync(company, write_feed(tmp_path / "v1.csv", BASE_FEED))[0].returncode == 0
    conn = directory.slapd.admin()
    conn.modify(
        f"cn=sales,ou=groups,{BASE_DN}", {"member": [("MODIFY_ADD", [f"uid=ann,ou=people,{BASE_DN}"])]}
    )
    conn.unbind()

    result = run_iam("--config", str(company), "plan", "ann", "--now", NOW, "--format", "json")

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["roles"] == ["engineering", "staff"]
    assert data["systems"][0]["extra"] == [f"group:cn=sales,ou=groups,{BASE_DN}"]
    assert data["systems"][0]["missing"] == []


def post(server, body: bytes, timestamp: int, secret: str = HMAC, signature: str | None = None):
    import httpx

    from iam.server import sign

    headers = {
        "X-IAM-Timestamp": str(timestamp),
        "X-IAM-Signature": signature or sign(secret, timestamp, body),
        "Content-Type": "application/json",
    }
    return httpx.post(f"{server.url}/events", content=body, headers=headers, timeout=30)


JOINER = json.dumps({"events": [{"type": "joiner", "person": person("E9", "hal", "Research")}]}).encode()


def test_signed_event_is_applied_and_answers_with_the_run(event_server, directory: Directory) -> None:
    server, clock = event_server
    response = post(server, JOINER, int(clock["now"].timestamp()))
    assert response.status_code == 202, response.text
    event = response.json()["events"][0]
    assert event["status"] == "applied" and event["run_id"]
    assert groups_of(directory, "hal") == {"staff", "research"}


def test_tampered_unsigned_stale_and_replayed_requests_are_refused(
    event_server, directory: Directory
) -> None:
    import httpx

    from iam.server import sign

    server, clock = event_server
    now = int(clock["now"].timestamp())
    tampered = JOINER.replace(b"Research", b"Finance")

    assert post(server, tampered, now, signature=sign(HMAC, now, JOINER)).status_code == 401
    assert post(server, JOINER, now, secret="wrong-secret").status_code == 401
    assert post(server, JOINER, now - 3600).status_code == 401
    unsigned = httpx.post(f"{server.url}/events", content=JOINER, timeout=10)
    assert unsigned.status_code == 401 and "unsigned" in unsigned.json()["error"]
    assert groups_of(directory, "hal") == set()

    first = post(server, JOINER, now)
    replay = post(server, JOINER, now)
    assert first.status_code == 202 and replay.status_code == 409
    audit = Path(server.rt.config.audit_log).read_text()
    refused = [line for line in audit.splitlines() if '"event":"http.refused"' in line]
    assert len(refused) == 5
    assert HMAC not in audit


def test_invalid_events_are_rejected_with_the_field(event_server) -> None:
    server, clock = event_server
    body = json.dumps({"events": [{"type": "leaver", "username": "ghost"}]}).encode()
    response = post(server, body, int(clock["now"].timestamp()))
    assert response.status_code == 422
    assert response.json()["rejected"][0]["message"] == "unknown person 'ghost'"


def test_serve_starts_with_one_command_and_stops_cleanly(company: Path) -> None:
    import signal
    import subprocess
    import sys

    import httpx

    from tests.conftest import iam_env
    from tests.support.slapd import free_port

    data = yaml.safe_load(company.read_text())
    data["http"] = {"hmac_secret": {"env": "IAM_TEST_HMAC"}}
    company.write_text(yaml.safe_dump(data))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "iam", "--config", str(company), "serve", "--port", str(port)],
        env=iam_env({"IAM_TEST_HMAC": HMAC}),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "listening on" in proc.stderr.readline()
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json() == {"ok": True}
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0
    assert "stopped" in proc.stderr.read()
