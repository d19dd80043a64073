"""The offboardings a console server is running or has just run, bounded.

A job is only the link between the operator's redirect and a run in the
journal; once the run has an id its page reads the journal (`Operations`),
so nothing here needs to live long. Finished jobs are dropped after
``keep_seconds`` and beyond ``max_finished``, so a server that runs for
months does not keep every offboarding it ever started. Running jobs are
never dropped: their threads still write to them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from iam.report import RunReport

#: Finished jobs are forgotten after an hour, and beyond the newest hundred.
KEEP_SECONDS = 3600
MAX_FINISHED = 100


@dataclass
class OffboardJob:
    """One offboarding started from the console, followed by its progress page."""

    id: str
    username: str
    by: str
    run_id: str | None = None
    report: RunReport | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    finished_at: datetime | None = None


class JobBook:
    """The jobs by id, pruned as new ones come; safe to use from the server's threads."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        keep_seconds: int = KEEP_SECONDS,
        max_finished: int = MAX_FINISHED,
    ) -> None:
        self.clock = clock
        self.keep_seconds = keep_seconds
        self.max_finished = max_finished
        self._jobs: dict[str, OffboardJob] = {}
        self._lock = threading.Lock()

    def add(self, job: OffboardJob) -> None:
        with self._lock:
            self._prune()
            self._jobs[job.id] = job

    def get(self, job_id: str) -> OffboardJob | None:
        with self._lock:
            self._prune()
            return self._jobs.get(job_id)

    def running_run(self, run_id: str) -> OffboardJob | None:
        """The job of this server that is running ``run_id``, if any."""
        with self._lock:
            return next((j for j in self._jobs.values() if j.run_id == run_id), None)

    def finish(self, job: OffboardJob) -> None:
        """Mark ``job`` finished now (its thread calls this last)."""
        job.finished_at = self.clock()
        job.done.set()

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)

    def _prune(self) -> None:
        now = self.clock()
        finished = sorted(
            (j for j in self._jobs.values() if j.done.is_set() and j.finished_at is not None),
            key=lambda j: j.finished_at or now,
        )
        stale = [j for j in finished if (now - (j.finished_at or now)).total_seconds() > self.keep_seconds]
        fresh = [j for j in finished if j not in stale]
        stale += fresh[: max(0, len(fresh) - self.max_finished)]
        for job in stale:
            del self._jobs[job.id]
