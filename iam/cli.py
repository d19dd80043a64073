"""The `iam` command: parse, call one function of the core, render.

Exit codes: 0 done and verified; 1 unexpected error; 2 usage, configuration
or input error; 3 partial (some system still grants access, or could not be
verified); 4 a person has to decide: findings exist (reviews), or a
termination hold stands against HR, which still lists the person active
(hr sync, event submit, run-due; nothing was granted to them).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import singledispatch
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel

from iam import actor, holds, lifecycle, registry, render, runs, schemas
from iam.actor import acting
from iam.audit import verify_copy
from iam.config import config_path, load_config
from iam.errors import InputError, UserError
from iam.plan import Plan
from iam.report import (
    AuditRecords,
    CertificationResult,
    ConnectorChecks,
    LifecycleReport,
    Reinstatement,
    Remediation,
    RunList,
    RunReport,
    RunSummary,
    StatusReport,
    StoredEvent,
    StoredEventList,
    SweepResult,
)
from iam.runtime import Runtime
from iam.secrets import redact
from iam.signing import load_public_key
from iam.store import StepRow

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL, EXIT_FINDINGS = 0, 1, 2, 3, 4

FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format; json follows schemas/.",
)


def ticketed(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--ticket REF``: the change or incident ticket, recorded in every audit record and run it makes."""

    @click.option(
        "--ticket", metavar="REF", help="Change or incident ticket; recorded with the run and the audit log."
    )
    @functools.wraps(command)
    def run(*args: Any, ticket: str | None = None, **kwargs: Any) -> Any:
        with acting(ticket=ticket):
            return command(*args, **kwargs)

    return run


@dataclasses.dataclass
class Context:
    config: str | None
    store: str | None
    debug: bool

    def runtime(self, *, read_only: bool = False) -> Runtime:
        """Everything a command needs; ``read_only`` commands (reading the store and the log)
        run with no connector secret at hand, as on an auditor's machine."""
        config = load_config(config_path(self.config), secrets_needed=not read_only)
        if self.store:
            config = dataclasses.replace(config, store=self.store)
        return Runtime(config)


class _Commands(click.Group):
    """The core's commands, plus those installed packages add (entry-point group ``iam.commands``,
    such as the lab's `demo`): found by name and loaded when used, never imported by the core."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *(ep.name for ep in entry_points(group=COMMANDS))})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None:
            found = [ep for ep in entry_points(group=COMMANDS) if ep.name == name]
            command = found[0].load() if found else None
        return command


#: Entry-point group of commands added by other packages.
COMMANDS = "iam.commands"


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config", "config", metavar="FILE", help="Configuration file (default: $IAM_CONFIG or ./iam.yaml)."
)
@click.option("--store", metavar="PATH|URL", help="Store location, overriding the configuration.")
@click.option("--debug", is_flag=True, help="Show full detail (tracebacks) on errors.")
@click.pass_context
def cli(ctx: click.Context, config: str | None, store: str | None, debug: bool) -> None:
    """Identity lifecycle and complete access revocation.

    Offboard people from every connected system (directory, SSO, VPN, badges),
    verify nothing is left, and keep evidence an auditor accepts.
    """
    ctx.obj = Context(config, store, debug)


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, StepRow], None] | None]:
    """A live line per applied step, on a terminal only (never in JSON mode).

    It starts at the first step, so it never draws over the confirmation prompt.
    """
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    progress = Progress(console=render.console(err=True), transient=True)
    task: list[Any] = []

    def step(system: str, row: StepRow) -> None:
        if not task:
            progress.start()
            task.append(progress.add_task("applying", total=None))
        progress.update(task[0], advance=1, description=f"{system}: {row.description}")

    try:
        yield step
    finally:
        progress.stop()


def _confirmer(yes: bool, fmt: str) -> Callable[[Plan], bool]:
    def confirm(plan: Plan) -> bool:
        if fmt == "table":
            render.console().print(render.plan_table(plan))
        if yes or not plan.steps:
            return True
        if not sys.stdin.isatty():
            raise InputError("refusing to change systems without confirmation: add --yes (or --dry-run)")
        return click.confirm(f"Apply {len(plan.steps)} step(s)?", default=False, err=True)

    return confirm


def _done(document: Any, fmt: str, *, title: str | None = None) -> None:
    """Print a command's result the one way (`iam.render.show`), then exit with its code."""
    render.show(document, fmt, title=title)
    code = exit_code(document)
    if code != EXIT_OK:
        sys.exit(code)


