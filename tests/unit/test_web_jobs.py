"""The console's offboarding jobs are bounded: finished ones go after a while and beyond a count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from iam.web.jobs import JobBook, OffboardJob


def test_finished_jobs_are_dropped_after_a_while_and_beyond_the_maximum_running_ones_never() -> None:
    clock = {"now": datetime(2026, 12, 1, tzinfo=UTC)}
    book = JobBook(lambda: clock["now"], keep_seconds=600, max_finished=3)
    running = OffboardJob("run", "ann", "ops")
    book.add(running)
    old = OffboardJob("old", "bea", "ops")
    book.add(old)
    book.finish(old)
    clock["now"] += timedelta(seconds=601)
    assert book.get("old") is None and book.get("run") is running

    for n in range(5):
        job = OffboardJob(f"j{n}", "cal", "ops")
        book.add(job)
        book.finish(job)
        clock["now"] += timedelta(seconds=1)
    book.add(OffboardJob("new", "dan", "ops"))
    assert [j for j in ("j0", "j1", "j2", "j3", "j4") if book.get(j)] == ["j2", "j3", "j4"]
    assert len(book) == 5  # three finished, and the two still running
    clock["now"] += timedelta(days=30)
    assert book.get("run") is running and book.get("new") is not None and len(book) == 2
