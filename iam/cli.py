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
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from iam.actor import acting
from iam.argv import lift_global_options
from iam.errors import ConfigError, InputError, UserError
from iam.exits import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, exit_code

if TYPE_CHECKING:  # the rest is imported by the command that needs it: `iam --help` stays light
    from pydantic import BaseModel

    from iam.plan import Plan
    from iam.runtime import Runtime
    from iam.store import StepRow

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
        from iam.config import config_path, load_config
        from iam.runtime import Runtime

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

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:  # the root: its options are accepted after the subcommand too
            if args and args[-1] in GLOBAL_VALUED and "--" not in args:
                raise click.UsageError(f"Option '{args[-1]}' requires an argument.", ctx)
            args = lift_global_options(args, GLOBAL_VALUED, GLOBAL_FLAGS)
        return super().parse_args(ctx, args)


#: The root group's options, which `iam.argv` lifts from anywhere on the command line.
GLOBAL_VALUED, GLOBAL_FLAGS = ("--config", "--store"), ("--debug", "--wide")


#: Entry-point group of commands added by other packages.
COMMANDS = "iam.commands"


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config", "config", metavar="FILE", help="Configuration file (default: $IAM_CONFIG or ./iam.yaml)."
)
@click.option("--store", metavar="PATH|URL", help="Store location, overriding the configuration.")
@click.option("--debug", is_flag=True, help="Show full detail (tracebacks) on errors.")
@click.option("--wide", is_flag=True, help="On a terminal too, print every value whole (never cut with …).")
@click.version_option(None, "-V", "--version", package_name="iam")
@click.pass_context
def cli(ctx: click.Context, config: str | None, store: str | None, debug: bool, wide: bool) -> None:
    """Identity lifecycle and complete access revocation.

    Offboard people from every connected system (directory, SSO, VPN, badges),
    verify nothing is left, and keep evidence an auditor accepts.
    """
    ctx.obj = Context(config, store, debug)
    if wide:  # render (rich) is loaded only when there is something to print
        from iam import render

        render.WIDE = True


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, StepRow], None] | None]:
    """A live line per applied step, on a terminal only (never in JSON mode).

    It starts at the first step, so it never draws over the confirmation prompt.
    """
    from iam import render

    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.markup import escape
    from rich.progress import Progress

    progress = Progress(console=render.console(err=True), transient=True)
    task: list[Any] = []

    def step(system: str, row: StepRow) -> None:
        if not task:
            progress.start()
            task.append(progress.add_task("applying", total=None))
        shown = render.visible(f"{system}: {row.description}")
        progress.update(task[0], advance=1, description=escape(shown))  # a description is markup

    try:
        yield step
    finally:
        progress.stop()


def _confirmer(yes: bool, fmt: str) -> Callable[[Plan], bool]:
    from iam import render

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
    from iam import render

    render.show(document, fmt, title=title)
    code = exit_code(document)
    if code != EXIT_OK:
        sys.exit(code)


