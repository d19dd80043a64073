"""The store on a real PostgreSQL: journal, resume, audit anchor, HR events, and workers sharing it.

Every test gets a fresh database in one throwaway cluster (tests/support/postgres.py).
The store URL carries no password: libpq reads PGPASSWORD (or a pgpass file),
as a deployment would.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from iam.lab.waiting import wait_for

from iam import runs
from iam.config import Config, RetryPolicy, SystemConfig
from iam.errors import ConfigError
from iam.model import Entitlement, Result
from iam.runtime import Runtime
from iam.store import Store, display_location
from tests.conftest import PASSWORD_ENV, Directory, iam_env, run_iam
from tests.support.company import groups_of, locked, person, sample_policy, write_feed
from tests.support.memory import MemAccount, MemoryConnector
from tests.support.slapd import BASE_DN, add_group

if TYPE_CHECKING:
    from tests.support.postgres import Database

pytest_plugins = ["tests.support.postgres"]  # the pg_cluster and pg fixtures

NOW = "2026-11-22T10:00:00+00:00"
AFTER_LAST_DAY = "2027-01-01T00:00:01+00:00"
CONTRACTORS = [f"c{i:02d}" for i in range(1, 7)]


def no_sleep(_seconds: float) -> None:
    """Retries wait for nothing: the memory connector's faults are injected, not timed."""


def memory_runtime(tmp_path: Path, store: str, *conns: MemoryConnector) -> Runtime:
    config = Config(
        path=None,
        store=store,
        audit_log=str(tmp_path / "audit.jsonl"),
        retry=RetryPolicy(attempts=3, initial_wait=1, max_wait=8),
        systems=tuple(SystemConfig(c.name, "memory", {}) for c in conns),
    )
    return Runtime(config, connectors={c.name: c for c in conns}, sleep=no_sleep)


def holding(conn: MemoryConnector, username: str, groups: int = 3) -> MemoryConnector:
    conn.accounts[username] = MemAccount(
        entitlements={Entitlement("group", f"g{i}") for i in range(groups)},
        sessions=["s1"],
        credentials={"t1": True},
    )
    return conn


def write_config(path: Path, directory: Directory, store: str, **extra: Any) -> Path:
    system: dict[str, Any] = dict(directory.settings)
    system.update(type="ldap", bind_password={"env": PASSWORD_ENV}, timeout=30)
    data = {
        "store": store,
        "audit_log": "state/audit.jsonl",
        "retry": {"attempts": 2, "initial_wait": 0.01, "max_wait": 0.05},
        "systems": {"directory": system},
        **extra,
    }
    path.write_text(yaml.safe_dump(data))
    return path


def audit_records(config_file: Path) -> list[dict[str, Any]]:
    """The audit log's records (a line another process is still writing is left out)."""
    log = config_file.parent / "state/audit.jsonl"
    records = []
    for line in log.read_text().splitlines() if log.exists() else []:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def iam_process(config_file: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "iam", "--config", str(config_file), *args],
        env=env or iam_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def wait_until(check: Any, what: str, procs: list[subprocess.Popen[str]], timeout: float = 60) -> None:
    """Poll ``check`` until true; fail if a process ended first or the deadline passes."""

    def holds() -> bool:
        if check():
            return True
        ended = [p for p in procs if p.poll() is not None]
        assert not ended, f"a process ended before {what}: {ended[0].communicate()[1][-2000:]}"
        return False

    wait_for(holds, timeout, what, interval=0.01)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, out, err


@pytest.fixture
def stop_at_end() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test started; killed (by pid) if still running when it ends."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


# -- a run journaled and verified ----------------------------------------------------------


