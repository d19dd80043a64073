"""`iam review schedule`: sweeps on a timetable, for sites without cron or systemd.

Each sweep writes ``review-<time>.html`` and ``.json`` into the output folder
and is stored like any other sweep, so `iam review diff` works across them.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from iam import export, sweep
from iam.errors import InputError
from iam.report import SweepResult
from iam.runtime import Runtime


def sweep_to_files(rt: Runtime, out_dir: Path, now: datetime) -> SweepResult:
    result = sweep.sweep(rt, now)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"review-{now.strftime('%Y%m%dT%H%M%SZ')}"
    stem.with_suffix(".html").write_text(export.sweep_html(result), encoding="utf-8")
    stem.with_suffix(".json").write_text(json.dumps(result.to_json(), indent=2), encoding="utf-8")
    return result


def run_schedule(
    rt: Runtime,
    out_dir: Path,
    *,
    cron: str | None,
    every_minutes: int | None,
    run_now: bool,
    max_runs: int | None,
    log: Callable[[str], None],
) -> int:
    """Block, sweeping on the timetable, until stopped or ``max_runs`` sweeps are done."""
    try:
        trigger = (
            CronTrigger.from_crontab(cron, timezone=rt.config.tz)
            if cron
            else IntervalTrigger(minutes=every_minutes or 1440)
        )
    except ValueError as exc:
        raise InputError(f"--cron: {exc}") from None
    scheduler = BlockingScheduler(timezone=rt.config.tz)
    done = [0]

    def job() -> None:
        result = sweep_to_files(rt, out_dir, datetime.now(UTC))
        done[0] += 1
        log(f"sweep {result.id}: {result.summary.total} finding(s); reports in {out_dir}")
        if max_runs and done[0] >= max_runs and scheduler.running:
            scheduler.shutdown(wait=False)

    if run_now:
        job()
        if max_runs and done[0] >= max_runs:
            return done[0]
    scheduler.add_job(job, trigger, max_instances=1, coalesce=True)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: scheduler.shutdown(wait=False))
    log(f"next sweep: {trigger.get_next_fire_time(None, datetime.now(rt.config.tz))}")
    scheduler.start()
    return done[0]
