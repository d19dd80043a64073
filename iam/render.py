"""The one way a command's result is printed: JSON, or tables on a terminal.

`show` takes any document of `iam.report`: ``json`` prints the document
itself (secrets redacted; the shape its generated schema describes),
``table`` prints what `human` draws for that type of document. Commands
never format their output themselves.

What systems and people wrote (a uid, a group's name, a reason) reaches a
table only through `plain`, `lines` or a `DataTable`'s title and cells: text,
never markup, with every character a terminal would act on rather than show
(ESC, C1 controls, bidi overrides, line separators) written as its escape,
``\\x1b`` or ``\\u202e``. JSON keeps the data exactly.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import singledispatch
from typing import Any

from rich.console import Console, JustifyMethod, RenderableType
from rich.style import StyleType
from rich.table import Table
from rich.text import Text

from iam.plan import Plan
from iam.report import (
    AuditRecords,
    BatchReport,
    Campaign,
    CertificationResult,
    ConnectorChecks,
    EventOutcome,
    KeptNotificationList,
    LifecycleReport,
    PersonPlan,
    Reinstatement,
    Remediation,
    RunList,
    RunReport,
    ScheduledDelete,
    StatusReport,
    StoredEvent,
    StoredEventList,
    SuspensionView,
    SweepDiff,
    SweepResult,
)
from iam.secrets import redact_value

RESULT_STYLE = {
    "complete": "green",
    "no_account": "dim",
    "no_access": "green",
    "partial": "red",
    "error": "red",
    "unverified": "red",
    "access": "yellow",
    "planned": "cyan",
}
EVENT_STYLE = {
    "applied": "green",
    "partial": "red",
    "failed": "red",
    "rejected": "red",
    "blocked": "red",
    "cannot plan": "red",
    "held": "red",
    "not_found": "red",
}


#: Set by ``iam --wide``: print every value whole on a terminal too.
WIDE = False
#: The width of a console that must never cut a value: cron logs, pipes, CI, ``--wide``.
UNCUT = 10_000


def console(err: bool = False) -> Console:
    """A console for standard output (or error). Output that is not a terminal, and ``--wide``,
    is never cut with an ellipsis: run ids, DNs and serials are printed whole there."""
    stream = sys.stderr if err else sys.stdout
    whole = WIDE or not stream.isatty()
    return Console(stderr=err, highlight=False, soft_wrap=True, width=UNCUT if whole else None)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(redact_value(data), indent=2, sort_keys=True, default=str) + "\n")


@dataclass(frozen=True)
class Warning:
    """A line for standard error rather than standard output (the result is that nothing happened)."""

    renderable: RenderableType


def show(document: Any, fmt: str = "table", *, title: str | None = None) -> None:
    """Print a command's result: the document as JSON, or its tables."""
    if fmt == "json":
        emit_json(document.to_json())
        return
    out, err = console(), console(err=True)
    for item in human(document, title):
        if isinstance(item, Warning):
            err.print(item.renderable)
        else:
            out.print(item)
    summary(document)


def summary(document: Any, *, err: bool = False) -> None:
    """The one line a batch command ends with (`iam.summary`), if ``document`` is a batch's."""
    from iam import summary as summaries

    text = summaries.line(document)
    if text is not None:
        console(err=err).print(plain(text))


@singledispatch
def human(document: Any, title: str | None = None) -> Iterator[RenderableType | Warning]:
    """What a terminal shows of a document, one renderable at a time."""
    raise TypeError(f"no table for {type(document).__name__}")