def test_offboarding_is_journaled_and_verified_in_postgres(tmp_path: Path, pg: Database) -> None:
    conn = holding(MemoryConnector("a"), "ann")
    with memory_runtime(tmp_path, pg.url, conn) as rt:
        report = runs.offboard(rt, "ann", "left").to_json()
        stored = rt.store.get_run(report["run_id"])
        identity = rt.store.get_identity("ann")
        verified = rt.audit.verify()

    assert report["status"] == "complete"
    assert conn.read_account("ann").remaining_access() == []
    assert stored is not None and stored["report"] == json.loads(json.dumps(report))
    # the server speaks Asia/Kolkata; the store still hands back UTC
    assert stored["created_at"].utcoffset() == timedelta(0) and stored["finished_at"] >= stored["created_at"]
    assert identity is not None and identity["status"] == "terminated"
    assert verified.ok, verified.problems
    # the journal really is in PostgreSQL: read it from outside, JSON queried as JSON
    journal = pg.rows("select status, attempts from steps where run_id = %s", report["run_id"])
    assert len(journal) == len(report["systems"][0]["steps"]) > 0
    assert set(journal) == {("done", 1)}
    assert pg.rows("select report->>'status' from runs") == [("complete",)]


# -- a run killed midway, then resumed ----------------------------------------------------


def test_killed_run_is_resumed_from_postgres_without_repeating_done_steps(
    tmp_path: Path, pg: Database, directory: Directory, stop_at_end: list[subprocess.Popen[str]]
) -> None:
    admin = directory.slapd.admin()
    for i in range(150):
        add_group(admin, f"bulk{i:03d}", "groupOfNames", [directory.alice])
    admin.unbind()
    config_file = write_config(tmp_path / "iam.yaml", directory, pg.url)

    def done() -> int:
        return len(pg.rows("select 1 from steps where status = 'done'"))

    proc = iam_process(config_file, "offboard", "alice", "--reason", "left", "--yes")
    stop_at_end.append(proc)
    wait_until(lambda: done() >= 5, "five steps done", [proc])
    directory.slapd.pause()  # freeze the directory so the run is caught midway
    proc.kill()
    proc.wait()
    directory.slapd.resume()
    before = pg.rows("select seq, status, attempts from steps order by seq")
    done_before = {seq for seq, status, _ in before if status == "done"}
    assert 5 <= len(done_before) < len(before)

    result = run_iam("--config", str(config_file), "resume", "--format", "json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "complete"
    after = pg.rows("select seq, status, attempts from steps order by seq")
    assert {status for _, status, _ in after} == {"done"}
    assert all(attempts == 1 for seq, _, attempts in after if seq in done_before)
    changed = Counter(r["seq"] for r in audit_records(config_file) if r["event"] == "access.changed")
    assert max(changed.values()) == 1, "a step was applied twice"
    admin = directory.slapd.admin()
    admin.search(BASE_DN, f"(member={directory.alice})", attributes=["cn"])
    assert admin.entries == []
    admin.unbind()


# -- the audit head anchor ----------------------------------------------------------------


def test_a_truncated_audit_log_is_caught_by_the_anchor_kept_in_postgres(
    tmp_path: Path, pg: Database, directory: Directory
) -> None:
    config_file = write_config(tmp_path / "iam.yaml", directory, pg.url)
    for user in ("alice", "bob"):
        result = run_iam("--config", str(config_file), "offboard", user, "--reason", "left", "--yes")
        assert result.returncode == 0, result.stderr
    log = config_file.parent / "state/audit.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    assert pg.rows("select seq from audit_head") == [(len(lines),)]
    intact = run_iam("--config", str(config_file), "audit", "verify")
    assert intact.returncode == 0 and "chain intact" in intact.stdout, intact.stderr

    log.write_text("".join(lines[:-3]))  # what is left is still a valid chain
    result = run_iam("--config", str(config_file), "audit", "verify")

    assert result.returncode == 3
    assert f"the log ends at record {len(lines) - 3}, but the store saw record {len(lines)}" in result.stderr


# -- HR events ----------------------------------------------------------------------------


def event_row(event_id: str, username: str, effective_at: datetime, source: str = "test") -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "leaver",
        "username": username,
        "identity": {"username": username, "hr_id": f"H-{username}"},
        "effective_at": effective_at,
        "source": source,
        "reason": "last day",
        "status": "pending",
    }


