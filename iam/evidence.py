"""A run's evidence: its journal and the read-back of every system, judged and documented.

Pure: the journaled steps, what each system showed when read back, and what
the run aimed at go in; a `RunReport` comes out, saying per system what is
left and whether the run is complete. `evidence_pack` adds who ordered it,
what was held before and the audit records that seal it, for an auditor.
Running the steps is `iam.runs`'s job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iam.chain import CHECKPOINT
from iam.contract import Op, parse_entitlement
from iam.errors import ConnectorError
from iam.model import AccountState, DesiredAccount
from iam.plan import ReadResult
from iam.report import (
    AccountView,
    AuditSeal,
    EvidenceChapter,
    EvidencePack,
    EvidenceRef,
    EvidenceStep,
    EvidenceSystem,
    RunReport,
    RunStatus,
    StepView,
    SystemOutcome,
    SystemResult,
)
from iam.store import StepRow


@dataclass(frozen=True)
class RunFacts:
    """What a run is: its identity, what it aimed at, and where its records are."""

    run_id: str
    kind: str
    username: str
    reason: str
    evidence: EvidenceRef
    #: The configured systems, by name, with their types.
    types: Mapping[str, str]
    #: Why a system could not be planned.
    plan_errors: Mapping[str, str]
    #: What a joiner, mover or rehire aimed at; None for an offboarding or a plan built elsewhere.
    desired: Mapping[str, DesiredAccount] | None = None


def build_report(
    run: RunFacts,
    rows: list[StepRow],
    after: Mapping[str, ReadResult],
    *,
    no_account: Iterable[str] = (),
    stopped: Mapping[str, str] | None = None,
) -> RunReport:
    """Per system, the steps and what is left; complete only when every system was read back clean.

    An empty ``after`` means nothing was read back: a dry run, ``planned``.
    ``stopped`` names why a system's steps stopped (it outranks a plan error).
    """
    verified = bool(after)
    absent = set(no_account)
    names = (
        set(run.types)
        if run.kind in ("offboard", "suspend")
        else set(run.desired or {}) | {r.system for r in rows} | set(run.plan_errors)
    )
    systems = []
    for name in sorted(names):
        mine = [r for r in rows if r.system == name]
        error = (stopped or {}).get(name) or run.plan_errors.get(name)
        state = after.get(name)
        remaining: list[str] = []
        result: SystemOutcome
        if not verified:
            result = "error" if error else ("no_account" if name in absent else "planned")
        elif isinstance(state, ConnectorError):
            result, error = "unverified", str(state)
            remaining = ["could not read back: access unknown"]
        elif run.kind == "offboard":
            remaining = state.remaining_access() if state else []
            result = "no_account" if state is None and not mine else ("partial" if remaining else "complete")
        elif run.kind == "delete":
            remaining = ["the account still exists"] if state is not None else []
            remaining += [f"step {r.seq} failed: {r.error}" for r in mine if r.status == "failed"]
            result = "partial" if remaining else "complete"
        elif run.kind == "suspend":
            remaining = suspension_gaps(state)
            result = "no_account" if state is None and not mine else ("partial" if remaining else "complete")
        else:
            want = (run.desired or {}).get(name)
            remaining = provisioning_gaps(state, want) if want is not None else step_gaps(state, mine)
            result = "partial" if remaining else "complete"
        systems.append(
            SystemResult(
                system=name,
                type=run.types.get(name, "custom"),
                result=result,
                error=error,
                remaining=remaining,
                steps=[_step(r) for r in mine],
                account=AccountView.of(state) if isinstance(state, AccountState) else None,
            )
        )
    status: RunStatus
    if not verified:
        status = "planned"
    elif all(s.result in ("complete", "no_account") for s in systems):
        status = "complete"
    else:
        status = "partial"
    return RunReport(
        run_id=run.run_id,
        kind=run.kind,
        username=run.username,
        reason=run.reason,
        status=status,
        dry_run=not verified,
        systems=systems,
        evidence=run.evidence,
    )


def _step(row: StepRow) -> StepView:
    return StepView(
        seq=row.seq,
        op=row.op,
        target=row.target,
        description=row.description,
        status=row.status,  # type: ignore[arg-type]
        outcome=row.outcome,  # type: ignore[arg-type]
        error=row.error,
    )


def step_gaps(state: AccountState | None, rows: list[StepRow]) -> list[str]:
    """For a plan with no desired state (a remediation, a certification): every step that
    failed, and each step's intent the read-back shows not holding."""
    gaps = [f"step {r.seq} failed: {r.error}" for r in rows if r.status == "failed"]
    held = frozenset() if state is None else state.entitlements
    for r in rows:
        if r.op == Op.GRANT and parse_entitlement(r.target or "") not in held:
            gaps.append(f"missing {r.target}")
        elif r.op == Op.REVOKE and parse_entitlement(r.target or "") in held:
            gaps.append(f"still holds {r.target}")
        elif r.op == Op.DISABLE and state is not None and state.enabled:
            gaps.append("account is enabled")
    return gaps


