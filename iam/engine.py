"""Apply a plan: systems in parallel, steps in order, every step journaled.

The journal is written before a step runs and after it ends, so a crash
leaves the exact point to resume from; a step found ``running`` on resume
is simply run again, which is safe because every operation is idempotent.
One failing system never stops the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from iam.audit import AuditLog
from iam.config import RetryPolicy
from iam.contract import Connector, Op, Readable, StepSpec, perform
from iam.errors import (
    AuthenticationFailed,
    ConnectorError,
    NoSuchObject,
    PermissionDenied,
    StateConflict,
    TransientError,
    Unsupported,
)
from iam.model import Outcome, Result
from iam.plan import ReadResult
from iam.retry import Outages, call_with_retry
from iam.store import StepRow, Store

#: Called after each step with (system, step row); used for progress bars.
StepCallback = Callable[[str, StepRow], None]

#: Errors after which the rest of that system's steps cannot succeed either.
_STOPS_SYSTEM = (TransientError, AuthenticationFailed, PermissionDenied)

#: Operations that need the account the plan saw: `absent` from them means it
#: vanished after planning (drift), so that system's remaining steps stop.
_NEEDS_ACCOUNT = frozenset({Op.GRANT, Op.ENABLE, Op.UPDATE})

#: Operations whose work is done when the object is gone; for the others (a
#: create whose parent container is missing) "no such object" is the real
#: error, and must be shown as it is, never recorded as done.
_DONE_WHEN_GONE = frozenset(Op) - _NEEDS_ACCOUNT - {Op.CREATE}


@dataclass
class SystemApply:
    system: str
    steps: list[StepRow] = field(default_factory=list)
    stopped_by: str | None = None


def _as_connector_error(exc: Exception, system: str) -> ConnectorError:
    if isinstance(exc, ConnectorError):
        if exc.system is None:
            exc.system = system
        return exc
    err = ConnectorError(f"unexpected {type(exc).__name__}: {exc}", system=system)
    err.__cause__ = exc
    return err


def read_states(
    connectors: Mapping[str, Connector],
    username: str,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    outages: Outages | None = None,
) -> dict[str, ReadResult]:
    """Read the person's account from every system at once.

    A system ``outages`` saw fail moments ago is not tried again: its error
    comes back at once.
    """

    def read(name: str) -> ReadResult:
        connector = connectors[name]
        assert isinstance(connector, Readable)
        if outages is not None and (down := outages.still_down(name)) is not None:
            return _as_connector_error(down, name)
        try:
            state = call_with_retry(lambda: connector.read_account(username), policy, sleep)
        except Exception as exc:
            error = _as_connector_error(exc, name)
            if outages is not None:
                outages.mark(name, error)
            return error
        if outages is not None:
            outages.clear(name)
        return state

    if len(connectors) <= 1:  # nothing to overlap: skip the thread start-up
        return {name: read(name) for name in connectors}
    with ThreadPoolExecutor(max_workers=min(8, len(connectors))) as pool:
        return dict(zip(connectors, pool.map(read, connectors), strict=True))


class Applier:
    """Runs one run's pending steps against the connectors."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        connectors: Mapping[str, Connector],
        policy: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
        on_step: StepCallback | None = None,
    ) -> None:
        self.store = store
        self.audit = audit
        self.connectors = connectors
        self.policy = policy
        self.sleep = sleep
        self.on_step = on_step

    def apply(
        self, run_id: str, username: str, reason: str, retry_failed: bool = True
    ) -> dict[str, SystemApply]:
        """Run every step not yet done (failed ones too, if asked); return what happened per system."""
        rows = [r for r in self.store.run_steps(run_id) if retry_failed or r.status != "failed"]
        by_system: dict[str, list[StepRow]] = {}
        for row in rows:
            by_system.setdefault(row.system, []).append(row)
        if len(by_system) <= 1:
            return {
                system: self._apply_system(run_id, username, reason, system, system_rows)
                for system, system_rows in by_system.items()
            }
        with ThreadPoolExecutor(max_workers=min(8, len(by_system))) as pool:
            futures = {
                system: pool.submit(self._apply_system, run_id, username, reason, system, system_rows)
                for system, system_rows in by_system.items()
            }
            return {system: future.result() for system, future in futures.items()}

    def _apply_system(
        self, run_id: str, username: str, reason: str, system: str, rows: list[StepRow]
    ) -> SystemApply:
        result = SystemApply(system, rows)
        connector = self.connectors.get(system)
        todo = [row for row in rows if row.status != "done"]  # journaled as done: never again
        started = False  # whether the step at hand is journaled as running already
        for i, row in enumerate(todo):
            if result.stopped_by or connector is None:
                result.stopped_by = result.stopped_by or "system is no longer configured"
                continue
            if not started:
                self.store.step_started(run_id, row.seq)
            following = todo[i + 1].seq if i + 1 < len(todo) else None
            started = self._run_step(run_id, username, reason, connector, row, result, following)
            if self.on_step:
                self.on_step(system, row)
        return result

    def _run_step(
        self,
        run_id: str,
        username: str,
        reason: str,
        connector: Connector,
        row: StepRow,
        result: SystemApply,
        following: int | None,
    ) -> bool:
        """Run one step journaled as running; True if its end also journaled ``following`` as running."""
        spec = StepSpec(row.op, row.target, row.description, row.payload)  # type: ignore[arg-type]
        common = {
            "run_id": run_id,
            "username": username,
            "reason": reason,
            "system": row.system,
            "step": row.seq,  # the step in the run ("seq" is the record's place in the chain)
            "op": row.op,
            "target": row.target,
        }
        try:
            outcome: Result = call_with_retry(
                lambda: perform(connector, username, spec),
                self.policy,
                self.sleep,
                on_retry=lambda exc, n: self.audit.record("step.retry", attempt=n, error=str(exc), **common),
            )
        except NoSuchObject as exc:
            if spec.op not in _DONE_WHEN_GONE:
                self._fail(run_id, exc, row, result, common)
                return False
            outcome = Result(Outcome.ABSENT, str(exc))
        except Exception as exc:
            self._fail(run_id, exc, row, result, common)
            return False
        if outcome.outcome is Outcome.ABSENT and spec.op in _NEEDS_ACCOUNT:
            drift = StateConflict(
                f"drift: the account this step was planned for is gone ({outcome.detail}); "
                "the rest of this system's steps are stopped: run again to re-plan from what is there",
                system=row.system,
            )
            self._fail(run_id, drift, row, result, common)
            result.stopped_by = row.error
            return False
        row.status, row.outcome, row.error = "done", outcome.outcome.value, None
        record = self.audit.pending(
            "access.changed" if outcome.changed else "step.done",
            outcome=row.outcome,
            description=row.description,
            detail=outcome.detail,  # what the system said (e.g. a manager left unset): evidence
            **common,
        )
        # kept with the journal entry; appended to the log file once per run (`runs`), not per step
        self.store.step_finished(
            run_id, row.seq, "done", row.outcome, None, audit=record, then_started=following
        )
        return following is not None

    def _fail(
        self, run_id: str, exc: Exception, row: StepRow, result: SystemApply, common: dict[str, object]
    ) -> None:
        error = _as_connector_error(exc, row.system)
        row.status, row.outcome, row.error = "failed", None, str(error)
        record = self.audit.pending("step.failed", error=row.error, error_type=type(error).__name__, **common)
        self.store.step_finished(run_id, row.seq, "failed", None, row.error, audit=record)
        # without the account it was to create, the rest of the system's steps cannot succeed
        if isinstance(error, (*_STOPS_SYSTEM, Unsupported)) or row.op == Op.CREATE:
            result.stopped_by = row.error