def test_an_event_is_due_at_its_instant_whatever_the_time_zones(pg: Database) -> None:
    new_york = datetime(2026, 12, 31, 23, 0, tzinfo=ZoneInfo("America/New_York"))  # 04:00 UTC
    long_name = "hr-feed:" + "workday-export-" * 8 + ".csv"  # longer than the old 64-character column
    store = Store(pg.url)
    try:
        store.record_event(event_row("e1", "ann", new_york, source=long_name), "terminated")
        store.record_event(event_row("e2", "bob", new_york + timedelta(days=30)), None)
        store.record_event(event_row("e3", "cal", new_york + timedelta(days=30)), None)

        early = list(store.due_events(datetime(2027, 1, 1, 3, 59, tzinfo=UTC)))
        due = list(store.due_events(datetime(2027, 1, 1, 9, 31, tzinfo=ZoneInfo("Asia/Kolkata"))))
        again = list(store.due_events(datetime(2027, 1, 1, 9, 31, tzinfo=ZoneInfo("Asia/Kolkata"))))
        store.finish_event("e1", "applied", None, None)
        cancelled = store.cancel_pending("bob", ("leaver",))
        stored = {e["id"]: e for e in store.list_events()}
        identity = store.get_identity("ann")
    finally:
        store.close()

    assert early == []
    assert [e["id"] for e in due] == ["e1"] and due[0]["status"] == "running" and due[0]["claimed_by"]
    assert again == [], "a claimed event is handed out once"
    assert stored["e1"]["effective_at"] == new_york and stored["e1"]["effective_at"].tzinfo == UTC
    assert stored["e1"]["status"] == "applied" and stored["e1"]["source"] == long_name
    assert cancelled == 1 and stored["e2"]["status"] == "cancelled" and stored["e3"]["status"] == "pending"
    assert identity is not None and identity["status"] == "terminated"
    assert identity["attributes"] == {"username": "ann", "hr_id": "H-ann"}


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One store location several workers share: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "iam.db")
    return request.getfixturevalue("pg").url


def at_once(count: int, work: Any) -> tuple[list[Any], list[BaseException]]:
    """Run ``work(i)`` in ``count`` threads released together; their results and errors."""
    start = threading.Barrier(count, timeout=30)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        start.wait()
        try:
            results.append(work(i))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads), "a worker is stuck"
    return results, errors


def test_workers_starting_together_on_an_empty_store_create_the_schema_once(shared_location: str) -> None:
    stores, errors = at_once(6, lambda _: Store(shared_location))
    for store in stores:
        store.close()

    assert errors == []
    assert len(stores) == 6
    store = Store(shared_location)
    try:
        assert store.list_events() == [] and store.list_runs() == []
    finally:
        store.close()


def test_a_replayed_request_is_refused_even_when_both_copies_arrive_at_once(shared_location: str) -> None:
    window = datetime.now(UTC) - timedelta(minutes=10)
    stores = [Store(shared_location) for _ in range(8)]
    try:
        answers, errors = at_once(8, lambda i: stores[i].first_sighting("a" * 64, window))
        later = stores[0].first_sighting("a" * 64, window)
        forgotten = stores[0].first_sighting("a" * 64, datetime.now(UTC) + timedelta(seconds=1))
    finally:
        for store in stores:
            store.close()

    assert errors == []
    assert sorted(answers) == [False] * 7 + [True]
    assert later is False
    assert forgotten is True, "outside the replay window a digest is forgotten"


def test_workers_recording_the_same_person_at_once_do_not_collide(shared_location: str) -> None:
    stores = [Store(shared_location) for _ in range(6)]
    people = [(f"ann{n}", f"E{n}") for n in range(20)]  # the race is narrow: run it many times
    try:
        errors = [
            error
            for name, hr_id in people
            for error in at_once(
                6,
                lambda i, name=name, hr_id=hr_id: stores[i].upsert_identity(
                    name, "active", {"hr_id": hr_id, "n": i}
                ),
            )[1]
        ]
        _, head_errors = at_once(
            6, lambda i: stores[i].outbox_settle("/var/log/iam.jsonl", [], i + 1, f"{i:064d}")
        )
        identities = stores[0].identities()
        head = stores[0].audit_head("/var/log/iam.jsonl")
    finally:
        for store in stores:
            store.close()

    assert errors == [] and head_errors == []
    assert sorted((i["username"], i["hr_id"], i["status"]) for i in identities) == sorted(
        (name, hr_id, "active") for name, hr_id in people
    )
    assert head is not None and head == (head[0], f"{head[0] - 1:064d}")


