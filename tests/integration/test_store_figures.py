"""What ``GET /metrics`` and the reviews page read from the store, on SQLite and on PostgreSQL:
counted by the store itself (`Store.figures`, `Store.certifications`), not by queries of their own."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from iam.store import StepRow, Store

pytest_plugins = ["tests.support.postgres"]  # the pg fixture

AT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(either_store: Store) -> Store:
    return either_store


def step(seq: int) -> StepRow:
    return StepRow("", seq, "directory", "revoke", f"g{seq}", f"remove from g{seq}", {}, "pending")


def event(id_: str, status: str, effective_at: datetime) -> dict[str, object]:
    return {
        "id": id_,
        "type": "leaver",
        "username": id_,
        "identity": {"username": id_},
        "effective_at": effective_at,
        "source": "test",
        "status": status,
    }


def test_an_empty_journal_counts_nothing_and_has_no_last_sweep(store: Store) -> None:
    figures = store.figures(AT)
    assert (figures.runs_by_status, figures.steps_by_outcome, figures.due_events) == ({}, {}, 0)
    assert figures.last_sweep is None


def test_figures_count_runs_steps_due_events_and_the_last_sweep_in_utc(store: Store) -> None:
    finished = store.create_run("offboard", "ann", "left", False, [step(1), step(2)], {})
    store.step_finished(finished["id"], 1, "done", "updated", None)
    store.step_finished(finished["id"], 2, "done", "unchanged", None)
    store.finish_run(finished["id"], "complete", {})
    store.create_run("offboard", "bob", "left", False, [step(1)], {})  # still running, its step pending
    store.create_run("offboard", "cy", "left", True, [step(1)], {})  # a dry run: planned, its step never runs
    assert store.schedule_event(event("due", "pending", AT - timedelta(minutes=1)))
    assert store.schedule_event(event("at-the-minute", "pending", AT))
    assert store.schedule_event(event("ahead", "pending", AT + timedelta(days=2)))
    assert store.schedule_event(event("done", "applied", AT - timedelta(days=1)))
    store.save_sweep("s1", AT - timedelta(days=7), {}, [])
    store.save_sweep("s2", AT - timedelta(hours=3), {}, [])

    figures = store.figures(AT)
    assert figures.runs_by_status == {"complete": 1, "running": 1, "planned": 1}
    assert figures.steps_by_outcome == {"updated": 1, "unchanged": 1, "pending": 1}  # bob's alone
    assert figures.due_events == 2
    assert figures.last_sweep == AT - timedelta(hours=3)
    assert figures.last_sweep is not None and figures.last_sweep.utcoffset() == timedelta(0)


def test_campaigns_come_newest_first(store: Store) -> None:
    for cert_id in ("first", "second", "third"):
        store.save_certification(cert_id, "mia", date(2026, 12, 31), [])
    assert [c["id"] for c in store.certifications()] == ["third", "second", "first"]
