"""The engine against the in-memory connector: journal, retries, isolation, convergence."""

from __future__ import annotations

from pathlib import Path

import pytest

from iam import runs
from iam.config import Config, RetryPolicy, SystemConfig
from iam.errors import AuthenticationFailed, ConnectTimeout, InputError, InvalidAttribute, RateLimited
from iam.model import AccountState, DesiredAccount, Entitlement, Result
from iam.runtime import Runtime
from tests.support.memory import MemAccount, MemoryConnector

ENG = Entitlement("group", "eng")
OPS = Entitlement("group", "ops")


class Clock:
    """Collects the sleeps the engine asks for, without sleeping."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


def runtime(tmp_path: Path, *conns: MemoryConnector, attempts: int = 3) -> tuple[Runtime, Clock]:
    clock = Clock()
    config = Config(
        path=None,
        store=str(tmp_path / "iam.db"),
        audit_log=str(tmp_path / "audit.jsonl"),
        retry=RetryPolicy(attempts=attempts, initial_wait=1, max_wait=8),
        systems=tuple(SystemConfig(c.name, "memory", {}) for c in conns),
    )
    return Runtime(config, connectors={c.name: c for c in conns}, sleep=clock), clock


def leaver(conn: MemoryConnector) -> MemoryConnector:
    conn.accounts["ann"] = MemAccount(entitlements={ENG, OPS}, sessions=["s1"], credentials={"t1": True})
    return conn


def test_offboard_is_complete_and_journaled_before_and_after(tmp_path: Path) -> None:
    conn = leaver(MemoryConnector("a"))
    rt, _ = runtime(tmp_path, conn)
    seen: list[str] = []
    report = runs.offboard(rt, "ann", "left", on_step=lambda system, row: seen.append(row.status)).to_json()
    assert report["status"] == "complete"
    assert seen and set(seen) == {"done"}
    rows = rt.store.run_steps(report["run_id"])
    assert all(r.status == "done" and r.attempts == 1 for r in rows)
    assert conn.read_account("ann").remaining_access() == []
    assert rt.store.get_identity("ann")["status"] == "terminated"


class Watched(MemoryConnector):
    """Notes, as each operation runs, what the journal says of the run's steps at that moment."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.rt: Runtime | None = None
        self.seen: list[list[str]] = []

    def _maybe_fail(self, op: str, username: str) -> None:
        if self.rt is not None and op != "read":
            (run,) = self.rt.store.list_runs(limit=1)
            self.seen.append([row.status for row in self.rt.store.run_steps(run["id"])])
        super()._maybe_fail(op, username)


def test_each_step_is_journaled_running_before_it_runs_and_done_after(tmp_path: Path) -> None:
    conn = Watched("a")
    leaver(conn)
    conn.fail["revoke"] = [InvalidAttribute("refused")] * 10  # failed steps: the next is journaled anew
    rt, _ = runtime(tmp_path, conn)
    conn.rt = rt
    report = runs.offboard(rt, "ann", "left").to_json()
    assert report["status"] == "partial"
    assert len(conn.seen) == len(report["systems"][0]["steps"]) >= 4
    for i, statuses in enumerate(conn.seen):  # step i runs: the ones before have ended, it is running
        assert statuses[i] == "running"
        assert all(status in ("done", "failed") for status in statuses[:i])
        assert all(status == "pending" for status in statuses[i + 1 :])
    assert [r.attempts for r in rt.store.run_steps(report["run_id"])] == [1] * len(conn.seen)


def test_transient_failures_are_retried_with_backoff(tmp_path: Path) -> None:
    conn = leaver(MemoryConnector("a"))
    conn.fail["disable"] = [ConnectTimeout("slow"), ConnectTimeout("slow")]
    rt, clock = runtime(tmp_path, conn)
    report = runs.offboard(rt, "ann", "left").to_json()
    assert report["status"] == "complete"
    assert clock.slept == [1, 2]
    retries = [r for r in rt.audit.records() if r["event"] == "step.retry"]
    assert [r["attempt"] for r in retries] == [1, 2]


def test_rate_limit_waits_as_long_as_the_system_asks(tmp_path: Path) -> None:
    conn = leaver(MemoryConnector("a"))
    conn.fail["disable"] = [RateLimited("slow down", retry_after=6)]
    rt, clock = runtime(tmp_path, conn)
    runs.offboard(rt, "ann", "left")
    assert clock.slept == [6]


def test_permanent_failure_is_not_retried_and_reported_partial(tmp_path: Path) -> None:
    conn = leaver(MemoryConnector("a"))
    conn.fail["revoke"] = [InvalidAttribute("schema says no")]
    rt, clock = runtime(tmp_path, conn)
    report = runs.offboard(rt, "ann", "left").to_json()
    failed = [s for s in report["systems"][0]["steps"] if s["status"] == "failed"]
    assert len(failed) == 1 and "schema says no" in failed[0]["error"]
    assert clock.slept == []
    # the step after the failed one still ran; a re-plan round then finished the job
    assert conn.read_account("ann").remaining_access() == []
    assert report["status"] == "complete"


def test_one_failing_system_never_stops_the_others(tmp_path: Path) -> None:
    bad, good = leaver(MemoryConnector("bad")), leaver(MemoryConnector("good"))
    bad.fail["lock_password"] = [AuthenticationFailed("bind rejected")]
    rt, _ = runtime(tmp_path, bad, good)
    report = runs.offboard(rt, "ann", "left").to_json()
    by = {s["system"]: s for s in report["systems"]}
    assert report["status"] == "partial"
    assert by["good"]["result"] == "complete"
    assert by["bad"]["result"] == "partial" and "bind rejected" in by["bad"]["error"]
    assert "account is enabled" in by["bad"]["remaining"]
    pending = [s for s in by["bad"]["steps"] if s["status"] == "pending"]
    assert pending, "steps after an authentication failure wait for resume"


