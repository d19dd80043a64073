"""Suspension planning, its verdict, and what a restore puts back: pure logic."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from iam import contract
from iam.contract import Op
from iam.errors import Unreachable
from iam.evidence import suspension_gaps
from iam.model import AccountState, Credential, Entitlement, Identity, Outcome, Result, Session
from iam.plan import plan_suspension
from iam.policy import parse_policy
from iam.report import AccountView
from iam.suspension import restorable
from tests.support.memory import MemAccount, MemoryConnector

STAFF = Entitlement("group", "staff")
FINANCE = Entitlement("group", "finance")
VPN = Entitlement("vpn", "access")


class CertificateVpn(
    contract.Connector,
    contract.Readable,
    contract.Entitling,
    contract.SessionRevocable,
    contract.CredentialRevocable,
    contract.Terminable,
):
    """A system whose access is a certificate: it can revoke, not disable."""

    def check(self) -> str:
        return "vpn"

    def read_account(self, username: str) -> AccountState | None:
        return None

    def iter_accounts(self) -> Iterator[AccountState]:
        return iter(())

    def grant(self, username: str, entitlement: Entitlement) -> Result:
        return Result(Outcome.UNCHANGED)

    def revoke(self, username: str, entitlement: Entitlement) -> Result:
        return Result(Outcome.UNCHANGED)

    def end_sessions(self, username: str) -> Result:
        return Result(Outcome.UNCHANGED)

    def revoke_credential(self, username: str, credential_id: str) -> Result:
        return Result(Outcome.UNCHANGED)


def state(system: str, enabled: bool = True, **kwargs: object) -> AccountState:
    return AccountState(system=system, username="bea", ref=f"{system}/bea", enabled=enabled, **kwargs)  # type: ignore[arg-type]


def test_a_system_that_can_disable_is_disabled_and_its_sessions_ended_keeping_groups_and_password() -> None:
    directory = MemoryConnector("directory")
    directory.accounts["bea"] = MemAccount(entitlements={STAFF, FINANCE}, sessions=["s1"])

    plan = plan_suspension("bea", {"directory": directory.read_account("bea")}, {"directory": directory})

    assert plan.kind == "suspend"
    assert [s.spec.op for s in plan.steps] == [Op.DISABLE, Op.END_SESSIONS]


def test_a_system_that_cannot_disable_gets_its_own_complete_revocation() -> None:
    vpn = CertificateVpn("vpn", {})
    held = state(
        "vpn",
        entitlements=frozenset({VPN}),
        credentials=(Credential("cert", "01"),),
        sessions=(Session("t"),),
    )

    plan = plan_suspension("bea", {"vpn": held}, {"vpn": vpn})

    assert [s.spec for s in plan.steps] == vpn.termination_steps(held)
    assert {s.spec.op for s in plan.steps} == {Op.REVOKE_CREDENTIAL, Op.END_SESSIONS, Op.REVOKE}


def test_an_unreadable_system_is_a_plan_error_never_an_empty_account() -> None:
    directory = MemoryConnector("directory")
    plan = plan_suspension(
        "bea",
        {"directory": Unreachable("directory: connection refused"), "sso": None},
        {"directory": directory, "sso": directory},
    )

    assert plan.steps == [] and "connection refused" in plan.errors["directory"]
    assert plan.no_account == ["sso"]


def test_a_disabled_account_may_keep_its_groups_but_not_a_live_session() -> None:
    assert suspension_gaps(state("d", enabled=False, entitlements=frozenset({STAFF}))) == []
    assert suspension_gaps(state("d", enabled=False, sessions=(Session("s1"),))) == ["live session s1"]
    assert suspension_gaps(state("d", entitlements=frozenset({STAFF}))) == [
        "account is enabled",
        "holds group:staff",
    ]
    assert suspension_gaps(None) == []


def view(system: str, ents: list[Entitlement], enabled: bool = True) -> AccountView:
    return AccountView(
        system=system,
        username="bea",
        ref="bea",
        enabled=enabled,
        entitlements=[str(e) for e in ents],
        sessions=[],
        credentials=[],
    )


POLICY = parse_policy(
    {
        "roles": {
            "staff": {"entitlements": {"directory": ["group:staff"], "vpn": ["vpn:access"]}},
            "finance": {"entitlements": {"directory": ["group:finance"]}},
        },
        "birthright": [{"role": "staff"}, {"role": "finance", "when": {"department": ["Finance"]}}],
    }
)


def test_restore_puts_back_what_was_held_less_what_the_policy_no_longer_grants() -> None:
    held = {"directory": view("directory", [STAFF, FINANCE]), "vpn": view("vpn", [VPN]), "badge": None}
    systems = {"directory": object(), "vpn": object(), "badge": object()}
    moved = Identity("bea", department="Sales", hr_id="E2")

    desired, dropped = restorable(held, systems, POLICY, moved, date(2026, 12, 1))

    assert desired["directory"].entitlements == {STAFF} and desired["directory"].account
    assert desired["vpn"].entitlements == {VPN}
    assert "badge" not in desired  # no account there at suspension: nothing to put back
    assert dropped == {"directory": ["group:finance"]}


def test_without_a_policy_restore_puts_back_exactly_what_was_held_and_a_disabled_account_stays_so() -> None:
    held = {"directory": view("directory", [STAFF, FINANCE]), "old": view("old", [], enabled=False)}

    desired, dropped = restorable(held, {"directory": 1, "old": 1}, None, None, date(2026, 12, 1))

    assert desired["directory"].entitlements == {STAFF, FINANCE} and dropped == {}
    assert not desired["old"].account
