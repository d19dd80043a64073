"""Termination holds: a termination made outside HR's feed stands against that feed.

HR's export lags, or is wrong: someone terminated for cause from the CLI, by
an explicit leaver event, or by a review's remediation is often still listed
active the next morning. Read naively, that is a rehire and every access
comes back. So such a termination *holds* the person: while the hold stands,
no sync, event or due run grants them anything, and every sync reports the
conflict (and the sweep lists it as a finding). The hold ends when HR's own
data terminates the person too (HR agrees), or when someone lifts it with
`iam reinstate` (audited; it grants nothing by itself).

HR's own leavers (a row terminated, an end date passed, a row gone) never
hold: HR bringing such a person back is a rehire.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from iam import notify, runs
from iam.engine import StepCallback
from iam.errors import InputError
from iam.hr import gone
from iam.model import Identity
from iam.report import HoldView, RunReport
from iam.runtime import Runtime

#: Report statuses that mean the person was terminated, even if not completely.
_TERMINATED = ("complete", "partial")


@dataclass(frozen=True)
class Hold:
    """Who terminated a person outside HR, when, why, and in which run."""

    username: str
    placed_at: datetime
    reason: str
    placed_by: str
    source: str
    run_id: str | None = None
    #: When a sync first saw HR list the person active anyway.
    conflict_since: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Hold:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})

    def terminated(self) -> str:
        """One line: when, by whom, from where, why and in which run."""
        run = f", run {self.run_id}" if self.run_id else ""
        when = self.placed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return f"terminated {when} by {self.placed_by} ({self.source}{run}): {self.reason}"

    def conflict(self) -> str:
        """What a sync or an event says while HR still lists the person active."""
        return (
            f"{self.username} was {self.terminated()}; HR still lists them active, "
            "so nothing was granted. If HR is right, lift the hold with "
            f"`iam reinstate {self.username} --reason TEXT`; if not, have HR mark them terminated"
        )

    def view(self) -> HoldView:
        """The hold as reports show it."""
        return HoldView(
            username=self.username,
            terminated_at=self.placed_at.isoformat(),
            reason=self.reason,
            by=self.placed_by,
            source=self.source,
            run_id=self.run_id,
            conflict_since=self.conflict_since.isoformat() if self.conflict_since else None,
            terminated=self.terminated(),
            message=self.conflict(),
        )


@dataclass
class Verdict:
    """What HR's feed says about the standing holds."""

    #: HR lists these people active: the hold stands, the conflict is reported.
    conflicts: list[Hold] = field(default_factory=list)
    #: HR terminated these people too: their hold ends.
    agreed: list[Hold] = field(default_factory=list)


def judge(
    feed: Iterable[Identity],
    known: Mapping[str, Identity],
    standing: Mapping[str, Hold],
    now: datetime,
    tz: tzinfo = UTC,
) -> Verdict:
    """Compare the standing holds with HR's full export (pure).

    ``known`` maps hr_id to the identities iam has from HR, without those
    whose row was rejected: a person HR knew whose row is gone has left
    for HR too. A person HR never listed keeps their hold (a new hire of
    the same name must not inherit the account unasked).
    """
    verdict = Verdict()
    listed = {p.username.lower(): p for p in feed}  # a hold on CAL holds HR's cal
    for username, hold in sorted(standing.items()):
        person = listed.get(username.lower())
        if person is not None:
            (verdict.agreed if gone(person, now, tz) else verdict.conflicts).append(hold)
        elif any(k.username.lower() == username.lower() for k in known.values()):
            verdict.agreed.append(hold)
    return verdict


def standing(rt: Runtime) -> dict[str, Hold]:
    return {row["username"]: Hold.from_row(row) for row in rt.store.standing_holds()}


def held(rt: Runtime, username: str) -> Hold | None:
    row = rt.store.get_hold(username)
    return Hold.from_row(row) if row else None


def settle(rt: Runtime, verdict: Verdict, source: str, now: datetime, *, dry_run: bool) -> None:
    """Audit every conflict (on every sync) and end the holds HR now agrees with."""
    for hold in verdict.conflicts:
        rt.audit.record(
            "hold.conflict",
            username=hold.username,
            source=source,
            terminated_at=hold.placed_at.isoformat(),
            terminated_by=hold.placed_by,
            terminated_for=hold.reason,
            run_id=hold.run_id,
            dry_run=dry_run,
        )
        if not dry_run:
            rt.store.hold_conflicts_since(hold.username, now)
            if hold.conflict_since is None:  # told once, when a sync first sees it
                notify.send(
                    rt.config.notifications,
                    rt.audit.record,
                    "hold_conflict",
                    f"iam: HR lists {hold.username} active, but they were terminated",
                    hold.conflict(),
                    facts={"username": hold.username, "run_id": hold.run_id},
                    outbox=rt.store,
                )
    for hold in verdict.agreed:
        if not dry_run and rt.store.remove_hold(hold.username):
            rt.audit.record(
                "hold.ended",
                username=hold.username,
                source=source,
                why="HR terminated them too",
                terminated_by=hold.placed_by,
                terminated_for=hold.reason,
            )


def terminate(
    rt: Runtime,
    username: str,
    reason: str,
    *,
    by: str,
    source: str,
    dry_run: bool = False,
    confirm: runs.Confirm | None = None,
    on_step: StepCallback | None = None,
) -> RunReport:
    """Offboard ``username`` on an order from outside HR's feed, and hold them against it.

    The hold is recorded when the run is journaled, before any system
    changes, so a crash mid-run still leaves it. A run that terminated
    nobody (no account anywhere) leaves no hold.
    """

    username = runs.known_username(rt, username)  # the hold must be on the name HR's feed gives

    def place(run_id: str) -> None:
        if rt.store.place_hold(username, reason, by, source, run_id):
            rt.audit.record(
                "hold.placed", username=username, reason=reason, by=by, source=source, run_id=run_id
            )

    report = runs.offboard(
        rt, username, reason, dry_run=dry_run, confirm=confirm, on_step=on_step, on_start=place
    )
    if report.run_id and not dry_run and report.status not in _TERMINATED:
        rt.store.remove_hold(username, report.run_id)
    return report


def reinstate(rt: Runtime, username: str, reason: str, by: str) -> Hold:
    """Lift the hold on ``username`` (audited); grants nothing: the next sync does, as HR says."""
    username = runs.known_username(rt, username)
    if not reason.strip():
        raise InputError("a reason is required (--reason), it goes to the audit log")
    row = rt.store.remove_hold(username)
    if row is None:
        raise InputError(f"no termination hold on {username!r}: nothing to lift")
    hold = Hold.from_row(row)
    rt.audit.record(
        "hold.lifted",
        username=username,
        reason=reason,
        by=by,
        terminated_at=hold.placed_at.isoformat(),
        terminated_by=hold.placed_by,
        terminated_for=hold.reason,
        run_id=hold.run_id,
    )
    return hold
