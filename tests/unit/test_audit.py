import itertools
from pathlib import Path

from iam.audit import AuditLog
from iam.secrets import Secret
from iam.store import Store


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