def test_an_event_applied_as_it_is_recorded_is_never_handed_out_again(shared_location: str) -> None:
    due_at = datetime(2027, 1, 1, tzinfo=UTC)
    mine, other = Store(shared_location), Store(shared_location)
    try:
        mine.record_event({**event_row("now", "ann", due_at), "status": "running"}, "terminated")
        handed_out = list(other.due_events(due_at))
        [stored] = other.list_events()
    finally:
        mine.close()
        other.close()

    assert handed_out == []
    assert stored["status"] == "running" and stored["claimed_by"] and stored["claimed_at"]


def test_a_store_made_before_claims_existed_gets_the_new_columns(shared_location: str) -> None:
    old = Store(shared_location)
    with old.engine.begin() as db:
        db.exec_driver_sql("ALTER TABLE events DROP COLUMN claimed_by")
        db.exec_driver_sql("ALTER TABLE events DROP COLUMN claimed_at")
    old.close()

    store = Store(shared_location)
    try:
        store.record_event(event_row("e1", "ann", datetime(2027, 1, 1, tzinfo=UTC)), None)
        claimed = list(store.due_events(datetime(2027, 1, 2, tzinfo=UTC)))
    finally:
        store.close()

    assert [(e["id"], e["status"]) for e in claimed] == [("e1", "running")]
    assert claimed[0]["claimed_at"] is not None


def test_workers_noticing_the_same_grant_expiry_at_once_record_it_once(shared_location: str) -> None:
    expiry = {
        **event_row("grant-expiry-ann", "ann", datetime(2026, 12, 1, tzinfo=UTC)),
        "type": "grant-expiry",
    }
    stores = [Store(shared_location) for _ in range(6)]
    try:
        recorded, errors = at_once(6, lambda i: stores[i].schedule_event(expiry))
        claimed = [e["id"] for e in stores[0].due_events(datetime(2026, 12, 2, tzinfo=UTC))]
    finally:
        for store in stores:
            store.close()

    assert errors == []
    assert sorted(recorded) == [False] * 5 + [True]
    assert claimed == ["grant-expiry-ann"]


def test_workers_holding_the_same_person_at_once_keep_one_hold(shared_location: str) -> None:
    stores = [Store(shared_location) for _ in range(6)]
    try:
        placed, errors = at_once(
            6, lambda i: stores[i].place_hold("ann", f"reason {i}", "root", "cli", f"r{i}")
        )
        holds = stores[0].standing_holds()
    finally:
        for store in stores:
            store.close()

    assert errors == []
    assert sorted(placed) == [False] * 5 + [True]
    assert len(holds) == 1 and holds[0]["placed_at"].tzinfo is not None


def test_a_store_made_before_holds_existed_gets_them(shared_location: str) -> None:
    old = Store(shared_location)
    with old.engine.begin() as db:
        db.exec_driver_sql("ALTER TABLE events DROP COLUMN actor")
        db.exec_driver_sql("DROP TABLE holds")
    old.close()

    store = Store(shared_location)
    try:
        store.record_event(
            {**event_row("e1", "ann", datetime(2027, 1, 1, tzinfo=UTC)), "actor": "root"}, None
        )
        placed = store.place_hold("ann", "for cause", "root", "cli", None)
        [event] = store.list_events()
    finally:
        store.close()

    assert placed and event["actor"] == "root"


def test_workers_claiming_due_events_at_once_each_get_different_ones(shared_location: str) -> None:
    due_at = datetime(2027, 1, 1, tzinfo=UTC)
    setup = Store(shared_location)
    for i in range(40):
        setup.record_event(event_row(f"e{i:02d}", f"u{i:02d}", due_at - timedelta(minutes=i)), None)
    setup.record_event(event_row("later", "zed", due_at + timedelta(seconds=1)), None)
    stores = [Store(shared_location) for _ in range(4)]
    try:
        claimed, errors = at_once(4, lambda i: [e["id"] for e in stores[i].due_events(due_at)])
        statuses = Counter(e["status"] for e in setup.list_events())
    finally:
        for store in [setup, *stores]:
            store.close()

    assert errors == []
    every = [event_id for ids in claimed for event_id in ids]
    assert sorted(every) == [f"e{i:02d}" for i in range(40)], "an event was lost or handed out twice"
    assert all(ids == sorted(ids, reverse=True) for ids in claimed), "each worker takes the oldest first"
    assert statuses == {"running": 40, "pending": 1}


