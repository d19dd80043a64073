"""Runs: offboard, provision and resume — plan, journal, apply, verify, report.

This is the function layer the CLI calls; a Python caller gets the same
behaviour by calling these directly.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from iam import actor, notify, retention_schedule, suspended
from iam.contract import Connector, Op, Readable, deleted_all_the_same, parse_entitlement
from iam.engine import Applier, StepCallback, SystemApply, read_states
from iam.errors import ConnectorError, InputError
from iam.evidence import RunFacts, build_report, evidence_chapter, evidence_pack
from iam.model import AccountState, DesiredAccount
from iam.plan import Plan, ReadResult, plan_provisioning, plan_suspension, plan_termination
from iam.policy import PolicyViolation, new_conflicts, sod_systems
from iam.report import (
    AccountView,
    ConnectorCheck,
    ConnectorChecks,
    EvidencePack,
    EvidenceRef,
    RunReport,
    StatusReport,
    SystemAccess,
)
from iam.runtime import Runtime
from iam.store import RunOrigin, StepRow

#: Shown the plan before anything changes; False cancels the run (ignored in a dry run).
Confirm = Callable[[Plan], bool]

#: How many plan-apply-verify rounds an offboarding may take to converge.
CONVERGE_ROUNDS = 3

_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")


def check_username(username: str) -> str:
    """Refuse a username no system could hold, before anything is read.

    The whole name must match: a ``$`` would let ``"alice\\n"`` through and
    offboard the real alice under another name.
    """
    if not _USERNAME.fullmatch(username or ""):
        raise InputError(
            f"invalid username {username!r}: use letters, digits and . _ @ - "
            "(starting with a letter or digit, at most 128 characters)"
        )
    return username


def known_username(rt: Runtime, username: str) -> str:
    """``username`` checked, and spelt as HR's record spells it.

    The directory, SSO and SaaS find ``CAL`` as ``cal``; a run, a hold or a
    suspension kept under ``CAL`` would be another person to the next HR sync
    (which would undo a termination for cause). A name HR does not know is kept
    as typed.
    """
    check_username(username)
    known = rt.store.usernames_like(username)
    if username in known or not known:
        return username
    if len(known) > 1:
        raise InputError(f"{username!r} could be any of {', '.join(known)}: give the name exactly")
    return known[0]


def _rows(plan: Plan) -> list[StepRow]:
    return [
        StepRow(
            run_id="",
            seq=s.seq,
            system=s.system,
            op=s.spec.op.value,
            target=s.spec.target,
            description=s.spec.description or s.spec.op.value,
            payload=dict(s.spec.payload),
            status="pending",
        )
        for s in plan.steps
    ]


def _read(rt: Runtime, connectors: Mapping[str, Connector], username: str) -> dict[str, ReadResult]:
    """The person's account in each system, under the command's retry policy and outage memory."""
    return read_states(connectors, username, rt.config.retry, rt.sleep, rt.outages)


def plan_offboard(rt: Runtime, username: str) -> Plan:
    """Read every system and plan the person's complete termination."""
    username = known_username(rt, username)
    states = _read(rt, rt.connectors, username)
    return plan_termination(username, states, rt.connectors)


def offboard(
    rt: Runtime,
    username: str,
    reason: str,
    *,
    dry_run: bool = False,
    confirm: Confirm | None = None,
    on_step: StepCallback | None = None,
    on_start: Callable[[str], None] | None = None,
    plan: Plan | None = None,
) -> RunReport:
    """Terminate every access of ``username``; returns the verified run report.

    ``on_start`` is called with the run id once the run is journaled, before
    any system changes (`iam.holds` records there who ordered it). ``plan`` is
    one `plan_offboard` made moments ago (a list's dry run shows every plan
    first); without it, every system is read now.
    """
    if not reason.strip():
        raise InputError("a reason is required (--reason), it goes to the audit log")
    if plan is None:
        plan = plan_offboard(rt, username)
    elif plan.username != known_username(rt, username) or plan.kind != "offboard":
        raise InputError(f"the plan given is not a termination of {username}")
    if not plan.errors and set(plan.no_account) == set(rt.connectors):
        return _not_found(rt, plan, reason, dry_run)
    return _execute(rt, plan, reason, dry_run=dry_run, confirm=confirm, on_step=on_step, on_start=on_start)