@cli.command()
@click.argument("username", required=False)
@click.option(
    "--reason", help="Why (resigned, terminated for cause, ...); goes to the audit log (needed for USERNAME)."
)
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Apply without asking.")
@click.option(
    "--from",
    "from_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Offboard everyone in FILE (a username a line, or CSV with a username,reason header).",
)
@click.option(
    "--max-terminations",
    type=click.IntRange(min=0),
    metavar="N",
    help="With --from: allow up to N terminations (overrides safety.max_terminations).",
)
@FORMAT
@click.pass_obj
@ticketed
def offboard(
    obj: Context,
    username: str | None,
    reason: str | None,
    dry_run: bool,
    yes: bool,
    from_file: Path | None,
    max_terminations: int | None,
    fmt: str,
) -> None:
    """Remove every access USERNAME holds (or everyone's in --from FILE), then verify by reading back.

    Exits 0 when every system shows no access left, 3 when some access is
    left or could not be verified (the report lists exactly what), 2 when no
    system holds the name (not_found: nothing is marked terminated) or the
    input is wrong (nothing is changed), 1 when the confirmation is answered
    no. The person
    is then held against HR: no sync gives them access back while HR still
    lists them active, until HR terminates them too or `iam reinstate`.
    With --from: every plan is shown and confirmed once; a name not found
    does not stop the others; the exit code is the worst of the runs.
    """
    from iam import actor, holds

    if (username is None) == (from_file is None):
        raise InputError("give a USERNAME or --from FILE (one of the two)")
    if from_file is not None:
        _offboard_file(obj, from_file, reason, dry_run, yes, max_terminations, fmt)
        return
    assert username is not None
    with obj.runtime() as rt, _progress(fmt == "table") as on_step:
        report = holds.terminate(
            rt,
            username,
            reason or "",
            by=actor.current(),
            source="cli",
            dry_run=dry_run,
            confirm=_confirmer(yes or dry_run, fmt),
            on_step=on_step,
        )
    _done(report, fmt)


def _offboard_file(
    obj: Context,
    path: Path,
    reason: str | None,
    dry_run: bool,
    yes: bool,
    max_terminations: int | None,
    fmt: str,
) -> None:
    """`offboard --from FILE` (`iam.batch`): the file checked whole, every plan confirmed at once."""
    from iam import actor, batch, render
    from iam.report import BatchFailure, BatchReport

    leavers = batch.read_leavers(path, reason)

    def confirm(plans: list[Plan]) -> bool:
        steps = sum(len(p.steps) for p in plans)
        if fmt == "table":
            render.console().print(render.batch_plan_table(plans))
        if yes or dry_run or not steps:
            return True
        if not sys.stdin.isatty():
            raise InputError("refusing to change systems without confirmation: add --yes (or --dry-run)")
        return click.confirm(f"Apply {steps} step(s) for {len(plans)} people?", default=False, err=True)

    def progress(done: int, total: int, report: Any) -> None:
        if fmt == "table" and sys.stderr.isatty():
            what = "planned" if dry_run else "offboarded"
            click.echo(f"\r{done}/{total} {what}", nl=done == total, err=True)

    with obj.runtime() as rt:
        done = batch.offboard_many(
            rt,
            leavers,
            by=actor.current(),
            source=f"file:{path.name}",
            confirm=confirm,
            max_terminations=max_terminations,
            on_person=progress,
            dry_run=dry_run,
        )
    report = BatchReport(
        source=str(path),
        cancelled=done.cancelled,
        runs=done.reports,
        failed=[BatchFailure(username=u, error=e) for u, e in done.failed.items()],
    )
    _done(report, fmt, title="Leavers (dry run: nothing was changed)" if dry_run else None)


@cli.command()
@click.argument("run_id", required=False)
@FORMAT
@click.pass_obj
@ticketed
def resume(obj: Context, run_id: str | None, fmt: str) -> None:
    """Finish a run that crashed or ended partial (default: the latest one).

    Steps already done are never run again.
    """
    from iam import runs

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
    from iam import runs

    with obj.runtime() as rt:
        data = runs.status(rt, username)
    _done(data, fmt)


#: What a run's status can be in the store (a run still going is ``running``).
RUN_STATUSES = ["running", "complete", "partial", "failed", "planned", "not_found", "cancelled"]


@cli.command("runs")
@click.option("--user", "username", help="Only runs for this person.")
@click.option("--status", type=click.Choice(RUN_STATUSES), help="Only runs with this status.")
@click.option(
    "--since", "since_text", metavar="DATE", help="Only runs begun since (ISO date or date-time, UTC)."
)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most N runs.")
@FORMAT
@click.pass_obj
def list_runs(
    obj: Context, username: str | None, status: str | None, since_text: str | None, limit: int, fmt: str
) -> None:
    """List recent runs with their status, newest first."""
    from iam.report import RunList, RunSummary

    since = _now(since_text, "--since") if since_text else None
    with obj.runtime(read_only=True) as rt:
        rows = rt.store.list_runs(username, limit, since=since, status=status)
        data = RunList([RunSummary(**r) for r in _fields(rows, RunSummary)])
    _done(data, fmt)