def test_resume_after_partial_runs_only_what_is_left(tmp_path: Path) -> None:
    conn = leaver(MemoryConnector("a"))
    conn.fail["lock_password"] = [AuthenticationFailed("bind rejected")]
    rt, _ = runtime(tmp_path, conn)
    first = runs.offboard(rt, "ann", "left").to_json()
    assert first["status"] == "partial"
    calls_before = len(conn.calls)
    report = runs.resume(rt).to_json()
    assert report["status"] == "complete"
    redone = [op for op, _ in conn.calls[calls_before:] if op != "read"]
    assert redone == [
        "lock_password",
        "disable",
        "end_sessions",
        "revoke_credential",
        "revoke",
        "revoke",
        "archive",
    ]
    with pytest.raises(InputError, match="already complete"):
        runs.resume(rt, report["run_id"])


def test_entitlement_put_back_behind_our_back_is_revoked_in_another_round(tmp_path: Path) -> None:
    class Sticky(MemoryConnector):
        def revoke(self, username: str, entitlement: Entitlement) -> Result:
            result = super().revoke(username, entitlement)
            if entitlement == OPS and not getattr(self, "came_back", False):
                self.came_back = True
                self.accounts[username].entitlements.add(OPS)
            return result

    conn = leaver(Sticky("a"))
    rt, _ = runtime(tmp_path, conn)
    report = runs.offboard(rt, "ann", "left").to_json()
    assert report["status"] == "complete"
    revokes = [s["target"] for s in report["systems"][0]["steps"] if s["op"] == "revoke"]
    assert revokes.count("group:ops") == 2
    assert any(r["event"] == "run.replanned" for r in rt.audit.records())


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    conn = leaver(MemoryConnector("a"))
    rt, _ = runtime(tmp_path, conn)
    before = conn.read_account("ann")
    report = runs.offboard(rt, "ann", "left", dry_run=True).to_json()
    assert report["status"] == "planned" and report["systems"][0]["steps"]
    assert conn.read_account("ann") == before
    assert [op for op, _ in conn.calls if op != "read"] == []


def test_cancelled_confirmation_changes_nothing(tmp_path: Path) -> None:
    conn = leaver(MemoryConnector("a"))
    rt, _ = runtime(tmp_path, conn)
    report = runs.offboard(rt, "ann", "left", confirm=lambda plan: False).to_json()
    assert report["status"] == "cancelled"
    assert conn.read_account("ann").enabled


@pytest.mark.parametrize("bad", ["", "a b", "x\nkill all", "$(id)", "a*)(uid=*", "é" * 3, "x" * 200])
def test_bad_usernames_are_refused_before_anything_is_read(tmp_path: Path, bad: str) -> None:
    conn = leaver(MemoryConnector("a"))
    rt, _ = runtime(tmp_path, conn)
    with pytest.raises(InputError, match="invalid username"):
        runs.offboard(rt, bad, "left")
    assert conn.calls == []


def test_state_read_is_a_real_account_state(tmp_path: Path) -> None:
    conn = leaver(MemoryConnector("a"))
    assert isinstance(conn.read_account("ann"), AccountState)


class DeletedMidRun(MemoryConnector):
    """Someone deletes the account between the plan and its first grant."""

    def grant(self, username: str, entitlement: Entitlement) -> Result:
        self.accounts.pop(username, None)
        return super().grant(username, entitlement)


def test_an_account_gone_after_planning_is_drift_and_stops_that_system(tmp_path: Path) -> None:
    drifting, steady = DeletedMidRun("a"), MemoryConnector("b")
    for conn in (drifting, steady):
        conn.accounts["ann"] = MemAccount(entitlements=set())
    rt, _ = runtime(tmp_path, drifting, steady)
    desired = {name: DesiredAccount(frozenset({ENG, OPS})) for name in ("a", "b")}

    report = runs.provision(rt, "mover", "ann", desired, "moved").to_json()

    rows = {(r.system, r.target): r for r in rt.store.run_steps(report["run_id"])}
    first, second = rows[("a", "group:eng")], rows[("a", "group:ops")]
    assert first.status == "failed" and "drift: the account this step was planned for is gone" in first.error
    assert second.status != "done"  # stopped, not attempted against an account that is not there
    assert "ann" not in drifting.accounts  # nothing was recreated behind the operator's back
    assert report["status"] != "complete"
    assert steady.read_account("ann").entitlements == {ENG, OPS}  # the other system went on


def test_a_plan_without_desired_state_is_complete_only_when_each_step_holds(tmp_path: Path) -> None:
    """A remediation or certification revoke that failed is never reported complete."""
    from iam.contract import Op, StepSpec
    from iam.plan import number_steps

    conn = leaver(MemoryConnector("a"))
    conn.fail["revoke"] = [InvalidAttribute("the directory refused")]
    rt, _ = runtime(tmp_path, conn)
    plan = number_steps("remediate", "ann", {"a": [StepSpec(Op.REVOKE, str(ENG), "revoke eng (excess)")]})

    report = runs.execute_plan(rt, plan, "review sweep s1").to_json()

    assert report["status"] == "partial"
    assert report["systems"][0]["remaining"] == [
        "step 1 failed: a: the directory refused",
        "still holds group:eng",
    ]
    conn.fail.clear()
    again = runs.execute_plan(rt, plan, "review sweep s1").to_json()
    assert again["status"] == "complete" and ENG not in conn.read_account("ann").entitlements