def suspension_gaps(state: AccountState | None) -> list[str]:
    """Every way a suspended account can still get in: all it holds while it is enabled;
    once disabled, only a live session (what it holds stays, unusable, for the restore)."""
    if state is None:
        return []
    if state.enabled:
        return state.remaining_access()
    return [f"live session {s.id}" for s in state.sessions]


def provisioning_gaps(state: AccountState | None, want: DesiredAccount) -> list[str]:
    """How the account differs from what a joiner, mover or rehire aimed at."""
    if state is None:
        return ["account does not exist"] if want.account else []
    gaps = [] if state.enabled or not want.account else ["account is disabled"]
    gaps += [f"missing {e}" for e in sorted(want.entitlements - state.entitlements)]
    gaps += [f"extra {e}" for e in sorted(state.entitlements - want.entitlements)]
    return gaps


#: Stated in every evidence pack: what a complete termination does not claim.
LIMITS = [
    "An access token an SSO system issued before the termination stays valid until it expires "
    "(Keycloak's realm default: 5 minutes); disabling the account and ending its sessions stops every "
    "refresh and every new login.",
    "Sessions an application keeps without asking the identity provider again, accounts in systems iam "
    "is not connected to, and credentials outside them (SSH keys, cached logons, shared passwords) are "
    "not covered by this run.",
]


def _systems(run: Mapping[str, Any], rows: list[StepRow]) -> tuple[RunReport | None, list[EvidenceSystem]]:
    report = RunReport.model_validate(run["report"]) if run["report"] else None
    before = run["before"] or {}
    systems = []
    for result in report.systems if report else []:
        held = before.get(result.system)
        systems.append(
            EvidenceSystem(
                system=result.system,
                type=result.type,
                result=result.result,
                error=result.error,
                held_before=AccountView.model_validate(held) if held else None,
                steps=[_evidence_step(r) for r in rows if r.system == result.system],
                read_back=result.account,
                remaining=result.remaining,
            )
        )
    return report, systems


def evidence_chapter(
    run: Mapping[str, Any],
    rows: list[StepRow],
    records: Iterable[Mapping[str, Any]],
    log: str,
    verify_with: str,
) -> EvidenceChapter:
    """Another run of the person, told with the same checks as the termination's."""
    _, told = _told(run, rows, records, log, verify_with)
    return EvidenceChapter(**told, finished_at=run["finished_at"])


def _told(
    run: Mapping[str, Any],
    rows: list[StepRow],
    records: Iterable[Mapping[str, Any]],
    log: str,
    verify_with: str,
) -> tuple[RunReport | None, dict[str, Any]]:
    """What every account of a run tells (who ordered what and why, each system, the audit seal),
    with the run's stored report."""
    report, systems = _systems(run, rows)
    return report, {
        "run_id": run["id"],
        "kind": run["kind"],
        "status": run["status"],
        "ordered_by": run["actor"],
        "reason": run["reason"],
        "ticket": run["ticket"],
        "ordered_at": run["created_at"],
        "systems": systems,
        "audit": _seal(run["id"], records, log, verify_with),
    }


def evidence_pack(
    run: Mapping[str, Any],
    rows: list[StepRow],
    hr_events: Sequence[Mapping[str, Any]],
    records: Iterable[Mapping[str, Any]],
    log: str,
    verify_with: str,
    story: Sequence[EvidenceChapter] = (),
) -> EvidencePack:
    """The evidence of one stored run, from its journal, its report and the audit records."""
    report, told = _told(run, rows, records, log, verify_with)
    event = hr_events[0] if hr_events else None
    complete = report is not None and report.status == "complete"
    return EvidencePack(
        **told,
        username=run["username"],
        person=run["identity"],
        hr_event=f"{event['type']} {event['id']} from {event['source']}" if event else None,
        access_gone_at=run["finished_at"] if complete else None,
        limits=LIMITS,
        story=list(story),
    )


def _evidence_step(row: StepRow) -> EvidenceStep:
    return EvidenceStep(**_step(row).model_dump(), started_at=row.started_at, finished_at=row.finished_at)


def _seal(run_id: str, records: Iterable[Mapping[str, Any]], log: str, verify_with: str) -> AuditSeal:
    mine: list[Mapping[str, Any]] = []
    checkpoint: Mapping[str, Any] | None = None
    for record in records:
        if record.get("run_id") == run_id:
            mine.append(record)
        elif mine and checkpoint is None and record.get("event") == CHECKPOINT:
            checkpoint = record
    return AuditSeal(
        log=log,
        records=len(mine),
        first_seq=mine[0]["seq"] if mine else None,
        last_seq=mine[-1]["seq"] if mine else None,
        first_hash=mine[0]["hash"] if mine else None,
        last_hash=mine[-1]["hash"] if mine else None,
        checkpoint_seq=checkpoint["seq"] if checkpoint else None,
        checkpoint_hash=checkpoint["hash"] if checkpoint else None,
        checkpoint_key=checkpoint.get("key") if checkpoint else None,
        checkpoint_at=checkpoint.get("at") if checkpoint else None,
        verify_with=verify_with,
    )