def _not_found(rt: Runtime, plan: Plan, reason: str, dry_run: bool) -> RunReport:
    """Every system was read and none holds the name: no termination happened.

    Most often a typo; the run is kept as evidence of the attempt, the person
    is not marked terminated, and the report names close matches.
    """
    run = rt.store.create_run(plan.kind, plan.username, reason, dry_run, [], {}, facts=_origin(rt, plan))
    run_id = run["id"]
    suggestions = similar_usernames(rt, plan.username)
    rt.audit.record(
        "run.not_found",
        run_id=run_id,
        username=plan.username,
        reason=reason,
        kind=plan.kind,
        systems=sorted(rt.connectors),
        suggestions=suggestions,
    )
    report = build_report(_facts(rt, run), [], {}, no_account=plan.no_account)
    report = report.model_copy(update={"status": "not_found", "dry_run": dry_run, "suggestions": suggestions})
    rt.store.finish_run(run_id, "not_found", report.to_json())
    return report


def similar_usernames(rt: Runtime, username: str, limit: int = 5) -> list[str]:
    """Names close to ``username`` that iam knows (the store) or a system holds.

    Only a hint for a likely typo: a system that cannot be listed is skipped.
    """
    known = {row["username"] for row in rt.store.identities()}
    for connector in rt.connectors.values():
        if isinstance(connector, Readable):
            with contextlib.suppress(Exception):
                known.update(state.username for state in connector.iter_accounts())
    known.discard(username)
    return difflib.get_close_matches(username, sorted(known), n=limit, cutoff=0.6)


def provision(
    rt: Runtime,
    kind: str,
    username: str,
    desired: Mapping[str, DesiredAccount],
    reason: str,
    *,
    dry_run: bool = False,
    confirm: Confirm | None = None,
    on_step: StepCallback | None = None,
) -> RunReport:
    """Make each system hold exactly ``desired`` (joiner, mover, rehire)."""
    check_username(username)
    unknown = set(desired) - set(rt.connectors)
    if unknown:
        raise InputError(f"desired state names unknown systems: {', '.join(sorted(unknown))}")
    connectors = {name: rt.connectors[name] for name in desired}
    states = _read(rt, connectors, username)
    plan = plan_provisioning(kind, username, desired, states, rt.connectors)
    return _execute(
        rt,
        plan,
        reason,
        dry_run=dry_run,
        confirm=confirm,
        on_step=on_step,
        desired=_desired_to_json(desired),
        states=states,
    )


def execute_plan(
    rt: Runtime,
    plan: Plan,
    reason: str,
    on_step: StepCallback | None = None,
    *,
    dry_run: bool = False,
    confirm: Confirm | None = None,
    on_start: Callable[[str], None] | None = None,
) -> RunReport:
    """Journal, apply and verify a plan built elsewhere (a review's remediation, a suspension)."""
    check_username(plan.username)
    return _execute(rt, plan, reason, dry_run=dry_run, confirm=confirm, on_step=on_step, on_start=on_start)


