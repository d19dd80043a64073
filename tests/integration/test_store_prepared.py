"""The journal's compiled statements (`iam.prepared`) write exactly what SQLAlchemy's own
execute writes, on SQLite and on a real PostgreSQL, and refuse a parameter they do not have."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from iam.prepared import Prepared
from iam.store import StepRow, Store, runs, steps

pytest_plugins = ["tests.support.postgres"]  # the pg fixture

#: Every kind of value a run row holds: JSON with None inside and outside, a time off UTC, a flag.
RUN = {
    "kind": "offboard",
    "username": "o'brien",
    "reason": 'left; "quoted" % 100',
    "status": "running",
    "dry_run": False,
    "plan_errors": {"vpn": "down"},
    "desired": None,
    "created_at": datetime(2026, 11, 30, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
    "actor": "it-admin",
    "ticket": None,
    "identity": {"name": "Ann Ö", "manager": None},
    "before": {"directory": None},
}

INSERT_RUN = Prepared(runs.insert().values({name: sa.bindparam(name) for name in ["id", *RUN]}))


@pytest.fixture
def store(either_store: Store) -> Store:
    return either_store


def stored_as_text(store: Store, run_id: str) -> dict[str, Any]:
    """A run's row as the database holds it (JSON and times cast to text), not as iam reads it."""
    columns = [sa.cast(c, sa.Text).label(c.name) for c in runs.c]
    with store.engine.connect() as db:
        return dict(db.execute(sa.select(*columns).where(runs.c.id == run_id)).mappings().one())


def test_a_prepared_insert_stores_what_a_core_insert_stores(store: Store) -> None:
    with store.engine.begin() as db:
        db.execute(runs.insert().values(id="core", **RUN))
        INSERT_RUN.run(db, {"id": "prepared", **RUN})
    core, prepared = stored_as_text(store, "core"), stored_as_text(store, "prepared")
    assert prepared == {**core, "id": "prepared"}
    assert prepared["desired"] is None or prepared["desired"] == "null"  # as Core writes it: not lost
    assert store.get_run("prepared") == {**store.get_run("core"), "id": "prepared"}  # type: ignore[dict-item]
    assert store.get_run("prepared")["created_at"] == datetime(2026, 12, 1, 4, 30, tzinfo=UTC)  # type: ignore[index]


def test_a_misspelt_parameter_is_refused_and_nothing_is_written(store: Store) -> None:
    with pytest.raises(TypeError, match="usernme"), store.engine.begin() as db:
        INSERT_RUN.run(db, {"id": "typo", **RUN, "usernme": "ann"})
    assert store.get_run("typo") is None


def test_a_run_is_returned_as_it_is_read_back_with_its_steps_and_start_record(store: Store) -> None:
    planned = [
        StepRow(
            run_id="",
            seq=seq,
            system="directory",
            op="revoke",
            target=f"cn=g{seq}",
            description=f"remove from g{seq}",
            payload={"group": f"g{seq}"},
            status="pending",
        )
        for seq in (1, 2)
    ]
    run = store.create_run(
        "offboard",
        "ann",
        "left",
        False,
        planned,
        {"vpn": "down"},
        started=lambda run_id: ("audit.jsonl", {"event": "run.started", "run_id": run_id}),
    )
    assert store.get_run(run["id"]) == run
    journal = store.run_steps(run["id"])
    assert [(s.seq, s.status, s.payload, s.attempts) for s in journal] == [
        (1, "pending", {"group": "g1"}, 0),
        (2, "pending", {"group": "g2"}, 0),
    ]
    assert [r for _, r in store.outbox_pending("audit.jsonl")] == [
        {"event": "run.started", "run_id": run["id"]}
    ]


def test_a_step_journaled_through_prepared_statements_reads_back_in_utc(store: Store) -> None:
    row = StepRow(
        run_id="",
        seq=1,
        system="vpn",
        op="disable",
        target=None,
        description="d",
        payload={},
        status="pending",
    )
    run_id = store.create_run("offboard", "ann", "left", False, [row], {})["id"]
    store.step_started(run_id, 1)
    store.step_finished(run_id, 1, "done", "changed", None, audit=("audit.jsonl", {"event": "step.done"}))
    (step,) = store.run_steps(run_id)
    assert (step.status, step.outcome, step.error, step.attempts) == ("done", "changed", None, 1)
    assert step.started_at is not None and step.finished_at is not None
    assert step.started_at.tzinfo == UTC and step.started_at <= step.finished_at
    with store.engine.connect() as db:
        count = db.execute(sa.select(sa.func.count()).select_from(steps)).scalar_one()
    assert count == 1


def test_a_person_is_inserted_then_given_facts_then_a_status_keeping_the_facts(store: Store) -> None:
    store.upsert_identity("ann", "active")
    first = store.get_identity("ann")
    assert first is not None
    assert (first["status"], first["attributes"], first["hr_id"]) == ("active", {}, None)
    store.upsert_identity("ann", "active", {"username": "ann", "hr_id": "H1", "department": "Sales"})
    store.upsert_identity("ann", "terminated")
    last = store.get_identity("ann")
    assert last is not None and (last["status"], last["hr_id"]) == ("terminated", "H1")
    assert last["attributes"] == {"username": "ann", "hr_id": "H1", "department": "Sales"}
    assert last["updated_at"] >= first["updated_at"] and last["updated_at"].tzinfo == UTC
