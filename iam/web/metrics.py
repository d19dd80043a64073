"""``GET /metrics``: what a Prometheus server scrapes, read from the store at each scrape.

Counts come from the journal itself rather than from counters kept in this
process, so they are right after a restart and across several workers that
share one store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from iam import store as journal
from iam.store import Store


class StoreCollector(Collector):
    """Runs by status, steps by outcome, due events waiting, and the last sweep's time."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        runs = GaugeMetricFamily("iam_runs", "Runs in the journal, by status.", labels=["status"])
        steps = GaugeMetricFamily(
            "iam_steps", "Steps in the journal, by outcome (or status while unfinished).", labels=["outcome"]
        )
        with self.store.engine.connect() as db:
            for status, count in db.execute(
                sa.select(journal.runs.c.status, sa.func.count()).group_by(journal.runs.c.status)
            ):
                runs.add_metric([status], count)
            outcome = sa.func.coalesce(journal.steps.c.outcome, journal.steps.c.status)
            for name, count in db.execute(sa.select(outcome, sa.func.count()).group_by(outcome)):
                steps.add_metric([name], count)
            due = db.execute(
                sa.select(sa.func.count())
                .select_from(journal.events)
                .where(journal.events.c.status == "pending", journal.events.c.effective_at <= self.clock())
            ).scalar_one()
            last = db.execute(sa.select(sa.func.max(journal.sweeps.c.at))).scalar_one()
        yield runs
        yield steps
        yield GaugeMetricFamily(
            "iam_due_events_waiting", "HR events whose time has come, not yet applied.", value=due
        )
        sweep = GaugeMetricFamily(
            "iam_last_sweep_timestamp_seconds", "When the latest review sweep ran (Unix seconds)."
        )
        if last is not None:  # no sample rather than a made-up zero when no sweep ever ran
            sweep.add_metric([], _utc(last).timestamp())
        yield sweep


def _utc(value: datetime | str) -> datetime:
    """SQLite hands back the aggregate as text: the column type does not apply to max()."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class MetricsEndpoint:
    """Serve the store's figures in Prometheus' text format."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreCollector(store, clock))

    async def endpoint(self, request: Request) -> Response:
        data = await run_in_threadpool(generate_latest, self.registry)
        return Response(data, media_type=CONTENT_TYPE_LATEST)
