"""Interleaved rounds and their summary, shared by the benchmarks.

The machine is shared and noisy: each workload runs once per round, the
order rotating from round to round, so a slow spell hits them all alike;
the minimum says what the work can cost, the median what it usually does.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping


def interleaved(workloads: Mapping[str, Callable[[int], float]], repeat: int) -> dict[str, list[float]]:
    """Run each workload ``repeat`` times, rotating their order; each returns its own seconds."""
    names = list(workloads)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeat):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(workloads[name](round_))
    return times


def summary(label: str, samples: list[float], per: int | None = None, unit: str = "") -> str:
    """One row: min and median seconds (and per-second rate of ``per`` items at the median)."""
    row = f"{label:<44} min {min(samples):8.2f}s  median {statistics.median(samples):8.2f}s"
    if per:
        row += f"  {per / statistics.median(samples):8.1f} {unit}/s"
    return row


def ratio(label: str, numerator: list[float], denominator: list[float]) -> str:
    """The ratio of two workloads, of minima and of medians."""
    return (
        f"{label:<44} min {min(numerator) / min(denominator):6.2f}x  "
        f"median {statistics.median(numerator) / statistics.median(denominator):6.2f}x"
    )