def admit(rt: Runtime, plan: Plan, states: Mapping[str, ReadResult] | None = None) -> None:
    """Refuse a plan that would break a separation-of-duty rule, whatever made it.

    Every plan passes here (sync, event, remediation, certification, resume),
    so no caller can forget the check. ``states`` are the reads the plan was
    made from; without them the systems are read now. A system SoD depends on
    that cannot be read refuses the grant: "could not look" is never "holds nothing".
    """
    if not any(s.spec.op is Op.GRANT for s in plan.steps):
        return  # a termination or a suspension grants nothing: no policy (even a broken one) stops it
    policy = rt.policy
    if policy is None or not policy.sod:
        return
    relevant = {n: c for n, c in rt.connectors.items() if n in sod_systems(policy)}
    if states is None or not set(relevant) <= set(states):
        states = {**_read(rt, relevant, plan.username), **(states or {})}
    blind = {n: str(states[n]) for n in relevant if isinstance(states.get(n), ConnectorError)}
    if blind:
        raise PolicyViolation(
            f"{plan.username}: cannot check separation of duty, nothing was granted: "
            + "; ".join(f"{n} could not be read ({e})" for n, e in sorted(blind.items()))
        )
    held = {n: s.entitlements for n, s in states.items() if isinstance(s, AccountState)}
    changes = [
        (s.system, s.spec.op is Op.GRANT, parse_entitlement(s.spec.target or ""))
        for s in plan.steps
        if s.spec.op in (Op.GRANT, Op.REVOKE)
    ]
    broken = new_conflicts(policy, held, changes)
    if broken:
        names = ", ".join(f"{r.name} ({' + '.join(sorted(r.roles))})" for r in broken)
        rt.audit.record("run.refused", username=plan.username, kind=plan.kind, rules=[r.name for r in broken])
        raise PolicyViolation(
            f"{plan.username}: this {plan.kind} would break separation of duty: {names}; nothing was changed"
        )


def _execute(
    rt: Runtime,
    plan: Plan,
    reason: str,
    *,
    dry_run: bool,
    confirm: Confirm | None,
    on_step: StepCallback | None,
    desired: dict[str, Any] | None = None,
    states: Mapping[str, ReadResult] | None = None,
    on_start: Callable[[str], None] | None = None,
) -> RunReport:
    admit(rt, plan, states)
    rows = _rows(plan)
    common = {"username": plan.username, "reason": reason, "kind": plan.kind}
    if dry_run:
        if confirm is not None:
            confirm(plan)  # shows the plan; a dry run changes nothing either way
        run = rt.store.create_run(
            plan.kind, plan.username, reason, True, rows, plan.errors, desired, _origin(rt, plan)
        )
        rt.audit.record("run.dry_run", run_id=run["id"], steps=len(rows), **common)
        report = build_report(_facts(rt, run), rows, {}, no_account=plan.no_account)
        rt.store.finish_run(run["id"], "planned", report.to_json())
        return report
    if confirm is not None and not confirm(plan):
        rt.audit.record("run.cancelled", steps=len(rows), **common)
        return RunReport(
            run_id=None,
            kind=plan.kind,
            username=plan.username,
            reason=reason,
            status="cancelled",
            dry_run=False,
            systems=[],
            evidence=None,
        )
    run = rt.store.create_run(
        plan.kind,
        plan.username,
        reason,
        False,
        rows,
        plan.errors,
        desired,
        _origin(rt, plan),
        # kept with the run's journal entry; appended with its step records at its end
        started=lambda run_id: rt.audit.pending(
            "run.started", run_id=run_id, steps=len(rows), plan_errors=plan.errors, **common
        ),
    )
    if on_start is not None:
        on_start(run["id"])
    return _apply_and_verify(rt, run, on_step)


def resume(rt: Runtime, run_id: str | None = None, on_step: StepCallback | None = None) -> RunReport:
    """Finish a crashed or partial run: pending steps run, done steps never again.

    Systems that could not be planned (unreachable at the time) are read and
    planned now, so a run started while a system was down completes later.
    """
    run = _find_run(rt, run_id)
    if run["status"] == "complete":
        raise InputError(f"run {run['id']} is already complete; nothing to resume")
    if run["status"] == "not_found":
        raise InputError(f"run {run['id']} found no account in any system; nothing to resume")
    if run["dry_run"]:
        raise InputError(f"run {run['id']} was a dry run; start a new run instead")
    rt.audit.record("run.resumed", run_id=run["id"], username=run["username"], kind=run["kind"])
    if run["plan_errors"]:
        _replan(rt, run)
        run = rt.store.get_run(run["id"]) or run  # its plan errors: what the new plan could not reach
    return _apply_and_verify(rt, run, on_step)


def _find_run(rt: Runtime, run_id: str | None) -> dict[str, Any]:
    if run_id is None:
        run = rt.store.latest_unfinished_run()
        if run is None:
            raise InputError("no unfinished run to resume")
        return run
    matches = rt.store.find_runs(run_id)
    if not matches:
        raise InputError(f"no run with id {run_id!r} (see `iam runs`)")
    if len(matches) > 1:
        raise InputError(f"run id prefix {run_id!r} is ambiguous; give more characters")
    return matches[0]