@singledispatch
def exit_code(document: Any) -> int:
    """The exit code a result calls for (the table in the module docstring)."""
    return EXIT_OK


@exit_code.register
def _(report: RunReport) -> int:
    if report.status == "not_found":
        return EXIT_USAGE
    return EXIT_PARTIAL if report.status == "partial" or report.unplannable else EXIT_OK


@exit_code.register
def _(data: StatusReport) -> int:
    return EXIT_PARTIAL if any(s.result == "error" for s in data.systems) else EXIT_OK


@exit_code.register
def _(report: LifecycleReport) -> int:
    if report.partial:
        return EXIT_PARTIAL
    if report.needs_a_look:
        return EXIT_USAGE
    return EXIT_FINDINGS if report.held else EXIT_OK


@exit_code.register
def _(checks: ConnectorChecks) -> int:
    return EXIT_OK if all(c.ok for c in checks.root) else EXIT_USAGE


@exit_code.register
def _(result: SweepResult) -> int:
    return EXIT_FINDINGS if result.findings or result.summary.errors else EXIT_OK


@exit_code.register
def _(done: Remediation) -> int:
    return EXIT_PARTIAL if done.partial else EXIT_OK


@exit_code.register
def _(data: CertificationResult) -> int:
    if any(r.status != "complete" for r in data.revoked):
        return EXIT_PARTIAL
    if data.rejected:
        return EXIT_USAGE
    return EXIT_FINDINGS if data.overdue else EXIT_OK


@cli.command()
@click.argument("username")
@click.option(
    "--reason", required=True, help="Why (resigned, terminated for cause, ...); goes to the audit log."
)
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Apply without asking.")
@FORMAT
@click.pass_obj
@ticketed
def offboard(obj: Context, username: str, reason: str, dry_run: bool, yes: bool, fmt: str) -> None:
    """Remove every access USERNAME holds, then verify by reading back.

    Exits 0 when every system shows no access left, 3 when some access is
    left or could not be verified (the report lists exactly what). The person
    is then held against HR: no sync gives them access back while HR still
    lists them active, until HR terminates them too or `iam reinstate`.
    """
    with obj.runtime() as rt, _progress(fmt == "table") as on_step:
        report = holds.terminate(
            rt,
            username,
            reason,
            by=actor.current(),
            source="cli",
            dry_run=dry_run,
            confirm=_confirmer(yes or dry_run, fmt),
            on_step=on_step,
        )
    _done(report, fmt)


@cli.command()
@click.argument("run_id", required=False)
@FORMAT
@click.pass_obj
@ticketed
def resume(obj: Context, run_id: str | None, fmt: str) -> None:
    """Finish a run that crashed or ended partial (default: the latest one).

    Steps already done are never run again.
    """
    with obj.runtime() as rt, _progress(fmt == "table") as on_step:
        report = runs.resume(rt, run_id, on_step=on_step)
    _done(report, fmt)


@cli.command()
@click.argument("username")
@FORMAT
@click.pass_obj
def status(obj: Context, username: str, fmt: str) -> None:
    """Show the accounts and entitlements USERNAME holds in every system.

    Exits 3 when a system could not be read: what it grants is then unknown.
    """
    with obj.runtime() as rt:
        data = runs.status(rt, username)
    _done(data, fmt)


@cli.command("runs")
@click.option("--user", "username", help="Only runs for this person.")
@FORMAT
@click.pass_obj
def list_runs(obj: Context, username: str | None, fmt: str) -> None:
    """List recent runs with their status."""
    with obj.runtime(read_only=True) as rt:
        data = RunList([RunSummary(**r) for r in _fields(rt.store.list_runs(username), RunSummary)])
    _done(data, fmt)


