"""Store rules that hold on SQLite as on PostgreSQL (tests/integration/test_store_postgres.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from iam.store import CLAIM_LEASE, Store, display_location, events

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def leaver(event_id: str, status: str) -> dict[str, object]:
    return {
        "id": event_id,
        "type": "leaver",
        "username": "ann",
        "identity": {"username": "ann"},
        "effective_at": NOW,
        "source": "test",
        "reason": "",
        "status": status,
    }


def test_a_rehire_cancels_a_leave_whose_worker_died_but_not_one_being_applied(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "iam.db"))
    store.record_event(leaver("dead", "running"), None)
    store.record_event(leaver("live", "running"), None)
    with store.engine.begin() as db:  # the first claim's worker died long ago
        old = datetime.now(UTC) - CLAIM_LEASE * 2
        db.execute(events.update().where(events.c.id == "dead").values(claimed_at=old))

    assert store.cancel_pending("ann", ("leaver",)) == 1

    status = {e["id"]: e["status"] for e in store.list_events()}
    assert status == {"dead": "cancelled", "live": "running"}
    assert list(store.due_events(NOW)) == []  # the cancelled leave is never taken over
    store.close()


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("postgresql://iam:pa/ss@db/iam", "postgresql://iam:***@db/iam"),
        ("postgres://iam:p#w?x@db:5432/iam", "postgres://iam:***@db:5432/iam"),
        ("postgresql://iam:pa@ss@db/iam", "postgresql://iam:***@db/iam"),
        ("postgresql://iam@db/iam?password=S3cret&sslmode=require", "password=***&sslmode=require"),
        ("state/iam.db", "state/iam.db"),
    ],
)
def test_a_password_in_the_store_url_is_never_shown(location: str, shown: str) -> None:
    masked = display_location(location)
    assert shown in masked
    assert not any(secret in masked for secret in ("pa/ss", "p#w", "ss@", "S3cret"))


def test_an_old_journal_with_a_create_step_resumes_on_an_implicit_accounts_connector() -> None:
    from iam import contract
    from iam.model import Outcome
    from tests.support.memory import MemoryConnector

    class Vpn(MemoryConnector):
        implicit_accounts = True

    result = contract.perform(Vpn("vpn"), "ann", contract.StepSpec(contract.Op.CREATE, "ann"))
    assert result.outcome == Outcome.UNCHANGED


def test_an_event_with_a_deterministic_id_is_scheduled_once(tmp_path: Path) -> None:
    first, second = Store(str(tmp_path / "iam.db")), Store(str(tmp_path / "iam.db"))
    row = {**leaver("grant-expiry-1", "pending"), "type": "grant-expiry"}

    assert first.schedule_event(row) is True
    assert second.schedule_event(row) is False
    assert [e["id"] for e in first.list_events()] == ["grant-expiry-1"]
    first.close()
    second.close()


def test_the_first_hold_stands_and_only_its_own_run_may_drop_it(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "iam.db"))

    assert store.place_hold("ann", "for cause", "root", "cli", "run-1") is True
    assert store.place_hold("ann", "again", "root", "cli", "run-2") is False
    assert store.remove_hold("ann", "run-2") is None
    store.hold_conflicts_since("ann", NOW)
    store.hold_conflicts_since("ann", datetime(2027, 1, 1, tzinfo=UTC))
    [hold] = store.standing_holds()
    assert (hold["reason"], hold["run_id"], hold["conflict_since"]) == ("for cause", "run-1", NOW)
    assert store.remove_hold("ann")["reason"] == "for cause"
    assert store.standing_holds() == []
    store.close()
