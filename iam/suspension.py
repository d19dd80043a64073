"""Suspend and restore: cut a person's access now, reversibly, for an incident.

A suspension is not a termination: the person is still employed, the
incident may clear them. So `suspend` disables every account and ends every
session (a system that cannot disable, a VPN, loses its access outright:
only that blocks new tunnels) but scrambles no password and keeps what each
account holds, and it records, before anything changes, everything the
person held. `restore` puts exactly that back, less whatever the policy no
longer grants, and verifies it by reading back. Both are runs like any
other: journaled, resumable, verified, audited.

While suspended (`iam.suspended`), nobody grants the person anything (no
sync, event or due run); HR terminating them is still a leaver, and ends
the suspension.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from iam import actor, runs
from iam.contract import Connector, parse_entitlement
from iam.engine import StepCallback, read_states
from iam.errors import InputError
from iam.model import DesiredAccount, Entitlement, Identity
from iam.plan import plan_suspension
from iam.policy import Policy
from iam.report import AccountView, RunReport
from iam.runtime import Runtime
from iam.suspended import standing


def _check(rt: Runtime, username: str, reason: str) -> str:
    """The username as HR spells it; refused without a reason."""
    username = runs.known_username(rt, username)
    if not reason.strip():
        raise InputError("a reason is required (--reason), it goes to the audit log")
    return username


def suspend(
    rt: Runtime,
    username: str,
    reason: str,
    *,
    dry_run: bool = False,
    confirm: runs.Confirm | None = None,
    on_step: StepCallback | None = None,
) -> RunReport:
    """Cut every access of ``username`` now, reversibly; returns the verified run report.

    What every system holds is recorded with the suspension when the run is
    journaled, before any system changes, so a crash mid-run still leaves the
    record a restore needs.
    """
    username = _check(rt, username, reason)
    identity = rt.store.get_identity(username)
    status = identity["status"] if identity else None
    if status == "suspended":
        raise InputError(f"{username} is already suspended: `iam resume` finishes a partial suspension")
    if status in ("terminated", "terminating"):
        raise InputError(f"{username} is {status}: there is nothing to suspend")
    states = read_states(rt.connectors, username, rt.config.retry, rt.sleep, rt.outages)
    plan = plan_suspension(username, states, rt.connectors)
    if not plan.errors and set(plan.no_account) == set(rt.connectors):
        close = runs.similar_usernames(rt, username)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise InputError(f"no system holds an account named {username!r}: nothing to suspend{hint}")
    held = {name: AccountView.of(state).to_json() if state else None for name, state in plan.seen.items()}
    by, ticket = actor.current(), actor.ticket()

    def record(run_id: str) -> None:
        rt.store.suspend(
            {
                "username": username,
                "suspended_at": datetime.now(UTC),
                "reason": reason,
                "suspended_by": by,
                "ticket": ticket,
                "run_id": run_id,
                "held": held,
            }
        )
        rt.audit.record(
            "suspension.placed", username=username, reason=reason, by=by, run_id=run_id, held=held
        )

    return runs.execute_plan(rt, plan, reason, on_step, dry_run=dry_run, confirm=confirm, on_start=record)


def restorable(
    held: Mapping[str, AccountView | None],
    systems: Mapping[str, Any],
    policy: Policy | None,
    person: Identity | None,
    today: date,
) -> tuple[dict[str, DesiredAccount], dict[str, list[str]]]:
    """What to put back per system, and what the policy no longer grants (pure).

    Exactly what each account held at suspension; where iam knows the person
    from HR and has a policy, less what that policy no longer names. An
    account that was disabled before the suspension stays disabled.
    """
    wanted = policy.desired(person, today, systems) if policy is not None and person is not None else None
    desired: dict[str, DesiredAccount] = {}
    dropped: dict[str, list[str]] = {}
    for name, view in sorted(held.items()):
        if view is None or name not in systems:
            continue
        ents = frozenset(Entitlement(*e.split(":", 1)) for e in view.entitlements)
        attributes: Mapping[str, Any] = {}
        if wanted is not None:
            want = wanted[name]
            gone = ents - want.entitlements
            if gone:
                dropped[name] = sorted(str(e) for e in gone)
            ents, attributes = ents & want.entitlements, want.attributes
        desired[name] = DesiredAccount(ents, attributes, account=view.enabled)
    return desired, dropped


def _respelt(view: AccountView | None, connector: Connector | None) -> AccountView | None:
    """What was held at suspension, in the spelling a read gives now (the policy's, where the
    suspension's read was made without it): else a group spelt otherwise reads as dropped."""
    if view is None or connector is None:
        return view
    spelt = [str(connector.spelt(parse_entitlement(e))) for e in view.entitlements]
    return view.model_copy(update={"entitlements": spelt})


def restore(
    rt: Runtime,
    username: str,
    reason: str,
    now: datetime,
    *,
    dry_run: bool = False,
    confirm: runs.Confirm | None = None,
    on_step: StepCallback | None = None,
) -> RunReport:
    """Put back what ``username`` held at suspension, less what the policy no longer grants; verify it."""
    username = _check(rt, username, reason)
    suspension = standing(rt, username)
    if suspension is None:
        raise InputError(f"{username} is not suspended: nothing to restore")
    row = rt.store.get_identity(username)
    attrs = (row or {}).get("attributes") or {}
    person = Identity.from_dict({**attrs, "status": "active"}) if attrs.get("hr_id") else None
    today = now.astimezone(rt.config.tz).date()
    policy = rt.policy  # read first: the connectors spell what they hold as the policy does
    held = {name: _respelt(view, rt.connectors.get(name)) for name, view in suspension.held.items()}
    desired, dropped = restorable(held, rt.connectors, policy, person, today)
    report = runs.provision(
        rt, "restore", username, desired, reason, dry_run=dry_run, confirm=confirm, on_step=on_step
    )
    if not dry_run and report.status == "complete":
        rt.store.suspension_restored(username, now)
        rt.audit.record(
            "suspension.lifted",
            username=username,
            reason=reason,
            by=actor.current(),
            run_id=report.run_id,
            suspended_at=suspension.suspended_at.isoformat(),
            suspended_for=suspension.reason,
            not_restored=dropped,
        )
    return report
