"""The documents iam gives back: one typed definition each, printed as JSON or a table.

Every command's result is one of these models: `iam.render.show` prints it
(JSON follows the schema generated from the model, ``iam schema NAME``);
the run report is also what the store keeps as a run's evidence. Building
them from the journal and the read-back is `iam.evidence`'s job.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, RootModel, computed_field
from pydantic.dataclasses import dataclass as pydantic_dataclass

from iam.model import AccountState


class Document(BaseModel):
    """A document iam prints: its JSON is exactly its fields."""

    model_config = ConfigDict(extra="forbid")
    #: Its schema describes it as written (`iam.schemas`).
    schema_mode: ClassVar[str] = "serialization"

    def to_json(self) -> Any:
        return self.model_dump(mode="json")


# one run --------------------------------------------------------------------------------------

StepStatus = Literal["pending", "running", "done", "failed"]
StepOutcome = Literal["created", "updated", "unchanged", "absent"]
#: complete: read back, nothing left (or the target state reached); partial: something is left
#: or unverified; planned: a dry run; no_account: nothing here; unverified: could not read back.
SystemOutcome = Literal["complete", "no_account", "partial", "unverified", "error", "planned"]
RunStatus = Literal["complete", "partial", "planned", "not_found", "cancelled"]


class StepView(Document):
    """One journaled step, as the run left it."""

    seq: int
    op: str
    target: str | None
    description: str
    status: StepStatus
    outcome: StepOutcome | None
    error: str | None


class CredentialView(Document):
    kind: str
    id: str
    active: bool


class AccountView(Document):
    """What one system holds for the person, as read (no secrets, no free-form attributes)."""

    system: str
    username: str
    ref: str
    enabled: bool
    entitlements: list[str]
    sessions: list[str]
    credentials: list[CredentialView]
    #: When the person last signed in, where the system records it (ISO 8601); None when it does not say.
    last_login: str | None = None

    @classmethod
    def of(cls, state: AccountState) -> AccountView:
        return cls(
            last_login=state.last_login.isoformat() if state.last_login else None,
            system=state.system,
            username=state.username,
            ref=state.ref,
            enabled=state.enabled,
            entitlements=[str(e) for e in sorted(state.entitlements)],
            sessions=[s.id for s in state.sessions],
            credentials=[CredentialView(kind=c.kind, id=c.id, active=c.active) for c in state.credentials],
        )


class SystemResult(Document):
    """One system's part of a run: its steps, and what the read-back shows is left."""

    system: str
    type: str
    result: SystemOutcome
    error: str | None
    #: What still grants access (offboard) or differs from the target (joiner, mover).
    remaining: list[str]
    steps: list[StepView]
    account: AccountView | None = None


class EvidenceRef(Document):
    """Where the run's journal and audit records are."""

    store: str
    audit_log: str
    run_id: str


class RunReport(Document):
    """The evidence of one run (offboard, resume, joiner, mover, remediation)."""

    run_id: str | None
    kind: str
    username: str
    reason: str
    status: RunStatus
    dry_run: bool
    systems: list[SystemResult]
    evidence: EvidenceRef | None
    #: not_found only: close names iam knows (the store) or a system holds.
    suggestions: list[str] = []

    @property
    def unplannable(self) -> list[SystemResult]:
        """The systems a dry run could not read: its plan is not the whole plan."""
        return [s for s in self.systems if self.status == "planned" and s.result == "error"]


# what a person holds ---------------------------------------------------------------------------


class SystemAccess(Document):
    system: str
    type: str
    result: Literal["access", "no_access", "no_account", "error"]
    error: str | None
    account: AccountView | None
    #: Every way the account can still get in.
    access: list[str]


class ScheduledDelete(Document):
    """A terminated person's account that a system's retention deletes on a day (`iam run-due`)."""

    system: str
    #: The moment the delete comes due: termination + ``retention.delete_after_days``.
    due: str
    delete_after_days: int


class SuspensionView(Document):
    """A person's access cut for an incident (`iam suspend`): since when, why, by whom, how long so far."""

    username: str
    suspended_at: str
    reason: str
    by: str
    ticket: str | None
    run_id: str | None
    #: Whole days since the suspension.
    age_days: int
    #: What each system held at suspension (null: no account there); `iam restore` puts it back.
    held: dict[str, AccountView | None]


