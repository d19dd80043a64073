from collections.abc import Mapping
from typing import Any

from iam.contract import AttributeDelta, Op, Updatable
from iam.errors import Unreachable
from iam.model import AccountState, Credential, DesiredAccount, Entitlement, Result, Session
from iam.plan import plan_provisioning, plan_termination
from tests.support.memory import MemoryConnector

ENG = Entitlement("group", "eng")
FIN = Entitlement("group", "fin")
STAFF = Entitlement("group", "staff")


def state(**kw) -> AccountState:
    base = dict(system="m", username="ann", ref="ann", enabled=True, password_usable=True)
    base.update(kw)
    return AccountState(**base)


def test_termination_cuts_the_way_in_before_stripping_entitlements() -> None:
    conn = MemoryConnector("m")
    s = state(
        entitlements=frozenset({ENG, FIN}),
        sessions=(Session("s1"),),
        credentials=(Credential("token", "t1"), Credential("token", "t0", active=False)),
    )

    plan = plan_termination("ann", {"m": s}, {"m": conn})

    ops = [(p.spec.op, p.spec.target) for p in plan.steps]
    assert ops == [
        (Op.LOCK_PASSWORD, None),
        (Op.DISABLE, None),
        (Op.END_SESSIONS, None),
        (Op.REVOKE_CREDENTIAL, "t1"),
        (Op.REVOKE, "group:eng"),
        (Op.REVOKE, "group:fin"),
        (Op.ARCHIVE, None),
    ]
    assert [p.seq for p in plan.steps] == list(range(1, 8))


def test_terminated_account_plans_nothing() -> None:
    conn = MemoryConnector("m")
    done = state(enabled=False, password_usable=False, ref="archived/ann")
    assert plan_termination("ann", {"m": done}, {"m": conn}).steps == []


def test_unreadable_and_absent_systems_are_reported_not_planned() -> None:
    conns = {"a": MemoryConnector("a"), "b": MemoryConnector("b")}
    plan = plan_termination("ann", {"a": Unreachable("down", system="a"), "b": None}, conns)
    assert plan.steps == []
    assert plan.errors == {"a": "a: down"}
    assert plan.no_account == ["b"]


def test_joiner_creates_then_grants_exactly_the_desired_entitlements() -> None:
    conn = MemoryConnector("m")
    desired = {"m": DesiredAccount(frozenset({ENG, STAFF}))}
    plan = plan_provisioning("joiner", "ann", desired, {"m": None}, {"m": conn})
    assert [(p.spec.op, p.spec.target) for p in plan.steps] == [
        (Op.CREATE, "ann"),
        (Op.GRANT, "group:eng"),
        (Op.GRANT, "group:staff"),
    ]


def test_mover_gains_new_access_before_losing_old_in_one_plan() -> None:
    conn = MemoryConnector("m")
    desired = {"m": DesiredAccount(frozenset({FIN, STAFF}))}
    current = state(entitlements=frozenset({ENG, STAFF}))
    plan = plan_provisioning("mover", "ann", desired, {"m": current}, {"m": conn})
    assert [(p.spec.op, p.spec.target) for p in plan.steps] == [
        (Op.GRANT, "group:fin"),
        (Op.REVOKE, "group:eng"),
    ]


def test_rehire_enables_and_gets_only_the_new_entitlements() -> None:
    conn = MemoryConnector("m")
    desired = {"m": DesiredAccount(frozenset({FIN}))}
    old = state(enabled=False, entitlements=frozenset({ENG}))
    plan = plan_provisioning("rehire", "ann", desired, {"m": old}, {"m": conn})
    assert [p.spec.op for p in plan.steps] == [Op.ENABLE, Op.GRANT, Op.REVOKE]


def test_a_system_that_cannot_create_is_an_error_not_a_guess() -> None:
    class ReadOnly(MemoryConnector):
        pass

    ReadOnly.capabilities = classmethod(lambda cls: frozenset({"read"}))  # type: ignore[assignment]
    plan = plan_provisioning(
        "joiner", "ann", {"m": DesiredAccount(frozenset({ENG}))}, {"m": None}, {"m": ReadOnly("m")}
    )
    assert plan.steps == []
    assert "cannot create" in plan.errors["m"]


class ImplicitConnector(MemoryConnector):
    """Accounts that exist only while an entitlement is held (a VPN certificate)."""

    implicit_accounts = True


def test_implicit_accounts_are_granted_into_being_not_created() -> None:
    conn = ImplicitConnector("vpn")
    desired = {"vpn": DesiredAccount(frozenset({ENG}))}
    plan = plan_provisioning("joiner", "ann", desired, {"vpn": None}, {"vpn": conn})
    assert [(p.spec.op, p.spec.target) for p in plan.steps] == [(Op.GRANT, "group:eng")]


class EndDateConnector(MemoryConnector, Updatable):
    """Keeps a copy of HR's end date and asks to follow it."""

    def update_account(self, username: str, delta: AttributeDelta) -> Result:
        raise AssertionError("planning never runs operations")

    def attribute_delta(self, state: AccountState, attributes: Mapping[str, Any]) -> AttributeDelta | None:
        want = attributes.get("end_date", "")
        if state.attributes.get("end_date", "") == want:
            return None
        return AttributeDelta(replace={"end_date": [want]})


def test_a_changed_hr_fact_the_system_copies_is_planned_as_an_update() -> None:
    conn = EndDateConnector("badges")
    held = state(entitlements=frozenset({STAFF}), attributes={"end_date": "2026-12-31"})
    desired = {"badges": DesiredAccount(frozenset({STAFF}), {"end_date": "2027-03-31"})}

    plan = plan_provisioning("mover", "ann", desired, {"badges": held}, {"badges": conn})

    assert [p.spec.op for p in plan.steps] == [Op.UPDATE]
    assert plan.steps[0].spec.payload == {"add": {}, "remove": {}, "replace": {"end_date": ["2027-03-31"]}}
    same = {"badges": DesiredAccount(frozenset({STAFF}), {"end_date": "2026-12-31"})}
    assert plan_provisioning("mover", "ann", same, {"badges": held}, {"badges": conn}).steps == []


def test_no_update_is_planned_for_an_account_that_should_hold_nothing() -> None:
    conn = EndDateConnector("badges")
    held = state(attributes={"end_date": "2026-12-31"})
    desired = {"badges": DesiredAccount(frozenset(), {"end_date": "2027-03-31"}, account=False)}
    assert plan_provisioning("mover", "ann", desired, {"badges": held}, {"badges": conn}).steps == []


def test_a_rehire_comes_back_from_the_leavers_area_before_being_enabled() -> None:
    conn = MemoryConnector("m")
    leaver = state(enabled=False, password_usable=False, ref="archived/ann")
    desired = {"m": DesiredAccount(frozenset({STAFF}))}

    plan = plan_provisioning("rehire", "ann", desired, {"m": leaver}, {"m": conn})

    assert [(p.spec.op, p.spec.target) for p in plan.steps] == [
        (Op.RESTORE, None),
        (Op.ENABLE, None),
        (Op.GRANT, "group:staff"),
    ]
    back = state(entitlements=frozenset({STAFF}))
    assert plan_provisioning("rehire", "ann", desired, {"m": back}, {"m": conn}).steps == []
