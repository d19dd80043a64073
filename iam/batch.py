"""Many leavers at once (a layoff): one file, every plan shown together, one confirmation.

The file is one username a line, or CSV with a ``username,reason`` header.
It is read whole and checked before anything is read from a system: a bad
line is an error naming it, and nothing changes. Every person is planned,
the blast-radius limit (``safety.max_terminations``) is applied to those
with an account somewhere, and one confirmation covers them all. Each
person is then terminated as `iam offboard` does (`iam.holds.terminate`:
the run re-reads and re-plans before it acts, and reads back after); one
person not found, or left partial, does not stop the others. The runtime's
connectors are reused from person to person: one connection per system.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from iam import holds, runs
from iam.documents import read_text
from iam.errors import InputError, UserError
from iam.plan import Plan
from iam.report import RunReport
from iam.runtime import Runtime


@dataclass(frozen=True)
class Leaver:
    username: str
    reason: str
    line: int


@dataclass
class BatchResult:
    """What became of each person of the file, in its order."""

    reports: list[RunReport] = field(default_factory=list)
    #: Persons whose run could not start (username -> the error), the others went on.
    failed: dict[str, str] = field(default_factory=dict)
    cancelled: bool = False

    def count(self, status: str) -> int:
        return sum(1 for r in self.reports if r.status == status)


def read_leavers(path: Path, default_reason: str | None) -> list[Leaver]:
    """The file's people, checked whole: an error names the file and line, and nothing was read or changed."""
    text = read_text(path, "the list of leavers")
    lines = text.splitlines()
    first = lines[0].strip().lower() if lines else ""
    if first.startswith("username,") or first == "username":
        rows = list(csv.reader(io.StringIO(text)))
        header = [h.strip().lower() for h in rows[0]]
        if "username" not in header or set(header) - {"username", "reason"}:
            raise InputError(f"{path}:1: the CSV header must be username,reason (found {','.join(header)})")
        pairs = [
            (number, dict(zip(header, (v.strip() for v in row), strict=False)))
            for number, row in enumerate(rows[1:], start=2)
            if any(v.strip() for v in row)
        ]
    else:
        pairs = [(number, {"username": raw.strip()}) for number, raw in enumerate(lines, 1) if raw.strip()]
    leavers: list[Leaver] = []
    seen: dict[str, int] = {}
    for number, row in pairs:
        username = row.get("username", "")
        try:
            runs.check_username(username)
        except InputError as exc:
            raise InputError(f"{path}:{number}: {exc}") from None
        if username.lower() in seen:  # the systems find ALICE as alice: one person, twice
            raise InputError(f"{path}:{number}: {username} is already on line {seen[username.lower()]}")
        seen[username.lower()] = number
        reason = row.get("reason") or default_reason or ""
        if not reason.strip():
            raise InputError(f"{path}:{number}: no reason for {username}: add a reason column or --reason")
        leavers.append(Leaver(username, reason, number))
    if not leavers:
        raise InputError(f"{path}: no username in the file; nothing to do")
    return leavers


def offboard_many(
    rt: Runtime,
    leavers: list[Leaver],
    *,
    by: str,
    source: str,
    confirm: Callable[[list[Plan]], bool] | None = None,
    max_terminations: int | None = None,
    on_person: Callable[[int, int, RunReport | None], None] | None = None,
    dry_run: bool = False,
) -> BatchResult:
    """Plan everyone, apply the blast-radius limit, confirm once, then terminate each in turn.

    ``max_terminations`` overrides ``safety.max_terminations`` for this batch.
    ``on_person(done, total, report)`` is called after each person (progress).
    A ``dry_run`` shows the plans (``confirm`` is only shown them) and journals
    each as a planned run: nothing changes, and nobody is held.
    """
    plans = [runs.plan_offboard(rt, leaver.username) for leaver in leavers]
    with_access = [p for p in plans if p.errors or set(p.no_account) != set(rt.connectors)]
    limit = rt.config.max_terminations if max_terminations is None else max_terminations
    if len(with_access) > limit:
        raise InputError(
            f"this list would terminate {len(with_access)} people, more than the limit of {limit} "
            "(safety.max_terminations); nothing was changed. Check the list, or give --max-terminations N"
        )
    result = BatchResult()
    if dry_run:
        if confirm is not None:
            confirm(plans)  # shows the plans; a dry run changes nothing either way
        for done, (leaver, plan) in enumerate(zip(leavers, plans, strict=True), start=1):
            result.reports.append(runs.offboard(rt, leaver.username, leaver.reason, dry_run=True, plan=plan))
            if on_person is not None:
                on_person(done, len(leavers), result.reports[-1])
        return result
    if confirm is not None and not confirm(plans):
        result.cancelled = True
        return result
    with rt.audit.batch():  # their audit records go to the file together, not one fsync a person
        for done, leaver in enumerate(leavers, start=1):
            report: RunReport | None = None
            try:
                report = holds.terminate(rt, leaver.username, leaver.reason, by=by, source=source)
                result.reports.append(report)
            except UserError as exc:  # this person's run could not start; the others go on
                result.failed[leaver.username] = str(exc)
            if on_person is not None:
                on_person(done, len(leavers), report)
    return result
