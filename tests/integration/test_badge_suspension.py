"""A suspension at the doors: badges set to the site's suspended status, then revived by the restore.

Planned by iam's own planners (`plan_suspension`, then `plan_provisioning`
as `iam restore` does) and performed step by step as the engine does; the
emulated door reader says whether the card opens the door.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from iam.connectors.badge import LenelBadgeConnector
from iam.lab.lenel import FakeClock, LenelEmulator
from iam.lab.lenel.seed import Site, settings

from iam import contract, errors
from iam.evidence import suspension_gaps
from iam.model import DesiredAccount
from iam.plan import Plan, plan_provisioning, plan_suspension, plan_termination

SYSTEM = "badges"


@pytest.fixture
def suspendable(pacs: LenelEmulator, site: Site, clock: FakeClock) -> Iterator[LenelBadgeConnector]:
    c = LenelBadgeConnector(SYSTEM, settings(pacs, suspended_status="Suspended"), now=clock)
    yield c
    c.close()


def run(c: LenelBadgeConnector, plan: Plan) -> list[str]:
    for step in plan.steps:
        contract.perform(c, "E1001", step.spec)
    return [s.line() for s in plan.steps]


def test_a_suspended_card_is_denied_keeps_its_levels_and_the_restore_opens_the_doors_again(
    suspendable: LenelBadgeConnector, pacs: LenelEmulator, site: Site
) -> None:
    assert pacs.swipe(5001, "lab") == "granted"
    before = suspendable.read_account("E1001")
    assert before is not None

    lines = run(suspendable, plan_suspension("E1001", {SYSTEM: before}, {SYSTEM: suspendable}))

    assert lines == ["badges: disable the account"]
    assert pacs.badge(site.jane_badge)["STATUS_NAME"] == "Suspended"
    assert pacs.swipe(5001, "lab") == "denied" and pacs.swipe(5001, "lobby") == "denied"
    assert pacs.levels_of(site.jane_badge) == {"Lobby", "Lab"}
    during = suspendable.read_account("E1001")
    assert during is not None and suspension_gaps(during) == [] and not during.enabled
    assert pacs.swipe(5002, "lobby") == "granted"  # her namesake is someone else

    want = {SYSTEM: DesiredAccount(before.entitlements, {})}
    restore = plan_provisioning("restore", "E1001", want, {SYSTEM: during}, {SYSTEM: suspendable})
    assert run(suspendable, restore) == ["badges: enable the account"]

    assert pacs.badge(site.jane_badge)["STATUS_NAME"] == "Active"
    assert pacs.swipe(5001, "lab") == "granted"
    assert suspendable.read_account("E1001") == before


def test_terminating_a_suspended_person_terminates_the_suspended_badge(
    suspendable: LenelBadgeConnector, pacs: LenelEmulator, site: Site
) -> None:
    run(
        suspendable,
        plan_suspension("E1001", {SYSTEM: suspendable.read_account("E1001")}, {SYSTEM: suspendable}),
    )

    plan = plan_termination("E1001", {SYSTEM: suspendable.read_account("E1001")}, {SYSTEM: suspendable})
    run(suspendable, plan)

    assert pacs.badge(site.jane_badge)["STATUS_NAME"] == "Terminated"
    assert pacs.levels_of(site.jane_badge) == set()
    with pytest.raises(errors.Unsupported):  # a terminated card is never revived
        suspendable.enable("E1001")


def test_a_suspended_status_the_site_does_not_define_is_named_by_check(
    pacs: LenelEmulator, site: Site, clock: FakeClock
) -> None:
    c = LenelBadgeConnector(SYSTEM, settings(pacs, suspended_status="On Hold"), now=clock)
    with pytest.raises(errors.InvalidAttribute, match="'On Hold' does not exist"):
        c.check()
    with pytest.raises(errors.ConfigError, match="suspended_status"):
        LenelBadgeConnector(SYSTEM, settings(pacs, suspended_status="Active"), now=clock)