def _fields(rows: list[dict[str, Any]], model: type[BaseModel]) -> list[dict[str, Any]]:
    """The columns of store rows that a listing shows."""
    return [{k: row[k] for k in model.model_fields} for row in rows]


def _now(value: str | None, option: str = "--now") -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option}: not an ISO date-time: {value!r}") from None
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
    from iam import lifecycle, progress

    with obj.runtime() as rt, progress.shown(rt, "hr sync", enabled=fmt == "table"):
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
    from iam import lifecycle, progress
    from iam.documents import read_text

    try:
        data = json.loads(read_text(events_file, "the events"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{events_file}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    with obj.runtime() as rt, progress.shown(rt, "events", enabled=fmt == "table"):
        report = lifecycle.submit(rt, data, f"file:{events_file.name}", _now(now_text), dry_run=dry_run)
    _done(report, fmt, title=f"Events {events_file.name}")


@event.command("list")
@click.option(
    "--status",
    type=click.Choice(
        ["pending", "running", "applied", "partial", "failed", "rejected", "held", "cancelled"]
    ),
    help="Only events with this status (pending: waiting for their time).",
)
@FORMAT
@click.pass_obj
def event_list(obj: Context, status: str | None, fmt: str) -> None:
    """Stored events, e.g. the future-dated ones still waiting (--status pending)."""
    from iam.report import StoredEvent, StoredEventList

    with obj.runtime() as rt:
        data = StoredEventList([StoredEvent(**r) for r in _fields(rt.store.list_events(status), StoredEvent)])
    _done(data, fmt)


@cli.group()
def notifications() -> None:
    """Notifications nobody could receive yet: kept, and tried again by every `iam run-due`."""


@notifications.command("list")
@FORMAT
@click.pass_obj
def notifications_list(obj: Context, fmt: str) -> None:
    """The kept notifications, oldest first: to whom, since when, how often and why delivery failed."""
    from iam import notify

    with obj.runtime() as rt:
        data = notify.kept(rt.store)
    _done(data, fmt)


@notifications.command("drop")
@click.argument("notification_id", type=int, metavar="ID")
@click.option("--reason", required=True, help="Why it is no longer to be sent; goes to the audit log.")
@click.pass_obj
@ticketed
def notifications_drop(obj: Context, notification_id: int, reason: str) -> None:
    """Stop trying to deliver kept notification ID (see `iam notifications list`); audited."""
    from iam import notify

    with obj.runtime() as rt:
        gone = notify.drop(rt.store, rt.audit.record, notification_id, reason)
    from iam.render import visible

    said = f"Dropped notification {gone.id} ({gone.kind} to {gone.recipient}); it will not be sent."
    click.echo(visible(said))


@cli.command("run-due")
@NOW
@FORMAT
@click.pass_obj
def run_due(obj: Context, now_text: str | None, fmt: str) -> None:
    """Apply stored events whose effective time has come (run from cron or a timer)."""
    from iam import lifecycle, progress

    with obj.runtime() as rt, progress.shown(rt, "run-due", enabled=fmt == "table"):
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
    from iam import actor, holds
    from iam.report import Reinstatement

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
    from iam import lifecycle

    with obj.runtime() as rt:
        data = lifecycle.plan_person(rt, username, _now(now_text))
    _done(data, fmt)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8480,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free one).",
)
@click.pass_obj
def serve(obj: Context, host: str, port: int) -> None:
    """Serve HR's signed events (POST /events), /healthz and /metrics until stopped (Ctrl-C, SIGTERM)."""
    from iam.web.server import serve as run_server  # the web stack loads only for this command

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
@click.option(
    "--out",
    "outs",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to this file, in the format its extension says (.html, .json, .csv); "
    "repeat it for several files from one sweep.",
)
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
    outs: tuple[Path, ...],
    remediate: bool,
    yes: bool,
    max_terminations: int | None,
    now_text: str | None,
) -> None:
    """Read every system in bulk and report what should not exist.

    Exits 0 when clean, 4 when findings exist (so a scheduler can alert) and 3
    when a system could not be read: what it grants is then unknown.
    """
    from iam import progress, render, sweep, sweep_outputs

    files = [(out, sweep_outputs.format_of(out, fmt)) for out in outs]  # before anything is read
    now = _now(now_text)
    with obj.runtime() as rt:
        with progress.shown(rt, "review sweep", enabled=fmt != "json"):
            result = sweep.sweep(rt, now)
        for out, out_fmt in files:
            _write_or_print(sweep_outputs.text(result, out_fmt), out)
        if files:
            render.summary(result, err=True)
        elif fmt == "table":
            render.show(result)
        else:
            _write_or_print(sweep_outputs.text(result, fmt), None)
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
    from iam import certify, progress

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
        with progress.shown(rt, "review certify", enabled=fmt == "table"):
            result = certify.import_decisions(rt, import_file, _now(now_text))
    _done(result, fmt)