def _replan(rt: Runtime, run: dict[str, Any]) -> None:
    systems = {name: rt.connectors[name] for name in run["plan_errors"] if name in rt.connectors}
    states = _read(rt, systems, run["username"])
    if run["kind"] == "offboard":
        plan = plan_termination(run["username"], states, systems)
    elif run["kind"] == "suspend":
        plan = plan_suspension(run["username"], states, systems)
        _record_held(rt, run, plan)
    else:
        desired = {k: v for k, v in _desired_from_json(run["desired"] or {}).items() if k in systems}
        plan = plan_provisioning(run["kind"], run["username"], desired, states, systems)
        admit(rt, plan, states)
    _append_steps(rt, run["id"], plan)
    rt.store.set_run_plan_errors(run["id"], plan.errors)


def _record_held(rt: Runtime, run: dict[str, Any], plan: Plan) -> None:
    """A suspension resumed on systems unreachable when it began: what they hold now goes
    into its record before they are cut, so a restore puts it back."""
    held = {name: AccountView.of(state).to_json() if state else None for name, state in plan.seen.items()}
    if held and rt.store.add_suspension_held(run["username"], run["id"], held):
        rt.audit.record(
            "suspension.held_recorded",
            username=run["username"],
            run_id=run["id"],
            systems=sorted(held),
            held=held,
        )


def _append_steps(rt: Runtime, run_id: str, plan: Plan) -> int:
    """Journal a follow-up plan's steps after the run's existing ones."""
    start = max((s.seq for s in rt.store.run_steps(run_id)), default=0)
    rows = _rows(plan)
    for row in rows:
        row.seq += start
    if rows:
        rt.store.add_steps(run_id, rows)
    return len(rows)


def _origin(rt: Runtime, plan: Plan) -> RunOrigin:
    """Who orders the run, on which ticket, HR's facts about the person now, and what each system holds."""
    known = rt.store.get_identity(plan.username)
    return RunOrigin(
        actor=actor.current(),
        ticket=actor.ticket(),
        identity={**(known["attributes"] or {}), "status": known["status"]} if known else None,
        before={
            name: AccountView.of(state).to_json() if state is not None else None
            for name, state in sorted(plan.seen.items())
        },
    )


def _facts(rt: Runtime, run: Mapping[str, Any]) -> RunFacts:
    """What the evidence of a stored run needs to know about it."""
    return RunFacts(
        run_id=run["id"],
        kind=run["kind"],
        username=run["username"],
        reason=run["reason"],
        evidence=EvidenceRef(store=rt.store.location, audit_log=rt.config.audit_log, run_id=run["id"]),
        types={name: rt.system_types.get(name, "custom") for name in rt.connectors},
        plan_errors=run["plan_errors"] or {},
        desired=_desired_from_json(run["desired"]) if run["desired"] else None,
    )


def _touched(rt: Runtime, run: Mapping[str, Any]) -> Mapping[str, Connector]:
    """The systems a run (not an offboard or suspend, which read every system) planned for or has steps on."""
    touched = set(run["desired"] or {}) | {r.system for r in rt.store.run_steps(run["id"])}
    return {k: v for k, v in rt.connectors.items() if k in touched}


