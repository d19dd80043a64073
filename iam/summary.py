"""The one line a batch command ends with.

Such as "300 joiners, 12 movers, 3 leavers: 312 applied, 3 scheduled, 0 failed":
the last line of a cron log or a terminal says how it went without reading
the tables above it.
"""

from __future__ import annotations

from collections import Counter
from functools import singledispatch
from typing import Any

from iam.report import LifecycleReport, SweepResult

#: Event types always counted, in this order (others follow when present).
EVENT_TYPES = ("joiner", "mover", "leaver")
#: Event statuses that mean a run did not finish its work.
FAILED = ("partial", "failed", "cannot plan")


def counted(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


@singledispatch
def line(document: Any) -> str | None:
    """The summary of a batch command's result; None for a document that is not a batch's."""
    return None


@line.register
def _(report: LifecycleReport) -> str:
    types = Counter(e.type for e in report.events)
    kinds = [*EVENT_TYPES, *sorted(set(types) - set(EVENT_TYPES))]
    statuses = Counter(e.status for e in report.events if e.status not in FAILED)
    failed = sum(1 for e in report.events if e.status in FAILED)
    text = ", ".join(counted(types[k], k) for k in kinds)
    done = [f"{n} {status}" for status, n in sorted(statuses.items())]
    text += ": " + ", ".join([*done, f"{failed} failed"])
    if report.rejected:
        text += f"; {counted(len(report.rejected), 'row')} rejected"
    if report.blocked:
        text += "; blocked, nothing was changed"
    return text


@line.register
def _(result: SweepResult) -> str:
    summary = result.summary
    accounts = sum(summary.accounts.values())
    read = f"{counted(accounts, 'account')} of {len(summary.accounts)} system(s)"
    text = f"{counted(summary.total, 'finding')} in {read}"
    if summary.by_type:
        text += " (" + ", ".join(f"{n} {kind}" for kind, n in sorted(summary.by_type.items())) + ")"
    if summary.errors:
        text += f"; {len(summary.errors)} system(s) could not be read: {', '.join(sorted(summary.errors))}"
    return text
