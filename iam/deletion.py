"""Delete after retention: `iam run-due` deletes the accounts whose retention has ended.

Each person's due deletes are one run (kind ``delete``: journaled, verified,
audited, resumable), planned only for a person still terminated and only
after reading that each account holds nothing: an account that can still
get in is a termination left unfinished, and deleting it would destroy the
evidence of that. Too many people at once is a bad export or a bad setting,
not a retention: nothing is deleted past the blast-radius limit.
"""

from __future__ import annotations

from datetime import datetime

from iam import runs
from iam.contract import Deletable, Op, StepSpec, deleted_all_the_same
from iam.engine import read_states
from iam.errors import ConnectorError, UserError
from iam.model import AccountState
from iam.plan import number_steps
from iam.report import DeletionOutcome, DeletionStatus, LifecycleReport
from iam.retention_schedule import DELETE, DueDelete, due
from iam.runtime import Runtime


def run_due_deletes(rt: Runtime, now: datetime, report: LifecycleReport) -> None:
    """Delete every account whose retention has ended (one run per person), into ``report``."""
    pending = {
        u: [d for d in ds if d.system in rt.connectors] for u, ds in due(rt.config, rt.store, now).items()
    }
    pending = {u: ds for u, ds in pending.items() if ds}
    if not pending:
        return
    limit = rt.config.max_terminations
    if len(pending) > limit:
        why = (
            f"{len(pending)} people's accounts came due for deletion at once, more than the limit of {limit} "
            "(safety.max_terminations); nothing was deleted. Check the retention settings, "
            "then raise the limit"
        )
        rt.audit.record("retention.blocked", people=len(pending), limit=limit)
        report.blocked = why
        report.deletions += [
            DeletionOutcome(
                username=u, systems=[d.system for d in ds], status="blocked", run_id=None, error=why
            )
            for u, ds in sorted(pending.items())
        ]
        return
    for username, deletes in sorted(pending.items()):
        outcome = _delete(rt, username, deletes)
        if outcome is not None:
            report.deletions.append(outcome)


def _delete(rt: Runtime, username: str, deletes: list[DueDelete]) -> DeletionOutcome | None:
    """Read, then delete what holds nothing; None when every account is already gone."""
    systems = {d.system: rt.connectors[d.system] for d in deletes}
    states = read_states(systems, username, rt.config.retry, rt.sleep, rt.outages)
    steps: dict[str, list[StepSpec]] = {}
    refused: list[str] = []
    for d in deletes:
        state, connector = states[d.system], systems[d.system]
        if state is None or (isinstance(state, AccountState) and deleted_all_the_same(connector, state)):
            continue  # nothing left to delete there
        if isinstance(state, ConnectorError):
            refused.append(f"{d.system}: cannot read: {state}")
        elif not isinstance(connector, Deletable):
            refused.append(f"{d.system}: this connector cannot delete accounts")
        elif state.remaining_access():
            refused.append(
                f"{d.system}: still grants access ({'; '.join(state.remaining_access())}); not deleted"
            )
        else:
            reason = f"retention: {d.days} days after the termination of {d.terminated_at:%Y-%m-%d}"
            steps[d.system] = [StepSpec(Op.DELETE, description=f"delete the account ({reason})")]
    involved = sorted([*steps, *(r.split(":", 1)[0] for r in refused)])
    if refused:
        rt.audit.record("retention.refused", username=username, why=refused)
    if not steps:
        if not refused:
            return None
        return DeletionOutcome(
            username=username, systems=involved, status="refused", run_id=None, error="; ".join(refused)
        )
    plan = number_steps(DELETE, username, steps)
    plan.seen = {n: s for n, s in states.items() if n in steps and isinstance(s, AccountState)}
    try:
        run = runs.execute_plan(rt, plan, "retention ended: " + ", ".join(sorted(steps)))
    except UserError as exc:
        return DeletionOutcome(
            username=username, systems=involved, status="refused", run_id=None, error=str(exc)
        )
    status: DeletionStatus = "partial" if run.status != "complete" else ("refused" if refused else "deleted")
    return DeletionOutcome(
        username=username,
        systems=involved,
        status=status,
        run_id=run.run_id,
        error="; ".join(refused) or None,
    )