def _apply_and_verify(rt: Runtime, run: Mapping[str, Any], on_step: StepCallback | None) -> RunReport:
    """Run what is pending, read every system back, and journal the verdict with the person's status."""
    run_id = run["id"]
    applier = Applier(rt.store, rt.audit, rt.connectors, rt.config.retry, rt.sleep, on_step)
    systems = rt.connectors if run["kind"] in ("offboard", "suspend") else _touched(rt, run)
    for round_ in range(1, CONVERGE_ROUNDS + 1):
        # a later round only runs its own new steps; failed ones wait for `iam resume`
        applied = applier.apply(run_id, run["username"], run["reason"], retry_failed=round_ == 1)
        after = _as_deleted(rt, _read(rt, systems, run["username"]))
        if (
            run["kind"] != "offboard"
            or round_ == CONVERGE_ROUNDS
            or not _replan_leftovers(rt, run, after, applied)
        ):
            break
    # one round ran every step of the run (each row as journaled); after more, read them all again
    rows = sorted((r for a in applied.values() for r in a.steps), key=lambda r: r.seq)
    report = build_report(
        _facts(rt, run),
        rows if round_ == 1 else rt.store.run_steps(run_id),
        after,
        stopped={name: a.stopped_by for name, a in applied.items() if a.stopped_by},
    )
    status = person_status(run["kind"], report.status)
    verified = rt.audit.pending(
        "run.verified",
        run_id=run_id,
        username=run["username"],
        kind=run["kind"],
        status=report.status,
        remaining={s.system: s.remaining for s in report.systems if s.remaining},
    )
    rt.store.finish_run(run_id, report.status, report.to_json(), (run["username"], status), verified)
    rt.audit.settle()
    if report.status == "partial":
        _tell_partial(rt, report)
    return report


def _tell_partial(rt: Runtime, report: RunReport) -> None:
    """IT hears of a run that left access or could not verify it (`notifications.routes.run_partial`)."""
    left = [
        f"{s.system}: {'; '.join(s.remaining) or s.error or s.result}"
        for s in report.systems
        if s.result != "complete" and s.result != "no_account"
    ]
    notify.send(
        rt.config.notifications,
        rt.audit.record,
        "run_partial",
        f"iam: the {report.kind} of {report.username} ended partial",
        f"Run {report.run_id} ({report.reason}) left, per system:\n"
        + "\n".join(left)
        + f"\nFinish it with `iam resume {report.run_id}` once the cause is fixed.",
        facts={"run_id": report.run_id, "username": report.username, "run_kind": report.kind, "left": left},
        outbox=rt.store,
    )


def _as_deleted(rt: Runtime, states: dict[str, ReadResult]) -> dict[str, ReadResult]:
    """An account its system counts as deleted (moved to an archive), granting nothing, reads as gone."""
    out = dict(states)
    for name, state in states.items():
        if isinstance(state, AccountState) and deleted_all_the_same(rt.connectors[name], state):
            out[name] = None
    return out


def person_status(kind: str, verdict: str) -> str:
    """The person's status once a run of ``kind`` ends with ``verdict``.

    A suspension stands even when partial (what is left is reported); a
    restore makes the person active only once every system is verified.
    """
    if kind == "offboard":
        return "terminated" if verdict == "complete" else "terminating"
    if kind == "delete":  # retention: the person stays terminated, whatever the verdict
        return "terminated"
    if kind == "suspend" or (kind == "restore" and verdict != "complete"):
        return "suspended"
    return "active"


def _replan_leftovers(
    rt: Runtime, run: Mapping[str, Any], after: Mapping[str, Any], applied: Mapping[str, SystemApply]
) -> bool:
    """Plan another round for systems whose steps all ran yet still grant access.

    A directory can put access back behind our back (an overlay re-adding a
    renamed member, a lock cleared by a password change); reading back and
    planning again from what is really there converges instead of giving up.
    """
    leftovers = {
        name: state
        for name, state in after.items()
        if isinstance(state, AccountState)
        and state.remaining_access()
        and not (name in applied and applied[name].stopped_by)
    }
    plan = plan_termination(run["username"], leftovers, {n: rt.connectors[n] for n in leftovers})
    if not plan.steps:
        return False
    count = _append_steps(rt, run["id"], plan)
    rt.audit.record(
        "run.replanned",
        run_id=run["id"],
        username=run["username"],
        steps=count,
        remaining={n: s.remaining_access() for n, s in leftovers.items()},
    )
    return True