class StatusReport(Document):
    """What a person holds in every configured system, read live."""

    username: str
    identity_status: str | None
    systems: list[SystemAccess]
    #: The standing suspension, if the person is suspended.
    suspension: SuspensionView | None = None
    #: When each system deletes the terminated person's account.
    scheduled_deletes: list[ScheduledDelete] = []


class SystemPlan(Document):
    system: str
    should_have_account: bool
    has_account: bool
    missing: list[str]
    extra: list[str]
    error: str | None


class PersonPlan(Document):
    """What the person should hold (policy) against what they hold (systems)."""

    username: str
    status: str
    roles: list[str]
    systems: list[SystemPlan]
    #: When each system deletes the terminated person's account (``retention.delete_after_days``).
    scheduled_deletes: list[ScheduledDelete] = []


class ConnectorCheck(Document):
    system: str
    ok: bool
    #: What was proven (reachable, authenticated, readable, a disable enforced), or what failed.
    detail: str
    capabilities: list[str]
    error_type: str | None = None


class ConnectorChecks(RootModel[list[ConnectorCheck]]):
    """`iam connectors check`: one line per configured system."""

    schema_mode: ClassVar[str] = "serialization"

    def to_json(self) -> Any:
        return self.model_dump(mode="json")


class RunSummary(Document):
    id: str
    kind: str
    username: str
    status: str
    dry_run: bool
    created_at: datetime


class RunList(RootModel[list[RunSummary]]):
    """`iam runs`: recent runs, newest first."""

    schema_mode: ClassVar[str] = "serialization"

    def to_json(self) -> Any:
        return self.model_dump(mode="json")


# HR's events ------------------------------------------------------------------------------------

EventStatus = Literal[
    "applied",
    "partial",
    "failed",
    "rejected",
    "scheduled",
    "would apply",
    "would wait",
    "cannot plan",
    "blocked",
    "held",
    "not_found",
    "cancelled",
    "would cancel",
]


class EventOutcome(Document):
    """What became of one joiner, mover, leaver, rehire or grant expiry."""

    id: str
    type: str
    username: str
    effective_at: str
    status: EventStatus
    run_id: str | None
    error: str | None
    run: RunReport | None


@pydantic_dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class RowError:
    """A row or event left out: where, which field, what is wrong (built positionally by the readers)."""

    source: str
    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: row {self.row}: {self.field}: {self.message}"


class Upkeep(Document):
    """What `run-due` did to keep one system working (a renewed CRL)."""

    system: str
    outcome: str
    detail: str


class HoldView(Document):
    """A termination made outside HR that HR's feed contradicts (or has just agreed with)."""

    username: str
    terminated_at: str
    reason: str
    by: str
    source: str
    run_id: str | None
    conflict_since: str | None
    #: One line: when, by whom, from where, why, in which run.
    terminated: str
    #: What to do about it.
    message: str


class OrphanedThirdParty(Document):
    """A contractor or vendor whose owner leaves, and what `safety.orphaned_third_parties` does."""

    owner: str
    username: str
    kind: str
    action: str


class ProtectedPerson(Document):
    """A known person missing from HR's feed whom it does not terminate: a rejected row may be theirs."""

    username: str
    hr_id: str
    why: str


DeletionStatus = Literal["deleted", "partial", "refused", "blocked"]


class DeletionOutcome(Document):
    """One terminated person's due deletes: done (verified), or why nothing was deleted."""

    username: str
    systems: list[str]
    status: DeletionStatus
    run_id: str | None
    error: str | None