class MeetsTheOtherWorker(MemoryConnector):
    """Its first revoke waits until the other worker's connector is revoking too."""

    def __init__(self, name: str, meeting: threading.Barrier) -> None:
        super().__init__(name)
        self.meeting = meeting
        self.met = False

    def revoke(self, username: str, entitlement: Entitlement) -> Result:
        if not self.met:
            self.met = True
            self.meeting.wait()
        return super().revoke(username, entitlement)


def test_two_workers_offboard_different_people_at_once_and_lose_nothing(tmp_path: Path, pg: Database) -> None:
    meeting = threading.Barrier(2, timeout=60)
    people = {"ann": MeetsTheOtherWorker("a", meeting), "bob": MeetsTheOtherWorker("a", meeting)}
    reports: dict[str, dict[str, Any]] = {}
    errors: list[BaseException] = []

    def worker(username: str) -> None:
        try:
            # each worker has its own runtime: its own connection pool and audit log handle
            with memory_runtime(tmp_path, pg.url, holding(people[username], username, groups=40)) as rt:
                reports[username] = runs.offboard(rt, username, "left").to_json()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(u,)) for u in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert errors == []
    assert {u: r["status"] for u, r in reports.items()} == {"ann": "complete", "bob": "complete"}
    for username, conn in people.items():
        assert conn.met and conn.read_account(username).remaining_access() == []
        steps = reports[username]["systems"][0]["steps"]
        journal = pg.rows("select status, attempts from steps where run_id = %s", reports[username]["run_id"])
        assert len(journal) == len(steps) and set(journal) == {("done", 1)}
    assert sorted(pg.rows("select username, status from identities")) == [
        ("ann", "terminated"),
        ("bob", "terminated"),
    ]
    with memory_runtime(tmp_path, pg.url) as rt:
        verified = rt.audit.verify()
        changed = Counter(r["username"] for r in rt.audit.records() if r["event"] == "access.changed")
    assert verified.ok, verified.problems
    assert changed == {u: len(r["systems"][0]["steps"]) for u, r in reports.items()}  # every step, once


@pytest.fixture
def contractors_leaving(tmp_path: Path, pg: Database, directory: Directory) -> Path:
    """Six contractors whose last day is 2026-12-31, joined by an HR sync into a PostgreSQL store."""
    sample_policy(directory, tmp_path)
    config_file = write_config(tmp_path / "iam.yaml", directory, pg.url, policy="policy.yaml", timezone="UTC")
    feed = [person("E1", "ann", "Engineering", "Engineering Manager")] + [
        person(f"C{i}", name, "Sales", kind="contractor", owner="ann", end_date="2026-12-31")
        for i, name in enumerate(CONTRACTORS)
    ]
    sync = run_iam(
        "--config",
        str(config_file),
        "hr",
        "sync",
        str(write_feed(tmp_path / "feed.csv", feed)),
        "--now",
        NOW,
        "--format",
        "json",
    )
    assert sync.returncode == 0, sync.stderr + sync.stdout
    assert pg.rows("select count(*) from events where type = 'leaver' and status = 'pending'") == [
        (len(CONTRACTORS),)
    ]
    assert all("sales" in groups_of(directory, name) for name in CONTRACTORS)
    return config_file


def due_records(config_file: Path) -> list[str]:
    return [r["event_id"] for r in audit_records(config_file) if r["event"] == "event.due"]


