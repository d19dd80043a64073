import itertools
import json
import threading
from pathlib import Path

import pytest

from iam import audit
from iam.audit import AuditLog
from iam.secrets import Secret
from iam.store import Store
from lab.waiting import wait_for


def test_chain_verifies_and_every_record_links_to_the_one_before(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl", Store(str(tmp_path / "s.db")))
    for i in range(5):
        log.record("step.done", username="ann", seq_no=i)
    records = list(log.records())
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(records))
    assert log.verify().ok


def test_a_changed_byte_breaks_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    log = AuditLog(path, Store(str(tmp_path / "s.db")))
    log.record("access.changed", username="ann", outcome="updated")
    log.record("access.changed", username="bob", outcome="updated")
    path.write_text(path.read_text().replace('"bob"', '"bib"'))
    problems = log.verify().problems
    assert any("line 2" in p and "edited" in p for p in problems)


def test_two_writers_share_one_chain(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s.db"))
    first, second = AuditLog(tmp_path / "a.jsonl", store), AuditLog(tmp_path / "a.jsonl", store)
    first.record("one")
    second.record("two")
    first.record("three")
    assert [r["event"] for r in first.records()] == ["one", "two", "three"]
    assert first.verify().ok


def test_secrets_are_redacted_from_every_field(tmp_path: Path) -> None:
    secret = Secret("hunter2-very-secret", "test")
    log = AuditLog(tmp_path / "a.jsonl")
    log.record(
        "step.failed",
        error="bind with hunter2-very-secret refused",
        nested={"x": ["hunter2-very-secret"]},
        value=secret,
    )
    text = (tmp_path / "a.jsonl").read_text()
    assert "hunter2" not in text
    assert text.count("***") == 3
    assert str(secret) == "***" and "hunter2" not in repr(secret)


@pytest.fixture(autouse=True)
def _no_timer_append(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch's timer appends only when a test asks (a slow machine must not append mid-test)."""
    monkeypatch.setattr(audit, "BATCH_SECONDS", 3600.0)


def _log(tmp_path: Path) -> tuple[Path, AuditLog]:
    return tmp_path / "a.jsonl", AuditLog(tmp_path / "a.jsonl", Store(str(tmp_path / "s.db")))


def _in_file(path: Path) -> list[str]:
    return [json.loads(line)["event"] for line in path.read_text().splitlines()] if path.exists() else []


def test_a_batch_appends_its_records_together_and_all_of_them_on_leaving(tmp_path: Path) -> None:
    path, store = tmp_path / "a.jsonl", Store(str(tmp_path / "s.db"))
    log = AuditLog(path, store)
    with log.batch():
        log.keep("run.started", run_id="r1")
        log.settle()  # a run's end
        log.record("hold.placed", username="ann")
        assert _in_file(path) == []  # kept in the store, not yet in the file
        assert len(store.outbox_pending(log.key)) == 2
    assert _in_file(path) == ["run.started", "hold.placed"]
    assert store.outbox_pending(log.key) == [] and log.verify().ok
    log.record("after")  # outside a batch: in the file at once
    assert _in_file(path)[-1] == "after"


def test_a_batch_left_by_an_error_still_appends_what_it_kept(tmp_path: Path) -> None:
    path, log = _log(tmp_path)
    with pytest.raises(RuntimeError), log.batch():
        log.record("access.changed", username="ann")
        raise RuntimeError("the run broke")
    assert _in_file(path) == ["access.changed"]


def test_a_crash_inside_a_batch_loses_nothing(tmp_path: Path) -> None:
    path, db = tmp_path / "a.jsonl", str(tmp_path / "s.db")
    log = AuditLog(path, Store(db))
    batch = log.batch()
    batch.__enter__()  # never left: the process dies inside
    log.record("access.changed", username="ann")
    assert _in_file(path) == []
    later = AuditLog(path, Store(db))  # the next command
    assert [r["event"] for r in later.records()] == ["access.changed"]
    assert later.verify().ok


def test_a_long_batch_appends_once_enough_records_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "BATCH_RECORDS", 3)
    path, log = _log(tmp_path)
    with log.batch():
        for i in range(2):
            log.record("step.done", step=i)
        assert _in_file(path) == []
        log.record("step.done", step=2)
        assert len(_in_file(path)) == 3  # the third waiting record triggered the append
        log.record("step.done", step=3)
        assert len(_in_file(path)) == 3


def test_a_batch_appends_within_its_time_bound_even_while_a_run_is_stuck(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "BATCH_SECONDS", 0.05)
    path, log = _log(tmp_path)
    with log.batch():
        log.record("event.due", username="ann")  # then the run waits on a system that does not answer
        assert wait_for(lambda: _in_file(path), 10, "the timer's append") == ["event.due"]
    assert log.verify().ok


def test_batches_in_two_threads_each_append_what_they_kept_when_they_end(tmp_path: Path) -> None:
    path, log = _log(tmp_path)
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen_by_second: list[list[str]] = []

    def second() -> None:  # an HR event arriving while a feed's batch runs (`iam serve`)
        first_in.wait()
        with log.batch():
            log.record("event.applied", username="bob")
            second_in.set()
            first_out.wait()
        seen_by_second.append(_in_file(path))

    thread = threading.Thread(target=second)
    thread.start()
    with log.batch():
        log.record("event.applied", username="ann")
        first_in.set()
        second_in.wait()
    first_out.set()
    thread.join()
    assert seen_by_second == [["event.applied", "event.applied"]]  # its own end appended all
    log.record("after")  # both batches over: appended at once again
    assert _in_file(path)[-1] == "after"