class LifecycleReport(Document):
    """What a sync, a submission or a run-due pass did, event by event."""

    events: list[EventOutcome] = []
    rejected: list[RowError] = []
    blocked: str | None = None
    maintenance: list[Upkeep] = []
    #: Systems found unreachable during the command, each said once (not once per person).
    unreachable: dict[str, str] = {}
    #: Termination holds HR contradicts: it still lists these people active.
    holds: list[HoldView] = []
    #: Holds that ended in this sync because HR terminated the person too.
    holds_ended: list[HoldView] = []
    #: Known people missing from the feed whom it does not terminate (a rejected row may be theirs).
    protected: list[ProtectedPerson] = []
    #: Contractors and vendors whose owner leaves in this sync.
    orphaned_third_parties: list[OrphanedThirdParty] = []
    #: Accounts whose retention ended (`iam run-due`): deleted, or why not.
    deletions: list[DeletionOutcome] = []

    @property
    def partial(self) -> bool:
        """Something is left, could not be read, or upkeep failed: exit 3."""
        return (
            any(e.status in ("partial", "failed", "cannot plan") for e in self.events)
            or any(d.status in ("partial", "refused") for d in self.deletions)
            or any(m.outcome == "failed" for m in self.maintenance)
            or bool(self.unreachable)
        )

    @property
    def held(self) -> bool:
        """A termination hold stands against HR's data: a person has to decide."""
        return bool(self.holds) or any(e.status == "held" for e in self.events)

    @property
    def needs_a_look(self) -> bool:
        """Input was refused, or a name was found nowhere: exit 2."""
        return bool(self.rejected or self.blocked) or any(
            e.status in ("rejected", "not_found") for e in self.events
        )


# access reviews ----------------------------------------------------------------------------------

FindingType = Literal[
    "orphan",
    "leaver_with_access",
    "excess",
    "missing",
    "dormant",
    "expired",
    "sod_conflict",
    "unowned_third_party",
    "termination_hold_conflict",
    "suspended",
    "duplicate_identity",
    "shared_account",
    "unacknowledged",
]


class Finding(Document):
    """Something that should not exist: what, where, why, since when, and the suggested action."""

    model_config = ConfigDict(extra="ignore", frozen=True)  # a stored sweep's findings carry their key

    type: FindingType
    system: str | None
    account: str
    entitlement: str | None
    why: str
    since: str | None
    action: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def key(self) -> str:
        """Stable across sweeps, so two sweeps can say what is new and what was resolved."""
        return "|".join([self.type, self.system or "", self.account, self.entitlement or ""])


class SweepSummary(Document):
    identities: int
    #: Accounts read, per system.
    accounts: dict[str, int]
    #: Systems that could not be read entirely: their findings are unknown.
    errors: dict[str, str]
    by_type: dict[str, int]
    by_system: dict[str, int]
    total: int


class SweepResult(Document):
    """One access-review sweep: every system read in bulk, compared with HR and the policy."""

    id: str
    at: str
    summary: SweepSummary
    findings: list[Finding]
    #: Every standing suspension and its age (a finding once older than review.max_suspension_days).
    suspensions: list[SuspensionView] = []


class SweepDiff(Document):
    """What changed since the sweep before: new and resolved findings."""

    current: str
    previous: str | None
    new: list[Finding]
    resolved: list[Finding]
    unchanged: int


class RemediationRefusal(Document):
    """A person whose remediation was refused (it would break separation of duty)."""

    username: str
    error: str


class Remediation(Document):
    """What `review sweep --remediate --yes` did: one run per person, and the refusals."""

    runs: list[RunReport]
    refused: list[RemediationRefusal]

    @property
    def partial(self) -> bool:
        return bool(self.refused) or any(r.status != "complete" for r in self.runs)


# certification ------------------------------------------------------------------------------------


class CertificationItem(Document):
    """One entitlement a manager's person holds, to keep or revoke."""

    item: str
    username: str
    name: str
    system: str
    entitlement: str
    #: The account's last sign-in when the campaign started, where the system records it (ISO 8601).
    last_login: str | None = None


class Campaign(Document):
    """A certification campaign: a manager's people, what each holds, and the deadline."""

    id: str
    manager: str
    due: date
    items: list[CertificationItem]
    #: The decisions file (CSV) and the page to read (HTML), when written.
    files: list[str] = []


class CertificationResult(Document):
    """What importing a manager's decisions did."""

    campaign: str
    manager: str
    due: date
    revoked: list[RunReport]
    decided: int
    undecided: list[CertificationItem]
    overdue: bool
    rejected: list[str]


# the store's lists ----------------------------------------------------------------------------------


class StoredEvent(Document):
    """An event as the store keeps it (`iam event list`)."""

    id: str
    type: str
    username: str
    effective_at: datetime
    status: str
    run_id: str | None
    source: str