def _fields(rows: list[dict[str, Any]], model: type[BaseModel]) -> list[dict[str, Any]]:
    """The columns of store rows that a listing shows."""
    return [{k: row[k] for k in model.model_fields} for row in rows]


def _now(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"--now: not an ISO date-time: {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


NOW = click.option(
    "--now",
    "now_text",
    metavar="ISO-TIME",
    help="Act as if it were this time (to check schedules); default: now.",
)


@cli.group()
def hr() -> None:
    """HR's feed: the source of truth for who works here."""


@hr.command("sync")
@click.argument("feed", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show the derived events and their plans; change nothing.")
@click.option(
    "--max-terminations",
    type=click.IntRange(min=0),
    metavar="N",
    help="Allow up to N terminations in this sync (overrides the blast-radius limit).",
)
@NOW
@FORMAT
@click.pass_obj
@ticketed
def hr_sync(
    obj: Context, feed: Path, dry_run: bool, max_terminations: int | None, now_text: str | None, fmt: str
) -> None:
    """Apply HR's full export (CSV or JSON): joiners, movers, leavers, rehires.

    Bad rows are reported (exit 2) and the rest is still applied; a sync that
    would terminate more people than the configured limit changes nothing.
    A person terminated outside HR whom the feed still lists active is
    reported on every sync and given nothing (exit 4; see `iam reinstate`).
    """
    with obj.runtime() as rt:
        report = lifecycle.hr_sync(
            rt, feed, _now(now_text), dry_run=dry_run, max_terminations=max_terminations
        )
    _done(report, fmt, title=f"HR sync {feed.name}" + (" (dry run)" if dry_run else ""))


@cli.group()
def event() -> None:
    """Explicit joiner / mover / leaver / rehire events."""


@event.command("submit")
@click.argument("events_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check and plan; change nothing.")
@NOW
@FORMAT
@click.pass_obj
@ticketed
def event_submit(obj: Context, events_file: Path, dry_run: bool, now_text: str | None, fmt: str) -> None:
    """Submit EVENTS_FILE (JSON, schemas/events.schema.json)."""
    try:
        data = json.loads(events_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{events_file}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{events_file}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    with obj.runtime() as rt:
        report = lifecycle.submit(rt, data, f"file:{events_file.name}", _now(now_text), dry_run=dry_run)
    _done(report, fmt, title=f"Events {events_file.name}")


@event.command("list")
@click.option(
    "--status",
    type=click.Choice(
        ["pending", "running", "applied", "partial", "failed", "rejected", "held", "cancelled"]
    ),
)
@FORMAT
@click.pass_obj
def event_list(obj: Context, status: str | None, fmt: str) -> None:
    """Stored events, e.g. the future-dated ones still waiting (--status pending)."""
    with obj.runtime() as rt:
        data = StoredEventList([StoredEvent(**r) for r in _fields(rt.store.list_events(status), StoredEvent)])
    _done(data, fmt)


@cli.command("run-due")
@NOW
@FORMAT
@click.pass_obj
def run_due(obj: Context, now_text: str | None, fmt: str) -> None:
    """Apply stored events whose effective time has come (run from cron or a timer)."""
    with obj.runtime() as rt:
        report = lifecycle.run_due(rt, _now(now_text))
    _done(report, fmt, title="Due events")


@cli.command()
@click.argument("username")
@click.option("--reason", required=True, help="Why the hold is lifted (goes to the audit log).")
@FORMAT
@click.pass_obj
@ticketed
def reinstate(obj: Context, username: str, reason: str, fmt: str) -> None:
    """Lift the termination hold on USERNAME, so HR's feed decides again.

    Grants nothing by itself: the next `iam hr sync` provisions the person
    as HR lists them. Exits 2 when no hold stands.
    """
    with obj.runtime() as rt:
        hold = holds.reinstate(rt, username, reason, actor.current())
    _done(Reinstatement(username=username, reason=reason, lifted=hold.view()), fmt)


@cli.command()
@click.argument("username")
@click.option("--reason", required=True, help="Why (the incident); goes to the audit log.")
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Apply without asking.")
@FORMAT
@click.pass_obj
@ticketed
def suspend(obj: Context, username: str, reason: str, dry_run: bool, yes: bool, fmt: str) -> None:
    """Cut every access of USERNAME now, reversibly (an incident); `iam restore` undoes it.

    Disables every account, ends every session, revokes VPN access, suspends
    badges, and records what the person held. Exits 3 when access is left.
    """
    from iam.suspension import suspend as run_suspend

    with obj.runtime() as rt, _progress(fmt == "table") as on_step:
        confirm = _confirmer(yes or dry_run, fmt)
        report = run_suspend(rt, username, reason, dry_run=dry_run, confirm=confirm, on_step=on_step)
    _done(report, fmt)


@cli.command()
@click.argument("username")
@click.option("--reason", required=True, help="Why the suspension ends; goes to the audit log.")
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Apply without asking.")
@NOW
@FORMAT
@click.pass_obj
@ticketed
def restore(
    obj: Context, username: str, reason: str, dry_run: bool, yes: bool, now_text: str | None, fmt: str
) -> None:
    """Give suspended USERNAME back what they held, less what the policy no longer grants; verify it."""
    from iam.suspension import restore as run_restore

    with obj.runtime() as rt, _progress(fmt == "table") as on_step:
        confirm = _confirmer(yes or dry_run, fmt)
        report = run_restore(
            rt, username, reason, _now(now_text), dry_run=dry_run, confirm=confirm, on_step=on_step
        )
    _done(report, fmt)


@cli.command()
@click.argument("username")
@NOW
@FORMAT
@click.pass_obj
def plan(obj: Context, username: str, now_text: str | None, fmt: str) -> None:
    """What USERNAME should have (policy) against what they have, system by system."""
    with obj.runtime() as rt:
        data = lifecycle.plan_person(rt, username, _now(now_text))
    _done(data, fmt)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8480, show_default=True, type=click.IntRange(0, 65535))
@click.pass_obj
def serve(obj: Context, host: str, port: int) -> None:
    """Accept signed HR events over HTTP (POST /events) until stopped (Ctrl-C, SIGTERM)."""
    from iam.server import serve as run_server

    with obj.runtime() as rt:
        run_server(rt, host, port, ready=lambda server: click.echo(f"listening on {server.url}", err=True))
    click.echo("stopped", err=True)


@cli.group()
def review() -> None:
    """Access reviews: sweeps, their differences, certification by managers."""


def _write_or_print(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


@review.command("sweep")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv", "html"]),
    default="table",
    show_default=True,
    help="table on the terminal; json (schemas/review-sweep.schema.json), csv, html.",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the report to this file.")
@click.option("--remediate", is_flag=True, help="Turn findings into a plan and show it (apply with --yes).")
@click.option("--yes", "-y", is_flag=True, help="With --remediate: apply the plan.")
@click.option(
    "--max-terminations",
    type=click.IntRange(min=0),
    metavar="N",
    help="With --remediate: allow up to N terminations.",
)
@NOW
@click.pass_obj
@ticketed
def review_sweep(
    obj: Context,
    fmt: str,
    out: Path | None,
    remediate: bool,
    yes: bool,
    max_terminations: int | None,
    now_text: str | None,
) -> None:
    """Read every system in bulk and report what should not exist.

    Exits 0 when clean and 4 when findings exist, so a scheduler can alert.
    """
    from iam import export, sweep

    with obj.runtime() as rt:
        result = sweep.sweep(rt, _now(now_text))
        if fmt == "csv":
            _write_or_print(export.findings_csv(result.findings), out)
        elif fmt == "html":
            _write_or_print(export.sweep_html(result), out)
        elif out is not None or fmt == "json":
            _write_or_print(json.dumps(result.to_json(), indent=2, sort_keys=True) + "\n", out)
        else:
            render.show(result)
        if remediate:
            plans = sweep.remediation_plans(rt, result.findings)
            render.console(err=True).print(render.remediation_table(plans))
            if yes:
                _done(sweep.remediate(rt, result, max_terminations), "table")
                return
            click.echo("Nothing was changed; add --yes to apply this plan.", err=True)
    code = exit_code(result)
    if code != EXIT_OK:
        sys.exit(code)


@review.command("diff")
@click.argument("sweep_id", required=False)
@FORMAT
@click.pass_obj
def review_diff(obj: Context, sweep_id: str | None, fmt: str) -> None:
    """What changed since the previous sweep: new and resolved findings."""
    from iam import sweep

    with obj.runtime() as rt:
        data = sweep.diff(rt, sweep_id)
    _done(data, fmt)


@review.command("schedule")
@click.option("--cron", "cron", metavar="EXPR", help="Crontab expression, e.g. '0 6 * * *' (daily at 06:00).")
@click.option("--every", "every", type=click.IntRange(min=1), metavar="MINUTES", help="Or: every N minutes.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reviews"),
    show_default=True,
    help="Where each sweep's HTML and JSON reports are written.",
)
@click.option("--run-now", is_flag=True, help="Also sweep once at start.")
@click.option("--max-runs", type=click.IntRange(min=1), help="Stop after this many sweeps.")
@click.pass_obj
def review_schedule(
    obj: Context, cron: str | None, every: int | None, out_dir: Path, run_now: bool, max_runs: int | None
) -> None:
    """Run sweeps on a schedule (for sites without cron or systemd timers)."""
    from iam.schedule import run_schedule

    if bool(cron) == bool(every):
        raise InputError("give exactly one of --cron EXPR or --every MINUTES")
    with obj.runtime() as rt:
        count = run_schedule(
            rt,
            out_dir,
            cron=cron,
            every_minutes=every,
            run_now=run_now,
            max_runs=max_runs,
            log=lambda text: click.echo(text, err=True),
        )
    click.echo(f"stopped after {count} sweep(s)", err=True)


@review.command("certify")
@click.option("--manager", metavar="USERNAME", help="Export a certification of this manager's people.")
@click.option("--due", metavar="YYYY-MM-DD", help="Decision deadline (default: in 14 days).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where the CSV and HTML are written.",
)
@click.option(
    "--import",
    "import_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Import a returned decisions CSV instead.",
)
@NOW
@FORMAT
@click.pass_obj
@ticketed
def review_certify(
    obj: Context,
    manager: str | None,
    due: str | None,
    out_dir: Path,
    import_file: Path | None,
    now_text: str | None,
    fmt: str,
) -> None:
    """Export what a manager's people hold, or import the decisions (revoke / keep).

    Decisions are recorded as made by whoever imports them, who must be the
    campaign's manager or a delegate named in review.delegates.

    Import exits 3 if a revocation ended partial, 2 for invalid lines, 4 while
    items are still undecided after the due date.
    """
    from iam import certify

    if bool(manager) == bool(import_file):
        raise InputError("give either --manager USERNAME (export) or --import FILE (decisions)")
    with obj.runtime() as rt:
        if manager:
            try:
                due_date = datetime.fromisoformat(due).date() if due else None
            except ValueError:
                raise InputError(f"--due: not a date (YYYY-MM-DD): {due!r}") from None
            campaign = certify.export(rt, manager, _now(now_text), due_date, out_dir)
            _done(campaign, fmt)
            return
        assert import_file is not None
        result = certify.import_decisions(rt, import_file, _now(now_text))
    _done(result, fmt)


@cli.group()
def connectors() -> None:
    """Connected systems."""


@connectors.command("check")
@FORMAT
@click.pass_obj
def connectors_check(obj: Context, fmt: str) -> None:
    """Reach and authenticate to every configured system (exit 2 if any fails)."""
    with obj.runtime() as rt:
        checks = runs.connectors_check(rt.connectors)
    _done(checks, fmt)


@connectors.command("list")
def connectors_list() -> None:
    """Connector types installed on this machine and what each can do."""
    for name in registry.available_types():
        try:
            caps = ", ".join(sorted(registry.load_connector_class(name).capabilities()))
        except UserError as exc:
            caps = f"(cannot load: {exc})"
        click.echo(f"{name}: {caps}")


@cli.command("schema")
@click.argument("name", required=False)
@click.option(
    "--write",
    "directory",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Regenerate every document's schema into DIR (the repository keeps them in schemas/).",
)
def schema_command(name: str | None, directory: Path | None) -> None:
    """Print the JSON Schema of document NAME, generated from its model (or write them all)."""
    if directory is not None:
        for path in schemas.write_all(directory):
            click.echo(str(path))
        return
    if name is None:
        raise InputError(f"name a document ({', '.join(sorted(schemas.DOCUMENTS))}) or give --write DIR")
    click.echo(schemas.text(name), nl=False)


@cli.command()
@click.argument("run_id", required=False)
@click.option("--user", "username", metavar="USERNAME", help="That person's latest termination.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "json"]),
    default="html",
    show_default=True,
    help="html: one page to print on A4, offline; json: schemas/evidence-pack.schema.json.",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write it to this file.")
@click.pass_obj
def evidence(obj: Context, run_id: str | None, username: str | None, fmt: str, out: Path | None) -> None:
    """The evidence of one termination, for an auditor: who, why, when, what was held, what is left.

    Reads the store and the audit log only: it needs no connector secret.
    """
    from iam import export

    with obj.runtime(read_only=True) as rt:
        pack = runs.evidence(rt, run_id, username)
    text = export.evidence_html(pack) if fmt == "html" else json.dumps(pack.to_json(), indent=2) + "\n"
    _write_or_print(text, out)


@cli.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command("verify")
@click.option(
    "--public-key",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Also check every signed checkpoint with this Ed25519 public key, and that the log ends sealed.",
)
@click.option(
    "--log",
    "log_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Check this log file alone, with no configuration or store (an auditor's copy; needs --public-key).",
)
@click.pass_obj
def audit_verify(obj: Context, public_key: Path | None, log_file: Path | None) -> None:
    """Check no record was edited, removed, reordered, added or forged (exit 3 naming each one that was).

    With the store: the last record must be the one the store saw appended.
    With --public-key: every checkpoint must carry a valid signature and the
    log must end with one, so a log rewritten by someone without the key is caught.
    """
    key = load_public_key(public_key) if public_key else None
    if log_file is not None:
        if key is None:
            raise InputError(
                "--log checks a copy without its store: give --public-key too, or nothing is anchored"
            )
        result = verify_copy(log_file, key)
        where = str(log_file)
    else:
        with obj.runtime(read_only=True) as rt:
            result = rt.audit.verify(key)
            where = rt.config.audit_log
    sealed = f", {result.checkpoints} signed checkpoint(s), sealed to record {result.sealed}" if key else ""
    if result.ok:
        click.echo(f"audit log {where}: {result.records} records, chain intact{sealed}")
        return
    click.echo(f"audit log {where}: TAMPERED", err=True)
    for problem in result.problems:
        click.echo(f"  {problem}", err=True)
    sys.exit(EXIT_PARTIAL)


@audit.command("public-key")
@click.pass_obj
def audit_public_key(obj: Context) -> None:
    """Print the public key of audit.signing_key (PEM), for auditors to check the log with."""
    with obj.runtime(read_only=True) as rt:
        if rt.audit.signer is None:
            raise InputError("no audit.signing_key is configured (or its secret is not available here)")
        click.echo(rt.audit.signer.public_pem(), nl=False)


@audit.command("show")
@click.option("--user", "username", help="Only records about this person.")
@FORMAT
@click.pass_obj
def audit_show(obj: Context, username: str | None, fmt: str) -> None:
    """Print audit records."""
    with obj.runtime(read_only=True) as rt:
        records = AuditRecords(list(rt.audit.records(username)))
    _done(records, fmt)


def main() -> None:
    debug = "--debug" in sys.argv
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted; nothing was changed.", err=True)
        sys.exit(EXIT_ERROR)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except UserError as exc:
        click.echo(f"error: {redact(str(exc))}", err=True)
        sys.exit(EXIT_USAGE)
    except SystemExit:
        raise
    except Exception as exc:
        if debug:
            traceback.print_exc()
        click.echo(
            f"unexpected error: {redact(f'{type(exc).__name__}: {exc}')} (run with --debug for detail)",
            err=True,
        )
        sys.exit(EXIT_ERROR)
