"""Planning: compare what systems hold with what should be, as data.

Pure functions: they take account states (already read) and return a
`Plan` a person can read. Nothing here talks to a system.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from iam.contract import (
    OP_CAPABILITY,
    Archivable,
    AttributeDelta,
    Capability,
    Connector,
    Op,
    StepSpec,
    Terminable,
    Updatable,
)
from iam.errors import ConnectorError
from iam.model import AccountState, DesiredAccount

#: A system's state as read: the account, None (no account), or why it could not be read.
ReadResult = AccountState | None | ConnectorError


@dataclass(frozen=True)
class PlannedStep:
    seq: int
    system: str
    spec: StepSpec

    def line(self) -> str:
        return f"{self.system}: {self.spec.description or self.spec.op}"


@dataclass
class Plan:
    """Ordered steps per system, plus what could not be planned and why."""

    kind: str
    username: str
    steps: list[PlannedStep] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    no_account: list[str] = field(default_factory=list)
    #: What each system that could be read held when the plan was made (None: no account there).
    seen: dict[str, AccountState | None] = field(default_factory=dict)

    def for_system(self, system: str) -> list[PlannedStep]:
        return [s for s in self.steps if s.system == system]

    @property
    def systems(self) -> list[str]:
        return sorted({s.system for s in self.steps})

    @property
    def empty(self) -> bool:
        return not self.steps and not self.errors


def number_steps(kind: str, username: str, per_system: Mapping[str, list[StepSpec]]) -> Plan:
    plan = Plan(kind, username)
    seq = 0
    for system in sorted(per_system):
        for spec in per_system[system]:
            seq += 1
            plan.steps.append(PlannedStep(seq, system, spec))
    return plan


def plan_termination(
    username: str, states: Mapping[str, ReadResult], connectors: Mapping[str, Connector]
) -> Plan:
    """Complete revocation on every system, in each connector's own order."""
    per_system: dict[str, list[StepSpec]] = {}
    errors: dict[str, str] = {}
    absent: list[str] = []
    for system, state in states.items():
        connector = connectors[system]
        if isinstance(state, ConnectorError):
            errors[system] = str(state)
        elif state is None:
            absent.append(system)
        elif not isinstance(connector, Terminable):
            errors[system] = "this connector cannot terminate accounts"
        else:
            per_system[system] = connector.termination_steps(state)
    plan = number_steps("offboard", username, per_system)
    plan.errors, plan.no_account = errors, sorted(absent)
    plan.seen = _seen(states)
    return plan


def plan_suspension(
    username: str, states: Mapping[str, ReadResult], connectors: Mapping[str, Connector]
) -> Plan:
    """Cut every way in now, reversibly (an incident): `iam restore` undoes it.

    A system that can disable its accounts gets a disable and its live
    sessions ended: what the account holds stays, unusable, so nothing has
    to be rebuilt. A system that cannot (a VPN, whose access is its
    certificate) gets its complete revocation, since only that blocks new
    tunnels; the restore grants the access again. The password is never
    scrambled: the person gets their own account back.
    """
    per_system: dict[str, list[StepSpec]] = {}
    errors: dict[str, str] = {}
    absent: list[str] = []
    for system, state in states.items():
        connector = connectors[system]
        caps = type(connector).capabilities()
        if isinstance(state, ConnectorError):
            errors[system] = str(state)
        elif state is None:
            absent.append(system)
        elif Capability.DISABLE in caps:
            steps = [StepSpec(Op.DISABLE, description="disable the account")] if state.enabled else []
            if state.sessions and Capability.END_SESSIONS in caps:
                steps.append(
                    StepSpec(Op.END_SESSIONS, description=f"end {len(state.sessions)} live session(s)")
                )
            per_system[system] = steps
        elif isinstance(connector, Terminable):
            per_system[system] = connector.termination_steps(state)
        else:
            errors[system] = "this connector can neither disable nor terminate accounts"
    plan = number_steps("suspend", username, per_system)
    plan.errors, plan.no_account = errors, sorted(absent)
    plan.seen = _seen(states)
    return plan


def plan_provisioning(
    kind: str,
    username: str,
    desired: Mapping[str, DesiredAccount],
    states: Mapping[str, ReadResult],
    connectors: Mapping[str, Connector],
) -> Plan:
    """Create, enable, grant and revoke so each system holds exactly ``desired``.

    Within one system, grants come before revokes so a mover is never left
    with nothing, and both happen in the same run.
    """
    per_system: dict[str, list[StepSpec]] = {}
    errors: dict[str, str] = {}
    for system, want in desired.items():
        state = states.get(system)
        caps = type(connectors[system]).capabilities()
        if isinstance(state, ConnectorError):
            errors[system] = str(state)
            continue
        steps: list[StepSpec] = []
        held = frozenset() if state is None else state.entitlements
        if state is None and not want.account:
            continue
        connector = connectors[system]
        if state is None and not connector.implicit_accounts:
            if Capability.CREATE not in caps:
                errors[system] = "no account, and this connector cannot create one"
                continue
            steps.append(StepSpec(Op.CREATE, username, "create the account", dict(want.attributes)))
        elif state is not None and want.account:
            if isinstance(connector, Archivable) and connector.needs_restore(state):
                steps.append(StepSpec(Op.RESTORE, description="move the account back from the leavers area"))
            if not state.enabled and Capability.DISABLE in caps:
                steps.append(StepSpec(Op.ENABLE, description="enable the account"))
            if isinstance(connector, Updatable):
                delta = connector.attribute_delta(state, want.attributes)
                if delta is not None:
                    steps.append(_update_step(delta))
        for ent in sorted(want.entitlements - held):
            steps.append(StepSpec(Op.GRANT, str(ent), f"grant {ent.kind} {ent.value}"))
        for ent in sorted(held - want.entitlements):
            steps.append(StepSpec(Op.REVOKE, str(ent), f"revoke {ent.kind} {ent.value}"))
        missing = {OP_CAPABILITY[s.op] for s in steps} - caps
        if missing:
            errors[system] = f"this connector cannot {', '.join(sorted(missing))}"
            continue
        if steps:
            per_system[system] = steps
    plan = number_steps(kind, username, per_system)
    plan.errors = errors
    plan.seen = _seen(states)
    return plan


def _seen(states: Mapping[str, ReadResult]) -> dict[str, AccountState | None]:
    return {name: state for name, state in states.items() if not isinstance(state, ConnectorError)}


def _update_step(delta: AttributeDelta) -> StepSpec:
    names = sorted({*delta.add, *delta.remove, *delta.replace})
    return StepSpec(Op.UPDATE, description=f"update {', '.join(names)} to follow HR", payload=asdict(delta))