@cli.group()
def connectors() -> None:
    """Connected systems."""


@connectors.command("check")
@FORMAT
@click.pass_obj
def connectors_check(obj: Context, fmt: str) -> None:
    """Reach and authenticate to every configured system, and read the policy (exit 2 if any fails)."""
    from iam import render, runs

    with obj.runtime() as rt:
        checks = runs.connectors_check(rt.connectors)
        try:
            rt.policy  # noqa: B018 - a broken policy is found here, not by the first joiner
        except ConfigError:
            render.show(checks, fmt)  # the systems' lines still print; the policy's error follows
            raise
    _done(checks, fmt)


@connectors.command("list")
def connectors_list() -> None:
    """Connector types installed on this machine and what each can do."""
    from iam import registry

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
    from iam import schemas

    if directory is not None:
        for path in schemas.write_all(directory):
            click.echo(str(path))
        return
    if name is None:
        raise InputError(f"name a document ({', '.join(sorted(schemas.DOCUMENTS))}) or give --write DIR")
    click.echo(schemas.text(name), nl=False)


@cli.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for bash, zsh or fish.

    For example `eval "$(iam completion bash)"` in ~/.bashrc (click's completion).
    """
    from click.shell_completion import get_completion_class

    root = ctx.find_root()
    complete = get_completion_class(shell)
    assert complete is not None  # the choices are the shells click supports
    click.echo(complete(root.command, {}, "iam", "_IAM_COMPLETE").source())  # the installed command


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
    from iam import export, runs

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
    log must end with one, so a log rewritten by someone without the key is caught;
    a log with no checkpoint at all is UNSIGNED (exit 3: nothing could be checked).
    """
    from iam.audit import verify_copy
    from iam.render import visible
    from iam.signing import load_public_key

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
    verdict = "UNSIGNED" if result.unsigned and len(result.problems) == 1 else "TAMPERED"
    click.echo(f"audit log {where}: {verdict}", err=True)
    for problem in result.problems:
        click.echo(f"  {visible(problem)}", err=True)  # a tampered log may hold anything
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
    from iam.report import AuditRecords

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
        from iam.render import visible
        from iam.secrets import redact

        click.echo(f"error: {visible(redact(str(exc)))}", err=True)
        sys.exit(EXIT_USAGE)
    except SystemExit:
        raise
    except Exception as exc:
        if debug:
            traceback.print_exc()
        from iam.render import visible
        from iam.secrets import redact

        said = visible(redact(f"{type(exc).__name__}: {exc}"))
        click.echo(f"unexpected error: {said} (run with --debug for detail)", err=True)
        sys.exit(EXIT_ERROR)