def status(rt: Runtime, username: str) -> StatusReport:
    """What the person holds in every configured system, read live."""
    username = known_username(rt, username)
    states = _read(rt, rt.connectors, username)
    systems = []
    for name in sorted(states):
        state = states[name]
        kind = rt.system_types.get(name, "custom")
        if isinstance(state, ConnectorError):
            entry = SystemAccess(
                system=name, type=kind, result="error", error=str(state), account=None, access=[]
            )
        elif state is None:
            entry = SystemAccess(
                system=name, type=kind, result="no_account", error=None, account=None, access=[]
            )
        else:
            access = state.remaining_access()
            entry = SystemAccess(
                system=name,
                type=kind,
                result="access" if access else "no_access",
                error=None,
                account=AccountView.of(state),
                access=access,
            )
        systems.append(entry)
    identity = rt.store.get_identity(username)
    standing = suspended.standing(rt, username)
    return StatusReport(
        username=username,
        identity_status=identity["status"] if identity else None,
        systems=systems,
        suspension=standing.view(datetime.now(UTC)) if standing else None,
        scheduled_deletes=[d.view() for d in retention_schedule.scheduled(rt.config, rt.store, username)],
    )


def connectors_check(connectors: Mapping[str, Connector]) -> ConnectorChecks:
    """Reach, authenticate and prove every system readable (and its disable enforced); never raises."""
    out = []
    for name, connector in sorted(connectors.items()):
        capabilities = sorted(str(c) for c in type(connector).capabilities())
        try:
            out.append(
                ConnectorCheck(system=name, ok=True, detail=connector.check(), capabilities=capabilities)
            )
        except Exception as exc:
            err = exc if isinstance(exc, ConnectorError) else ConnectorError(f"{type(exc).__name__}: {exc}")
            out.append(
                ConnectorCheck(
                    system=name,
                    ok=False,
                    detail=str(err),
                    capabilities=capabilities,
                    error_type=type(err).__name__,
                )
            )
    return ConnectorChecks(out)


def _desired_to_json(desired: Mapping[str, DesiredAccount]) -> dict[str, Any]:
    return {
        name: {
            "entitlements": [str(e) for e in sorted(d.entitlements)],
            "attributes": dict(d.attributes),
            "account": d.account,
        }
        for name, d in desired.items()
    }


def _desired_from_json(data: Mapping[str, Any]) -> dict[str, DesiredAccount]:
    return {
        name: DesiredAccount(
            frozenset(parse_entitlement(e) for e in d["entitlements"]),
            d.get("attributes", {}),
            d.get("account", True),  # runs journaled before it was kept wanted an account everywhere
        )
        for name, d in data.items()
    }


#: The runs that tell a person's story to an auditor, besides the termination.
STORY_KINDS = ("offboard", "suspend", "restore", "delete")


def evidence(rt: Runtime, run_id: str | None = None, username: str | None = None) -> EvidencePack:
    """The evidence pack of a run (by id), or of the person's latest termination with the
    person's other lifecycle runs (suspensions, restores, the retention delete) as its story.

    Reads only the store and the audit log: it needs no connector secret.
    """
    if bool(run_id) == bool(username):
        raise InputError("give a run id, or --user USERNAME for that person's latest termination")
    story: list[dict[str, Any]] = []
    if username:
        username = known_username(rt, username)
        lifecycle = [
            r
            for r in rt.store.list_runs(username, limit=1000)
            if r["kind"] in STORY_KINDS and not r["dry_run"]
        ]
        done = [r for r in lifecycle if r["kind"] == "offboard"] or lifecycle
        if not done:
            raise InputError(f"no termination of {username!r} is recorded (see `iam runs --user {username}`)")
        run = done[0]
        story = sorted((r for r in lifecycle if r["id"] != run["id"]), key=lambda r: r["created_at"])
    else:
        run = _find_run(rt, run_id)
    if run["dry_run"]:
        raise InputError(f"run {run['id']} was a dry run: it changed nothing and has no evidence")
    log = rt.config.audit_log
    check = (
        f"iam audit verify --log {log} --public-key PUBLIC-KEY.pem"
        if rt.audit.signer is not None
        else f"iam --config {rt.config.path or 'iam.yaml'} audit verify"
    )
    records = list(rt.audit.records())
    chapters = [evidence_chapter(r, rt.store.run_steps(r["id"]), records, log, check) for r in story]
    return evidence_pack(
        run, rt.store.run_steps(run["id"]), rt.store.events_of_run(run["id"]), records, log, check, chapters
    )