def test_two_run_due_workers_never_apply_the_same_event(
    contractors_leaving: Path, pg: Database, directory: Directory, stop_at_end: list[subprocess.Popen[str]]
) -> None:
    config_file = contractors_leaving
    # the directory frozen: each worker stops inside its first event, so both hold one at once
    directory.slapd.pause()
    try:
        workers = [
            iam_process(config_file, "run-due", "--now", AFTER_LAST_DAY, "--format", "json") for _ in range(2)
        ]
        stop_at_end.extend(workers)
        wait_until(lambda: len(due_records(config_file)) >= 2, "both workers to take an event", workers)
    finally:
        directory.slapd.resume()
    results = [finish(w) for w in workers]

    for code, _, err in results:
        assert code == 0, err
    handled = [e for _, out, _ in results for e in json.loads(out)["events"]]
    assert all(json.loads(out)["events"] for _, out, _ in results), "each worker applied some"
    assert sorted(e["username"] for e in handled) == CONTRACTORS
    assert {e["status"] for e in handled} == {"applied"}
    due = due_records(config_file)
    assert len(due) == len(set(due)) == len(CONTRACTORS), "an event was taken twice"
    offboardings = pg.rows("select username, count(*) from runs where kind = 'offboard' group by username")
    assert sorted(offboardings) == [(name, 1) for name in CONTRACTORS], "someone was offboarded twice"
    assert pg.rows("select distinct status from events where type = 'leaver'") == [("applied",)]
    for name in CONTRACTORS:
        assert groups_of(directory, name) == set() and locked(directory, name)
    verify = run_iam("--config", str(config_file), "audit", "verify")
    assert verify.returncode == 0 and "chain intact" in verify.stdout, verify.stderr


def test_an_event_whose_worker_died_is_taken_over_once_its_claim_expires(
    contractors_leaving: Path, pg: Database, directory: Directory, stop_at_end: list[subprocess.Popen[str]]
) -> None:
    config_file = contractors_leaving
    directory.slapd.pause()
    try:
        worker = iam_process(config_file, "run-due", "--now", AFTER_LAST_DAY)
        stop_at_end.append(worker)
        wait_until(lambda: due_records(config_file), "the worker to take an event", [worker])
        worker.kill()
        worker.wait()
    finally:
        directory.slapd.resume()
    [(stranded,)] = pg.rows("select username from events where status = 'running'")

    second = run_iam("--config", str(config_file), "run-due", "--now", AFTER_LAST_DAY, "--format", "json")

    assert second.returncode == 0, second.stderr
    taken = sorted(e["username"] for e in json.loads(second.stdout)["events"])
    assert taken == sorted(set(CONTRACTORS) - {stranded}), "a live claim is left alone"
    assert "sales" in groups_of(directory, stranded)

    pg.rows(
        "update events set claimed_at = claimed_at - interval '2 hours' where status = 'running' returning id"
    )
    third = run_iam("--config", str(config_file), "run-due", "--now", AFTER_LAST_DAY, "--format", "json")

    assert third.returncode == 0, third.stderr
    assert [(e["username"], e["status"]) for e in json.loads(third.stdout)["events"]] == [
        (stranded, "applied")
    ]
    assert groups_of(directory, stranded) == set() and locked(directory, stranded)
    assert pg.rows("select distinct status from events where type = 'leaver'") == [("applied",)]


# -- the password: from the environment or a pgpass file, never shown --------------------


def test_the_password_comes_from_pgpass_or_pgpassword_and_its_absence_is_explained(
    tmp_path: Path, pg: Database, directory: Directory
) -> None:
    config_file = write_config(tmp_path / "iam.yaml", directory, pg.url)
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{pg.cluster.port}:{pg.name}:iam:{pg.cluster.password}\n")
    pgpass.chmod(0o600)
    base = {k: v for k, v in iam_env().items() if k != "PGPASSWORD"}

    from_file = run_iam(
        "--config", str(config_file), "runs", "--format", "json", env={**base, "PGPASSFILE": str(pgpass)}
    )
    missing = run_iam(
        "--config",
        str(config_file),
        "runs",
        env={**base, "PGPASSFILE": str(tmp_path / "none"), "HOME": str(tmp_path)},
    )
    wrong = run_iam("--config", str(config_file), "runs", env={**base, "PGPASSWORD": "not-the-Passw0rd"})

    assert from_file.returncode == 0, from_file.stderr
    assert json.loads(from_file.stdout) == []
    for result in (missing, wrong):
        assert result.returncode == 2
        assert f"store: {pg.url}: cannot open:" in result.stderr
        assert "PGPASSWORD or ~/.pgpass" in result.stderr
        assert "Traceback" not in result.stderr
    assert "not-the-Passw0rd" not in wrong.stderr