def visible(text: str) -> str:
    """``text`` with what a terminal would act on, or not show, as escapes (``\\x1b``, ``\\u202e``, ``\\n``):
    a name read from a system cannot hide the rest of a row, reorder it, or start a line of its own."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def plain(text: str, style: str = "") -> Text:
    """Text that comes from users or systems: never read as markup, its control characters shown."""
    return Text(visible(text), style=style)


def lines(values: Iterable[str], style: str = "") -> Text:
    """One value a line: a newline inside a value is shown (``\\n``), so it cannot pose as a line."""
    return Text("\n".join(visible(v) for v in values), style=style)


class DataTable(Table):
    """A table whose title and string cells are `plain` text: data is never markup nor a terminal command."""

    def __init__(self, title: str, title_justify: JustifyMethod = "left") -> None:
        super().__init__(title=plain(title), title_justify=title_justify)

    def add_row(
        self, *renderables: RenderableType | None, style: StyleType | None = None, end_section: bool = False
    ) -> None:
        cells = (plain(r) if isinstance(r, str) else r for r in renderables)
        super().add_row(*cells, style=style, end_section=end_section)


# runs -----------------------------------------------------------------------------------------


def plan_table(plan: Plan) -> Table:
    table = DataTable(f"Plan: {plan.kind} {plan.username}")
    table.add_column("#", justify="right")
    table.add_column("system")
    table.add_column("step")
    for step in plan.steps:
        table.add_row(str(step.seq), step.system, plain(step.spec.description or step.spec.op))
    for system, why in sorted(plan.errors.items()):
        table.add_row("-", system, plain(f"cannot plan: {why.removeprefix(f'{system}: ')}", "red"))
    for system in plan.no_account:
        table.add_row("-", system, plain("no account here", "dim"))
    return table


@human.register
def _(report: RunReport, title: str | None = None) -> Iterator[RenderableType | Warning]:
    if report.status == "cancelled":
        yield "Cancelled; nothing was changed."
    elif report.status == "not_found":
        yield Warning(not_found_text(report))
    elif report.status == "planned":
        blind = [s.system for s in report.unplannable]
        if blind:
            yield Text.assemble(
                ("Incomplete plan", "red"),
                plain(f": {', '.join(blind)} could not be read, so its steps are unknown."),
            )
        yield "Dry run: nothing was changed."
    else:
        yield report_table(report)
        if report.evidence:
            ev = report.evidence
            yield plain(f"Evidence: run {ev.run_id} in {ev.store}; audit log {ev.audit_log}")


def report_table(report: RunReport) -> Table:
    table = DataTable(f"{report.kind} {report.username}: {report.status.upper()}")
    for col in ("system", "result", "steps", "left / error"):
        table.add_column(col)
    for s in report.systems:
        changed = sum(1 for st in s.steps if st.outcome in ("created", "updated"))
        failed = sum(1 for st in s.steps if st.status == "failed")
        steps = f"{len(s.steps)} ({changed} changed{f', {failed} failed' if failed else ''})"
        left = s.remaining + ([s.error] if s.error else [])
        table.add_row(s.system, plain(s.result, RESULT_STYLE.get(s.result, "")), steps, lines(left or ["-"]))
    return table


def steps_table(report: RunReport) -> Table:
    """Every step of a run with what it did: the readable journal."""
    table = DataTable(f"Steps of run {report.run_id}")
    for col in ("#", "system", "step", "outcome"):
        table.add_column(col)
    for s in report.systems:
        for st in s.steps:
            outcome = plain(st.outcome) if st.outcome else plain(f"{st.status}: {st.error or ''}", "red")
            table.add_row(str(st.seq), s.system, plain(st.description), outcome)
    return table


def not_found_text(report: RunReport) -> Text:
    """Why nothing was terminated, and the names the user may have meant."""
    systems = ", ".join(s.system for s in report.systems) or "no system is configured"
    text = Text("not found:", style="red")
    said = f" no system holds an account named {report.username!r} (read: {systems}); nothing was terminated."
    text.append(plain(said))
    if report.suggestions:
        text.append("\n")
        text.append(plain(f"Did you mean: {', '.join(report.suggestions)}?"))
    return text


@human.register
def _(data: StatusReport, title: str | None = None) -> Iterator[RenderableType | Warning]:
    yield status_table(data)
    if data.suspension is not None:
        yield suspension_line(data.suspension)
    yield from deletes_lines(data.scheduled_deletes)


def suspension_line(s: SuspensionView) -> Text:
    ticket = f", ticket {s.ticket}" if s.ticket else ""
    return Text.assemble(
        ("suspended", "yellow"),
        plain(f" {s.username} for {s.age_days} day(s), since {s.suspended_at[:16]} by {s.by}{ticket}: "),
        plain(s.reason),
    )


def status_table(data: StatusReport) -> Table:
    table = DataTable(f"Access of {data.username}")
    for col in ("system", "state", "account", "access"):
        table.add_column(col)
    for s in data.systems:
        account = s.account.ref if s.account else "-"
        detail = lines(s.access or [s.error or "-"])
        table.add_row(s.system, plain(s.result, RESULT_STYLE.get(s.result, "")), plain(account), detail)
    return table


@human.register
def _(checks: ConnectorChecks, title: str | None = None) -> Iterator[RenderableType | Warning]:
    table = DataTable("Connected systems")
    for col in ("system", "ok", "detail", "can"):
        table.add_column(col)
    for c in checks.root:
        ok = plain("yes", "green") if c.ok else plain("no", "red")
        table.add_row(c.system, ok, plain(c.detail), ", ".join(c.capabilities))
    yield table


@human.register
def _(runs: RunList, title: str | None = None) -> Iterator[RenderableType | Warning]:
    table = DataTable("Runs")
    for col in ("id", "kind", "user", "status", "started"):
        table.add_column(col)
    for r in runs.root:
        kind = r.kind + (" (dry run)" if r.dry_run else "")
        table.add_row(r.id, kind, r.username, r.status, str(r.created_at)[:19])
    yield table


@human.register
def _(data: PersonPlan, title: str | None = None) -> Iterator[RenderableType | Warning]:
    table = DataTable(f"{data.username} ({data.status}): roles {', '.join(data.roles) or 'none'}")
    for col in ("system", "account", "missing", "extra"):
        table.add_column(col)
    for s in data.systems:
        if s.should_have_account:
            account = plain("should have, has") if s.has_account else plain("should have, missing", "red")
        else:
            account = plain("has, should not", "yellow") if s.has_account else plain("-")
        extra = lines(s.extra or [s.error or "-"])
        table.add_row(s.system, account, lines(s.missing or ["-"]), extra)
    yield table
    yield from deletes_lines(data.scheduled_deletes)


def deletes_lines(deletes: list[ScheduledDelete]) -> Iterator[Text]:
    for d in deletes:
        yield plain(
            f"{d.system}: the account is deleted on {d.due[:16]} (retention {d.delete_after_days} days)"
        )


# HR's events ----------------------------------------------------------------------------------


def moment(at: datetime | str) -> str:
    """A time to the minute in UTC, saying so: an event file's own offset and the store's UTC
    would otherwise show one moment as two times (as `iam notifications list` prints them)."""
    try:
        when = datetime.fromisoformat(at) if isinstance(at, str) else at
    except ValueError:  # not a time at all: shown as it is (escaped by the cell), never a crash
        return str(at)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def events_table(events: list[EventOutcome] | list[StoredEvent], title: str) -> Table:
    table = DataTable(title)
    for col in ("event", "person", "effective", "status", "run / error"):
        table.add_column(col)
    for e in events:
        error = getattr(e, "error", None)
        table.add_row(
            e.type,
            plain(e.username),
            moment(e.effective_at),
            plain(e.status, EVENT_STYLE.get(e.status, "")),
            plain(error or e.run_id or "-"),
        )
    return table


@human.register
def _(report: LifecycleReport, title: str | None = None) -> Iterator[RenderableType | Warning]:
    for system, error in report.unreachable.items():
        yield Text.assemble(("unreachable:", "red"), plain(f" {system}: {error}"))
    yield events_table(report.events, title or "Events")
    for problem in report.rejected:
        yield Text.assemble(("rejected", "red"), plain(f" {problem}"))
    if report.blocked:
        yield Text.assemble(("blocked:", "red"), plain(f" {report.blocked}"))
    for m in report.maintenance:
        yield plain(f"upkeep {m.system}: {m.outcome}: {m.detail}")
    for d in report.deletions:
        style = "green" if d.status == "deleted" else "red"
        why = f": {d.error}" if d.error else ""
        run = f" (run {d.run_id})" if d.run_id else ""
        yield Text.assemble(
            (f"retention {d.status}", style), plain(f" {d.username} in {', '.join(d.systems)}{run}{why}")
        )
    for kept in report.protected:
        who = f"{kept.username} (hr_id {kept.hr_id})"
        yield plain(f"not terminated: {who} is missing from the feed, but {kept.why}", "yellow")
    for hold in report.holds:
        yield plain(f"held: {hold.message}", "red")
    for hold in report.holds_ended:
        yield plain(f"hold ended: {hold.username}, {hold.terminated}: HR terminated them too")
    for orphan in report.orphaned_third_parties:
        who = f"third party {orphan.username} ({orphan.kind}) was sponsored by {orphan.owner}, who leaves"
        if orphan.action == "terminate":
            yield plain(f"{who}: terminated with them (safety.orphaned_third_parties: terminate)")
        else:
            yield plain(
                f"{who}: they keep their access; review it, or set "
                "safety.orphaned_third_parties: terminate to end it with their owner's",
                "yellow",
            )


@human.register
def _(events: StoredEventList, title: str | None = None) -> Iterator[RenderableType | Warning]:
    yield events_table(events.root, title or "Events")


@human.register
def _(kept: KeptNotificationList, title: str | None = None) -> Iterator[RenderableType | Warning]:
    if not kept.root:
        yield "No kept notification: every one was delivered (or none was due)."
        return
    table = DataTable(title or "Kept notifications (tried again by `iam run-due`)", "center")
    for col in ("id", "kind", "to", "subject", "kept since", "failures", "last error"):
        table.add_column(col)
    for n in kept.root:
        table.add_row(
            str(n.id),
            plain(n.kind),
            plain(n.recipient),
            plain(n.subject),
            n.kept_since.strftime("%Y-%m-%d %H:%M UTC"),
            str(n.failures),
            plain(n.last_error),
        )
    yield table


@human.register
def _(done: Reinstatement, title: str | None = None) -> Iterator[RenderableType | Warning]:
    yield plain(
        f"Lifted the termination hold on {done.username} (they were {done.lifted.terminated}). "
        "Nothing was granted: the next `iam hr sync` provisions them as HR lists them."
    )


# reviews --------------------------------------------------------------------------------------


@human.register
def _(result: SweepResult, title: str | None = None) -> Iterator[RenderableType | Warning]:
    summary = result.summary
    table = DataTable(
        f"Access review {result.at[:19]}: {summary.total} finding(s), {summary.identities} identities"
    )
    for col in ("finding", "system", "account", "entitlement", "why", "action"):
        table.add_column(col)
    for f in result.findings:
        table.add_row(
            f.type, f.system or "-", plain(f.account), plain(f.entitlement or "-"), plain(f.why), f.action
        )
    for name, error in summary.errors.items():
        table.add_row(plain("unread", "red"), name, "-", "-", plain(error), "fix and sweep again")
    yield table
    for suspension in result.suspensions:
        yield suspension_line(suspension)


def remediation_table(plans: list[tuple[str, str, Plan | None]]) -> Table:
    table = DataTable("Remediation plan")
    for col in ("person", "action"):
        table.add_column(col)
    for _kind, username, plan in plans:
        action = ["terminate on every system"] if plan is None else [s.line() for s in plan.steps]
        table.add_row(username, lines(action))
    return table


@human.register
def _(done: Remediation, title: str | None = None) -> Iterator[RenderableType | Warning]:
    for refused in done.refused:
        yield Warning(plain(f"refused {refused.username}: {refused.error}"))
    partial = [r for r in done.runs if r.status != "complete"]
    yield Warning(plain(f"remediated: {len(done.runs)} run(s), {len(partial)} partial"))


@human.register
def _(data: SweepDiff, title: str | None = None) -> Iterator[RenderableType | Warning]:
    yield plain(
        f"sweep {data.current} against {data.previous or '(none)'}: "
        f"{len(data.new)} new, {len(data.resolved)} resolved, {data.unchanged} unchanged"
    )
    for label, items in (("new", data.new), ("resolved", data.resolved)):
        for f in items:
            yield plain(f"  {label:<8} {f.type:<20} {f.system or '-':<12} {f.account} {f.entitlement or ''}")


@human.register
def _(campaign: Campaign, title: str | None = None) -> Iterator[RenderableType | Warning]:
    yield plain(
        f"campaign {campaign.id}: {len(campaign.items)} item(s) for {campaign.manager}, due {campaign.due}"
    )
    for path in campaign.files:
        yield plain(f"  {path}")


@human.register
def _(data: CertificationResult, title: str | None = None) -> Iterator[RenderableType | Warning]:
    yield plain(
        f"campaign {data.campaign} ({data.manager}): {data.decided} decided, "
        f"{len(data.revoked)} revocation run(s), {len(data.undecided)} undecided"
        + (" — OVERDUE" if data.overdue else "")
    )
    for line in data.rejected:
        yield Warning(plain(f"rejected {line}"))


# the audit log --------------------------------------------------------------------------------

#: The keys `iam audit show` prints as a record's detail, when it has them.
AUDIT_DETAIL = ("system", "op", "target", "outcome", "status", "error")


@human.register
def _(records: AuditRecords, title: str | None = None) -> Iterator[RenderableType | Warning]:
    """One row per record: who, which run and why come first (a step's record takes its run's reason)."""
    reasons = {r["run_id"]: r["reason"] for r in records.root if r.get("run_id") and r.get("reason")}
    table = DataTable(title or "Audit records")
    for col in ("seq", "at", "event", "person", "run", "reason", "detail"):
        table.add_column(col)
    for r in records.root:
        run_id = r.get("run_id")
        reason = r.get("reason") or reasons.get(run_id, "")
        detail = " ".join(f"{k}={r[k]}" for k in AUDIT_DETAIL if r.get(k) is not None)
        table.add_row(
            str(r["seq"]),
            str(r["at"])[:19],
            plain(str(r["event"])),
            plain(str(r.get("username") or "")),
            plain(str(run_id or "")),
            plain(str(reason)),
            plain(detail),
        )
    yield table


@human.register
def _(batch: BatchReport, title: str | None = None) -> Iterator[RenderableType | Warning]:
    if batch.cancelled:
        yield "Cancelled; nothing was changed."
        return
    table = DataTable(title or "Leavers", "center")
    for col in ("person", "result", "left"):
        table.add_column(col)
    for run in batch.runs:
        left = "; ".join(f"{s.system}: {', '.join(s.remaining)}" for s in run.systems if s.remaining)
        table.add_row(plain(run.username), plain(run.status, RESULT_STYLE.get(run.status, "")), plain(left))
    for failure in batch.failed:
        table.add_row(plain(failure.username), plain("failed", "red"), plain(failure.error))
    yield table
    yield plain(batch.summary())


def batch_plan_table(plans: list[Plan]) -> Table:
    """Every leaver's plan in one table, for the one confirmation of `offboard --from`."""
    table = DataTable("Offboarding plan")
    for col in ("person", "steps"):
        table.add_column(col)
    for plan in plans:
        steps = [s.line() for s in plan.steps]
        steps += [f"{system}: could not be read ({error})" for system, error in sorted(plan.errors.items())]
        if not steps:  # an account read in some system with nothing on it to remove, or none at all
            found = any(state is not None for state in plan.seen.values())
            steps = ["nothing left to remove" if found else "no account in any system"]
        table.add_row(plan.username, lines(steps))
    return table
