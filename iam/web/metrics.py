"""``GET /metrics``: what a Prometheus server scrapes, read from the store at each scrape.

Counts come from the journal itself rather than from counters kept in this
process, so they are right after a restart and across several workers that
share one store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from iam.store import Store


class StoreCollector(Collector):
    """Runs by status, steps by outcome, due events waiting, and the last sweep's time."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        runs = GaugeMetricFamily("iam_runs", "Runs in the journal, by status.", labels=["status"])
        steps = GaugeMetricFamily(
            "iam_steps",
            "Steps of runs that apply (not dry runs), by outcome (or status while unfinished).",
            labels=["outcome"],
        )
        figures = self.store.figures(self.clock())
        for status, count in figures.runs_by_status.items():
            runs.add_metric([status], count)
        for name, count in figures.steps_by_outcome.items():
            steps.add_metric([name], count)
        yield runs
        yield steps
        yield GaugeMetricFamily(
            "iam_due_events_waiting",
            "HR events whose time has come, not yet applied.",
            value=figures.due_events,
        )
        sweep = GaugeMetricFamily(
            "iam_last_sweep_timestamp_seconds", "When the latest review sweep ran (Unix seconds)."
        )
        if figures.last_sweep is not None:  # no sample rather than a made-up zero when no sweep ever ran
            sweep.add_metric([], figures.last_sweep.timestamp())
        yield sweep


class MetricsEndpoint:
    """Serve the store's figures in Prometheus' text format."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreCollector(store, clock))

    async def endpoint(self, request: Request) -> Response:
        data = await run_in_threadpool(generate_latest, self.registry)
        return Response(data, media_type=CONTENT_TYPE_LATEST)
