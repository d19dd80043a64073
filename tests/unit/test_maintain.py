"""`run-due` gives systems that need upkeep their turn, each on its own, and logs it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from iam import lifecycle
from iam.config import Config, SystemConfig
from iam.contract import Maintainable
from iam.errors import Unreachable
from iam.model import Outcome, Result
from iam.runtime import Runtime
from tests.support.memory import MemoryConnector

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


class Upkept(MemoryConnector, Maintainable):
    def __init__(self, name: str, fail: bool = False) -> None:
        super().__init__(name)
        self.fail = fail
        self.calls = 0

    def maintain(self) -> Result:
        self.calls += 1
        if self.fail:
            raise Unreachable("the PKI is on a disk that is gone", system=self.name)
        return Result(Outcome.UPDATED, "CRL renewed, valid until 2026-12-22")


def runtime(tmp_path: Path, connectors: dict) -> Runtime:
    (tmp_path / "policy.yaml").write_text('roles:\n  staff: {entitlements: {vpn: ["vpn:access"]}}\n')
    config = Config(
        path=None,
        store=str(tmp_path / "iam.db"),
        audit_log=str(tmp_path / "audit.jsonl"),
        systems=tuple(SystemConfig(n, "memory", {}) for n in connectors),
        policy=str(tmp_path / "policy.yaml"),
    )
    return Runtime(config, connectors=connectors)


def test_run_due_maintains_each_system_and_a_failure_does_not_stop_the_others(tmp_path: Path) -> None:
    vpn, broken, plain = Upkept("vpn"), Upkept("vpn-b", fail=True), MemoryConnector("dir")
    with runtime(tmp_path, {"vpn": vpn, "vpn-b": broken, "dir": plain}) as rt:
        report = lifecycle.run_due(rt, NOW)

    assert (vpn.calls, broken.calls) == (1, 1)
    assert report.to_json()["maintenance"] == [
        {"system": "vpn", "outcome": "updated", "detail": "CRL renewed, valid until 2026-12-22"},
        {"system": "vpn-b", "outcome": "failed", "detail": "vpn-b: the PKI is on a disk that is gone"},
    ]
    assert report.partial  # a failed upkeep makes run-due exit 3, so the timer's owner hears of it
    logged = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [r["system"] for r in logged if r["event"] == "system.maintain"] == ["vpn", "vpn-b"]


def test_upkeep_needs_no_policy_and_runs_even_when_events_fail(tmp_path: Path) -> None:
    """An offboarding-only deployment (no policy) still gets its CRL renewed."""
    vpn = Upkept("vpn")
    config = Config(
        path=None,
        store=str(tmp_path / "iam.db"),
        audit_log=str(tmp_path / "audit.jsonl"),
        systems=(SystemConfig("vpn", "memory", {}),),
    )
    with Runtime(config, connectors={"vpn": vpn}) as rt:
        assert lifecycle.run_due(rt, NOW).maintenance[0].outcome == "updated"
        rt.store.record_event(
            {
                "id": "e1",
                "type": "joiner",
                "username": "ann",
                "identity": {"username": "ann", "hr_id": "1"},
                "effective_at": NOW,
                "source": "test",
                "reason": "",
                "status": "pending",
            },
            None,
        )
        report = lifecycle.run_due(rt, NOW)  # a joiner needs the policy that is missing: it waits
    (joiner,) = report.events
    assert joiner.status == "partial" and "no policy is configured" in (joiner.error or "")
    assert report.partial and report.maintenance[0].outcome == "updated"
    assert vpn.calls == 2