class StoredEventList(RootModel[list[StoredEvent]]):
    """`iam event list`: stored events, by effective time."""

    schema_mode: ClassVar[str] = "serialization"

    def to_json(self) -> Any:
        return self.model_dump(mode="json")


class KeptNotification(Document):
    """A notification nobody could receive yet, kept for the next `iam run-due` to try again."""

    id: int
    kind: str
    recipient: str
    subject: str
    kept_since: datetime
    failures: int
    last_error: str


class KeptNotificationList(RootModel[list[KeptNotification]]):
    """`iam notifications list`: the kept notifications, oldest first."""

    schema_mode: ClassVar[str] = "serialization"

    def to_json(self) -> Any:
        return self.model_dump(mode="json")


class Reinstatement(Document):
    """A termination hold lifted by `iam reinstate`: nothing is granted until the next sync."""

    username: str
    reason: str
    lifted: HoldView


class AuditRecords(RootModel[list[dict[str, Any]]]):
    """Audit records as the log holds them: each has ``seq``, ``at`` and ``event``, then its own keys."""

    schema_mode: ClassVar[str] = "serialization"

    def to_json(self) -> Any:
        return self.model_dump(mode="json")


# the evidence of one termination ----------------------------------------------------------------


class EvidenceStep(Document):
    """One step as the journal kept it, with when it ran."""

    seq: int
    op: str
    target: str | None
    description: str
    status: StepStatus
    outcome: StepOutcome | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


class EvidenceSystem(Document):
    """One system: what the person held before, each step, and the read-back that proves what is left."""

    system: str
    type: str
    result: SystemOutcome
    error: str | None
    #: As read when the run was planned (None: no account there, or not readable then).
    held_before: AccountView | None
    steps: list[EvidenceStep]
    #: As read back after the last step.
    read_back: AccountView | None
    #: What still grants access; empty when nothing does.
    remaining: list[str]


class AuditSeal(Document):
    """The audit records that tell the run, and the signed checkpoint that seals them."""

    log: str
    records: int
    first_seq: int | None
    last_seq: int | None
    first_hash: str | None
    last_hash: str | None
    #: The first signed checkpoint after the run's last record, if the log is signed.
    checkpoint_seq: int | None
    checkpoint_hash: str | None
    checkpoint_key: str | None
    checkpoint_at: str | None
    #: One command that checks the log and this seal.
    verify_with: str


class EvidenceChapter(Document):
    """Another lifecycle run of the person (a suspension, a restore, a retention delete), with its checks."""

    run_id: str
    kind: str
    status: str
    ordered_by: str | None
    reason: str
    ticket: str | None
    ordered_at: datetime
    finished_at: datetime | None
    systems: list[EvidenceSystem]
    audit: AuditSeal


class EvidencePack(Document):
    """One termination, as an auditor needs it: who, why, when, what was held, what was done, what is left."""

    run_id: str
    kind: str
    status: str
    username: str
    #: HR's facts about the person when the run was ordered.
    person: dict[str, Any] | None
    ordered_by: str | None
    reason: str
    ticket: str | None
    #: The HR event the run carried out, if any (its id and where it came from).
    hr_event: str | None
    ordered_at: datetime
    #: When the last access was gone: the end of the read-back that found nothing left.
    access_gone_at: datetime | None
    systems: list[EvidenceSystem]
    audit: AuditSeal
    #: What no revocation can take back, stated with the evidence.
    limits: list[str]
    #: The person's other lifecycle runs (suspensions, restores, retention deletes), oldest first.
    story: list[EvidenceChapter] = []


# many leavers at once ------------------------------------------------------------------------------


class BatchFailure(Document):
    """A person of the list whose run could not start (the others went on)."""

    username: str
    error: str


class BatchReport(Document):
    """`iam offboard --from FILE`: one run per person of the file, in its order."""

    source: str
    cancelled: bool
    runs: list[RunReport]
    failed: list[BatchFailure]

    def summary(self) -> str:
        """One line: how many of each outcome."""
        counts: dict[str, int] = {}
        for run in self.runs:
            counts[run.status] = counts.get(run.status, 0) + 1
        if self.failed:
            counts["failed"] = len(self.failed)
        parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        return f"{self.source}: {len(self.runs) + len(self.failed)} people: {parts or 'nothing done'}"
