"""The contract every connector passes, run against its real server or emulator.

A connector's test module subclasses `ConnectorConformance` and provides the
fixtures ``connector`` (a live connector), ``holder`` (a username holding at
least one entitlement and enabled), ``spare`` (an entitlement that exists
and ``holder`` does not hold), ``unreachable`` (the same connector type
pointed at a closed port) and ``unreadable`` (an `Unreadable`: the same
connector type, on its real server or emulator, pointed at a place that does
not exist or that it may not read). Capabilities a connector lacks are
skipped; every connector provides every fixture.

A connector with ``implicit_accounts`` (an account exists only while it
holds an entitlement: a VPN certificate, a WireGuard peer) is held to that
instead: granting to someone with no account brings the account into
being, so the grant test uses `NEWCOMER`, and a grant to `MISSING` is not
expected to be absent.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from iam import contract
from iam.errors import PermanentError, TransientError
from iam.model import Entitlement, Outcome

MISSING = "no-such-user-7f3a"
#: Someone with no account yet, granted into being by connectors with implicit accounts.
NEWCOMER = "newcomer-7f3a"


@dataclass
class Unreadable:
    """A connector pointed at a place it cannot read, and the name its errors must give.

    ``names`` is the setting (or the place) a person has to look at, such as
    ``groups_dn`` or ``config_path``: an error that does not say where is no
    help to the person who has to fix it.
    """

    connector: contract.Connector
    names: str


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
        reader: contract.Readable = connector  # type: ignore[assignment]
        who = holder
        if connector.implicit_accounts:
            who = NEWCOMER
            assert reader.read_account(who) is None
        assert c.grant(who, spare).outcome == Outcome.UPDATED
        assert c.grant(who, spare).outcome == Outcome.UNCHANGED
        assert spare in reader.read_account(who).entitlements  # type: ignore[union-attr]
        assert c.revoke(who, spare).outcome == Outcome.UPDATED
        assert c.revoke(who, spare).outcome == Outcome.UNCHANGED
        assert spare not in reader.read_account(who).entitlements  # type: ignore[union-attr]

    def test_implicit_accounts_are_never_created(self, connector: contract.Connector) -> None:
        """The planner never plans `create` where accounts are implicit, so such a connector offers none."""
        offers_create = contract.Capability.CREATE in type(connector).capabilities()
        assert not (connector.implicit_accounts and (offers_create or hasattr(connector, "create_account")))

    def test_operations_on_a_missing_account_are_absent(
        self, connector: contract.Connector, spare: Entitlement
    ) -> None:
        caps = type(connector).capabilities()
        ops = []
        if contract.Capability.ENTITLE in caps:
            if not connector.implicit_accounts:  # there, a grant brings the account into being
                ops.append(contract.StepSpec(contract.Op.GRANT, str(spare)))
            ops.append(contract.StepSpec(contract.Op.REVOKE, str(spare)))
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

    def test_delete_removes_the_account_and_is_idempotent(
        self, connector: contract.Connector, holder: str
    ) -> None:
        """The retention step: afterwards the account reads as gone (or as its system's archive)."""
        if contract.Capability.DELETE not in type(connector).capabilities():
            pytest.skip("cannot delete")
        reader: contract.Readable = connector  # type: ignore[assignment]
        deletable: contract.Deletable = connector  # type: ignore[assignment]
        assert deletable.delete_account(holder).outcome == Outcome.UPDATED
        after = reader.read_account(holder)
        assert after is None or deletable.counts_as_deleted(after)
        assert deletable.delete_account(holder).outcome in (Outcome.UNCHANGED, Outcome.ABSENT)
        assert deletable.delete_account(MISSING).outcome == Outcome.ABSENT

    def test_an_unreachable_system_is_a_transient_error(self, unreachable: contract.Readable) -> None:
        with pytest.raises(TransientError):
            unreachable.read_account("anyone")

    def test_an_unreadable_place_is_an_error_never_nothing(self, unreadable: Unreadable, holder: str) -> None:
        """None or [] from a place that could not be read would let a termination look complete."""
        reader: contract.Readable = unreadable.connector  # type: ignore[assignment]
        with pytest.raises(PermanentError, match=unreadable.names):
            reader.read_account(holder)
        with pytest.raises(PermanentError, match=unreadable.names):
            list(reader.iter_accounts())

    def test_check_fails_on_an_unreadable_place(self, unreadable: Unreadable) -> None:
        """`iam connectors check` must fail, naming where, before any run trusts an empty read."""
        with pytest.raises(PermanentError, match=unreadable.names):
            unreadable.connector.check()


class MaintainableConformance:
    """Added by the test modules of connectors that need upkeep (`contract.Maintainable`)."""

    def test_upkeep_is_idempotent(self, connector: contract.Maintainable) -> None:
        connector.maintain()
        assert connector.maintain().outcome == Outcome.UNCHANGED  # nothing left to do right after
