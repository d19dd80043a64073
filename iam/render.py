"""Human output with rich; JSON output that follows schemas/."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from iam.plan import Plan
from iam.secrets import redact_value

if TYPE_CHECKING:
    from iam.lifecycle import LifecycleReport

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


def console(err: bool = False) -> Console:
    return Console(stderr=err, highlight=False, soft_wrap=True)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(redact_value(data), indent=2, sort_keys=True, default=str) + "\n")


def plan_table(plan: Plan) -> Table:
    table = Table(title=f"Plan: {plan.kind} {plan.username}", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("system")
    table.add_column("step")
    for step in plan.steps:
        table.add_row(str(step.seq), step.system, step.spec.description or step.spec.op)
    for system, why in sorted(plan.errors.items()):
        table.add_row("-", system, f"[red]cannot plan: {why.removeprefix(f'{system}: ')}[/red]")
    for system in plan.no_account:
        table.add_row("-", system, "[dim]no account here[/dim]")
    return table


def report_table(report: dict[str, Any]) -> Table:
    title = f"{report['kind']} {report['username']}: {report['status'].upper()}"
    table = Table(title=title, title_justify="left")
    for col in ("system", "result", "steps", "left / error"):
        table.add_column(col)
    for s in report["systems"]:
        changed = sum(1 for st in s["steps"] if st["outcome"] in ("created", "updated"))
        failed = sum(1 for st in s["steps"] if st["status"] == "failed")
        steps = f"{len(s['steps'])} ({changed} changed{f', {failed} failed' if failed else ''})"
        left = "\n".join(s["remaining"] + ([s["error"]] if s.get("error") else []))
        style = RESULT_STYLE.get(s["result"], "")
        table.add_row(s["system"], f"[{style}]{s['result']}[/{style}]", steps, left or "-")
    return table


def not_found_text(report: dict[str, Any]) -> str:
    """Why nothing was terminated, and the names the user may have meant."""
    systems = ", ".join(s["system"] for s in report["systems"]) or "no system is configured"
    text = (
        f"[red]not found:[/red] no system holds an account named {report['username']!r} "
        f"(read: {systems}); nothing was terminated."
    )
    if report.get("suggestions"):
        text += f"\nDid you mean: {', '.join(report['suggestions'])}?"
    return text


def status_table(data: dict[str, Any]) -> Table:
    table = Table(title=f"Access of {data['username']}", title_justify="left")
    for col in ("system", "state", "account", "access"):
        table.add_column(col)
    for s in data["systems"]:
        style = RESULT_STYLE.get(s["result"], "")
        account = (s["account"] or {}).get("ref", "-") if s["account"] else "-"
        detail = "\n".join(s["access"]) if s["access"] else (s["error"] or "-")
        table.add_row(s["system"], f"[{style}]{s['result']}[/{style}]", account, detail)
    return table


def checks_table(checks: list[dict[str, Any]]) -> Table:
    table = Table(title="Connected systems", title_justify="left")
    for col in ("system", "ok", "detail", "can"):
        table.add_column(col)
    for c in checks:
        ok = "[green]yes[/green]" if c["ok"] else "[red]no[/red]"
        table.add_row(c["system"], ok, c["detail"], ", ".join(c["capabilities"]))
    return table


def steps_table(report: dict[str, Any]) -> Table:
    """Every step of a run with what it did: the readable journal."""
    table = Table(title=f"Steps of run {report['run_id']}", title_justify="left")
    for col in ("#", "system", "step", "outcome"):
        table.add_column(col)
    for s in report["systems"]:
        for st in s["steps"]:
            outcome = st["outcome"] or f"[red]{st['status']}: {st['error'] or ''}[/red]"
            table.add_row(str(st["seq"]), s["system"], st["description"], outcome)
    return table


def events_table(report: dict[str, Any], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("event", "person", "effective", "status", "run / error"):
        table.add_column(col)
    for e in report["events"]:
        style = {
            "applied": "green",
            "partial": "red",
            "failed": "red",
            "rejected": "red",
            "blocked": "red",
            "cannot plan": "red",
            "held": "red",
        }.get(e["status"], "")
        status = f"[{style}]{e['status']}[/{style}]" if style else e["status"]
        table.add_row(
            e["type"],
            e["username"],
            str(e["effective_at"])[:16],
            status,
            e.get("error") or (e.get("run_id") or "-"),
        )
    return table


def lifecycle_notes(report: LifecycleReport) -> list[tuple[str, str]]:
    """(line, style) for what a sync says besides its events: holds and orphaned third parties.

    Printed without markup: reasons and names come from users.
    """
    lines = [(f"held: {hold.conflict()}", "red") for hold in report.holds]
    lines += [
        (f"hold ended: {hold.username}, {hold.terminated()}: HR terminated them too", "")
        for hold in report.holds_ended
    ]
    for orphan in report.orphaned_third_parties:
        who = f"third party {orphan.username} ({orphan.kind}) was sponsored by {orphan.owner}, who leaves"
        if orphan.action == "terminate":
            lines.append((f"{who}: terminated with them (safety.orphaned_third_parties: terminate)", ""))
        else:
            lines.append(
                (
                    f"{who}: they keep their access; review it, or set "
                    "safety.orphaned_third_parties: terminate to end it with their owner's",
                    "yellow",
                )
            )
    return lines


def person_plan_table(data: dict[str, Any]) -> Table:
    title = f"{data['username']} ({data['status']}): roles {', '.join(data['roles']) or 'none'}"
    table = Table(title=title, title_justify="left")
    for col in ("system", "account", "missing", "extra"):
        table.add_column(col)
    for s in data["systems"]:
        account = (
            ("should have, has" if s["has_account"] else "[red]should have, missing[/red]")
            if s["should_have_account"]
            else ("[yellow]has, should not[/yellow]" if s["has_account"] else "-")
        )
        table.add_row(
            s["system"], account, "\n".join(s["missing"]) or "-", "\n".join(s["extra"]) or (s["error"] or "-")
        )
    return table


def findings_table(result: dict[str, Any]) -> Table:
    summary = result["summary"]
    title = (
        f"Access review {result['at'][:19]}: {summary['total']} finding(s), "
        f"{summary['identities']} identities"
    )
    table = Table(title=title, title_justify="left")
    for col in ("finding", "system", "account", "entitlement", "why", "action"):
        table.add_column(col)
    for f in result["findings"]:
        table.add_row(
            f["type"], f["system"] or "-", f["account"], f["entitlement"] or "-", f["why"], f["action"]
        )
    for name, error in summary["errors"].items():
        table.add_row("[red]unread[/red]", name, "-", "-", error, "fix and sweep again")
    return table


def remediation_table(plans: list[tuple[str, str, Any]]) -> Table:
    table = Table(title="Remediation plan", title_justify="left")
    for col in ("person", "action"):
        table.add_column(col)
    for kind, username, plan in plans:
        if kind == "offboard":
            table.add_row(username, "terminate on every system")
        else:
            table.add_row(username, "\n".join(step.line() for step in plan.steps))
    return table
