"""The suspension record and the retention delete on both stores: SQLite and a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from iam import lifecycle, runs, suspension
from iam.config import Config, RetryPolicy, SystemConfig
from iam.runtime import Runtime
from tests.integration.test_store_postgres import holding, no_sleep
from tests.support.memory import MemoryConnector

pytest_plugins = ["tests.support.postgres"]  # the pg_cluster and pg fixtures


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "iam.db")
    return request.getfixturevalue("pg").url


def runtime(tmp_path: Path, store: str, conn: MemoryConnector, **system: object) -> Runtime:
    config = Config(
        path=None,
        store=store,
        audit_log=str(tmp_path / "audit.jsonl"),
        retry=RetryPolicy(attempts=2, initial_wait=1, max_wait=2),
        systems=(SystemConfig(conn.name, "memory", dict(system)),),
    )
    return Runtime(config, connectors={conn.name: conn}, sleep=no_sleep)


def test_a_suspension_is_recorded_stands_and_is_restored(tmp_path: Path, location: str) -> None:
    conn = holding(MemoryConnector("a"), "ann")
    with runtime(tmp_path, location, conn) as rt:
        cut = suspension.suspend(rt, "ann", "incident")
        [standing] = rt.store.standing_suspensions()
        back = suspension.restore(rt, "ann", "cleared", datetime.now(UTC))
        after = rt.store.standing_suspensions()

    assert cut.status == "complete" and back.status == "complete"
    assert standing["username"] == "ann" and standing["run_id"] == cut.run_id
    assert sorted(standing["held"]["a"]["entitlements"]) == ["group:g0", "group:g1", "group:g2"]
    assert after == [] and conn.accounts["ann"].enabled and len(conn.accounts["ann"].entitlements) == 3


def test_a_retention_delete_comes_due_and_runs_once(tmp_path: Path, location: str) -> None:
    conn = holding(MemoryConnector("a"), "ann")
    with runtime(tmp_path, location, conn, retention={"delete_after_days": 7}) as rt:
        assert runs.offboard(rt, "ann", "left").status == "complete"
        now = datetime.now(UTC)
        early = lifecycle.run_due(rt, now + timedelta(days=6))
        due = lifecycle.run_due(rt, now + timedelta(days=8))
        again = lifecycle.run_due(rt, now + timedelta(days=9))

    assert early.deletions == [] and again.deletions == []
    assert [(d.username, d.status) for d in due.deletions] == [("ann", "deleted")]
    assert "ann" not in conn.accounts