def test_a_password_written_in_the_url_anyway_is_masked_everywhere(
    tmp_path: Path, pg: Database, directory: Directory
) -> None:
    password = pg.cluster.password
    config_file = write_config(tmp_path / "iam.yaml", directory, pg.cluster.url(pg.name, password))
    env = {k: v for k, v in iam_env().items() if k != "PGPASSWORD"}

    outputs = [
        run_iam(
            "--config",
            str(config_file),
            "offboard",
            "alice",
            "--reason",
            "left",
            "--yes",
            "--format",
            "json",
            env=env,
        ),
        run_iam("--config", str(config_file), "runs", "--format", "json", env=env),
        run_iam("--config", str(config_file), "audit", "show", "--format", "json", env=env),
        run_iam(
            "--config", str(config_file), "--store", pg.cluster.url("nosuchdb", password), "runs", env=env
        ),
    ]

    assert outputs[0].returncode == 0, outputs[0].stderr
    evidence = json.loads(outputs[0].stdout)["evidence"]["store"]
    assert evidence == pg.url.replace("iam@", "iam:***@")
    assert outputs[-1].returncode == 2 and ":***@" in outputs[-1].stderr
    texts = [o.stdout + o.stderr for o in outputs]
    texts.append((tmp_path / "state/audit.jsonl").read_text())
    texts += [json.dumps(row, default=str) for row in pg.rows("select * from runs")]
    texts += [json.dumps(row, default=str) for row in pg.rows("select * from steps")]
    for text in texts:
        assert password not in text


def test_the_table_report_masks_a_password_written_in_the_url(
    tmp_path: Path, pg: Database, directory: Directory
) -> None:
    password = pg.cluster.password
    config_file = write_config(tmp_path / "iam.yaml", directory, pg.cluster.url(pg.name, password))
    env = {k: v for k, v in iam_env().items() if k != "PGPASSWORD"}

    result = run_iam("--config", str(config_file), "offboard", "alice", "--reason", "left", "--yes", env=env)

    assert result.returncode == 0, result.stderr
    assert password not in "".join(result.stdout.split())  # the table may wrap a long line


# -- store locations (no server needed) ---------------------------------------------------


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("mysql://iam:S3cret-pw@db/iam", "only SQLite (a file path) and PostgreSQL"),
        ("postgresql+psycopg://iam:S3cret-pw@db:port/iam", "is neither a file path nor a database URL"),
    ],
)
def test_an_unusable_store_location_is_a_config_error_without_the_password(
    location: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        Store(location)
    assert "S3cret-pw" not in str(caught.value) and ":***@" in str(caught.value)


def test_only_a_password_is_masked_in_a_location() -> None:
    assert display_location("state/iam.db") == "state/iam.db"
    assert display_location("postgresql+psycopg://iam@db:5432/iam") == "postgresql+psycopg://iam@db:5432/iam"
    assert display_location("postgresql://iam:p@ss@db/iam") == "postgresql://iam:***@db/iam"
    assert display_location("postgresql://iam:S3cret@db/iam") == "postgresql://iam:***@db/iam"
    assert (
        display_location("postgresql://iam@db/iam?password=S3cret&x=1")
        == "postgresql://iam@db/iam?password=***&x=1"
    )


def test_identities_stream_in_username_order_with_what_the_list_holds(shared_location: str) -> None:
    """`iter_identities` (a sweep's read of every person) says what `identities` says, row by row."""
    store = Store(shared_location)
    try:
        store.upsert_identity("bob", "terminated", {"hr_id": "E2", "department": "ops"})
        store.upsert_identity("ann", "active", {"hr_id": "E1"})
        streamed = list(store.iter_identities())
        listed = store.identities()
    finally:
        store.close()

    assert [name for name, *_ in streamed] == ["ann", "bob"]
    assert streamed == [(r["username"], r["status"], r["attributes"], r["updated_at"]) for r in listed]
    assert all(when.tzinfo is not None for *_, when in streamed)
