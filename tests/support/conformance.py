"""The contract every connector passes, run against its real server or emulator.

A connector's test module subclasses `ConnectorConformance` and provides the
fixtures ``connector`` (a live connector), ``holder`` (a username holding at
least one entitlement and enabled), ``spare`` (an entitlement that exists
and ``holder`` does not hold), and ``unreachable`` (the same connector type
pointed at a closed port). Capabilities a connector lacks are skipped.
"""

from __future__ import annotations

import pytest

from iam import contract
from iam.errors import TransientError
from iam.model import Entitlement, Outcome

MISSING = "no-such-user-7f3a"


class ConnectorConformance:
    def test_check_describes_the_connection(self, connector: contract.Connector) -> None:
        assert isinstance(connector.check(), str)

    def test_read_gives_the_account_or_none(self, connector: contract.Readable, holder: str) -> None:
        state = connector.read_account(holder)
        assert state is not None and state.username == holder and state.enabled
        assert state.entitlements
        assert connector.read_account(MISSING) is None

    def test_bulk_read_includes_the_account(self, connector: contract.Readable, holder: str) -> None:
        assert holder in {s.username for s in connector.iter_accounts()}

    def test_grant_and_revoke_are_idempotent(
        self, connector: contract.Connector, holder: str, spare: Entitlement
    ) -> None:
        if contract.Capability.ENTITLE not in type(connector).capabilities():
            pytest.skip("cannot entitle")
        c: contract.Entitling = connector  # type: ignore[assignment]
        assert c.grant(holder, spare).outcome == Outcome.UPDATED
        assert c.grant(holder, spare).outcome == Outcome.UNCHANGED
        assert spare in connector.read_account(holder).entitlements  # type: ignore[attr-defined]
        assert c.revoke(holder, spare).outcome == Outcome.UPDATED
        assert c.revoke(holder, spare).outcome == Outcome.UNCHANGED
        assert spare not in connector.read_account(holder).entitlements  # type: ignore[attr-defined]

    def test_operations_on_a_missing_account_are_absent(
        self, connector: contract.Connector, spare: Entitlement
    ) -> None:
        caps = type(connector).capabilities()
        ops = []
        if contract.Capability.ENTITLE in caps:
            ops += [
                contract.StepSpec(contract.Op.GRANT, str(spare)),
                contract.StepSpec(contract.Op.REVOKE, str(spare)),
            ]
        if contract.Capability.DISABLE in caps:
            ops.append(contract.StepSpec(contract.Op.DISABLE))
        if contract.Capability.END_SESSIONS in caps:
            ops.append(contract.StepSpec(contract.Op.END_SESSIONS))
        for step in ops:
            assert contract.perform(connector, MISSING, step).outcome == Outcome.ABSENT, step

    def test_termination_leaves_no_access_and_is_idempotent(
        self, connector: contract.Connector, holder: str
    ) -> None:
        if contract.Capability.TERMINATE not in type(connector).capabilities():
            pytest.skip("cannot terminate")
        reader: contract.Readable = connector  # type: ignore[assignment]
        terminable: contract.Terminable = connector  # type: ignore[assignment]
        steps = terminable.termination_steps(reader.read_account(holder))  # type: ignore[arg-type]
        assert steps
        for step in steps:
            assert contract.perform(connector, holder, step).changed, step
        after = reader.read_account(holder)
        assert after is not None and after.remaining_access() == []
        assert terminable.termination_steps(after) == []
        for step in steps:
            assert contract.perform(connector, holder, step).outcome in (Outcome.UNCHANGED, Outcome.ABSENT)

    def test_upkeep_is_idempotent(self, connector: contract.Connector) -> None:
        if contract.Capability.MAINTAIN not in type(connector).capabilities():
            pytest.skip("needs no upkeep")
        maintainable: contract.Maintainable = connector  # type: ignore[assignment]
        maintainable.maintain()
        assert maintainable.maintain().outcome == Outcome.UNCHANGED  # nothing left to do right after

    def test_an_unreachable_system_is_a_transient_error(self, unreachable: contract.Readable) -> None:
        with pytest.raises(TransientError):
            unreachable.read_account("anyone")
