"""The Seam badge driver against Seam's own fake of its API (@seamapi/fake-seam-connect), over real HTTP.

Everything is driven through the connector; what Seam holds afterwards is
read with Seam's API and the workspace's key (`SeamAdmin`), and group
memberships also from the fake's own database. Joiners and movers are
planned by iam's planner, as the engine does. Time moves by an injected
clock.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from httpx_retries import Retry
from iam.connectors.badge import SeamBadgeConnector
from iam.lab.lenel import FakeClock
from seam import Seam

from iam import contract, errors
from iam.model import DesiredAccount, Entitlement, Outcome
from iam.plan import plan_provisioning
from iam.secrets import Secret
from tests.support.conformance import ConnectorConformance, Unreadable
from tests.support.seam import FakeSeam, SeamAdmin, Seed
from tests.support.slapd import free_port

JANE = "jane"
SYSTEM = "doors"


def levels(*names: str) -> frozenset[Entitlement]:
    return frozenset(Entitlement("access-level", n) for n in names)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2025, 3, 3, 15, 0, tzinfo=UTC))  # 10:00 at the site (UTC-5)


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeSeam]:
    server = FakeSeam(tmp_path / "seam")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def seed(fake: FakeSeam) -> Seed:
    assert fake.seed
    return fake.seed


@pytest.fixture
def admin(fake: FakeSeam) -> SeamAdmin:
    return fake.admin()


@pytest.fixture
def jane(admin: SeamAdmin, seed: Seed) -> str:
    """jane@example.com in Lobby and Lab with one card; a second person shares Lobby."""
    user = admin.add_user(
        "jane@example.com", "Jane Doe", [seed.access_groups["Lobby"], seed.access_groups["Lab"]]
    )
    admin.add_credential(user, "5001")
    other = admin.add_user("jane.roe@example.com", "Jane Roe", [seed.access_groups["Lobby"]])
    admin.add_credential(other, "5002")
    return user


def make(fake: FakeSeam, clock: FakeClock, **overrides: object) -> SeamBadgeConnector:
    settings = fake.settings(email_domain="example.com", timezone="Etc/GMT+5", **overrides)
    return SeamBadgeConnector(SYSTEM, settings, now=clock)


@pytest.fixture
def connector(fake: FakeSeam, jane: str, clock: FakeClock) -> Iterator[SeamBadgeConnector]:
    c = make(fake, clock)
    yield c
    c.close()


class TestConformance(ConnectorConformance):
    @pytest.fixture
    def holder(self) -> str:
        return JANE

    @pytest.fixture
    def spare(self) -> Entitlement:
        return Entitlement("access-level", "Finance")

    @pytest.fixture
    def unreachable(self, clock: FakeClock) -> Iterator[SeamBadgeConnector]:
        settings = {
            "url": f"http://127.0.0.1:{free_port()}",
            "api_key": "k",
            "acs_system_id": "s",
            "timeout": 2,
        }
        c = SeamBadgeConnector(SYSTEM, settings, now=clock)
        yield c
        c.close()

    @pytest.fixture
    def unreadable(self, fake: FakeSeam, jane: str, seed: Seed, clock: FakeClock) -> Iterator[Unreadable]:
        """A key of another workspace: Seam would list the system's users as none; that is not "no one"."""
        c = make(fake, clock, api_key=seed.other_workspace_api_key)
        yield Unreadable(c, "set acs_system_id")
        c.close()


def terminate(c: SeamBadgeConnector, username: str) -> list[contract.StepSpec]:
    state = c.read_account(username)
    assert state is not None
    steps = c.termination_steps(state)
    for step in steps:
        assert contract.perform(c, username, step).changed, step
    return steps


# termination ----------------------------------------------------------------------------------


def test_a_leaver_is_suspended_and_loses_every_credential_and_group_as_seam_sees_it(
    connector: SeamBadgeConnector, admin: SeamAdmin, seed: Seed, jane: str
) -> None:
    admin.call(
        "/acs/users/add_to_access_group",
        acs_user_id=jane,
        acs_access_group_id=seed.access_groups["Server Room"],
    )
    second = admin.add_credential(jane, "5003")  # issued at the desk: no policy names it
    steps = terminate(connector, JANE)
    assert [s.op for s in steps] == [contract.Op.DISABLE] + [contract.Op.REVOKE_CREDENTIAL] * 2 + [
        contract.Op.REVOKE
    ] * 3
    user = admin.user(jane)
    assert user["is_suspended"] is True  # kept, suspended: never deleted
    assert admin.credentials_of(jane) == [] and second not in admin.credentials_of(jane)
    assert admin.groups_of(jane) == set()
    assert all(jane not in admin.members(g) for g in seed.access_groups.values())
    after = connector.read_account(JANE)
    assert after is not None and after.remaining_access() == [] and connector.termination_steps(after) == []
    other = next(u for u in admin.users() if u["email_address"] == "jane.roe@example.com")
    assert other["is_suspended"] is False and admin.groups_of(other["acs_user_id"]) == {"Lobby"}
    assert len(admin.credentials_of(other["acs_user_id"])) == 1


def test_disable_suspends_and_enable_lifts_it_without_reviving_a_credential(
    connector: SeamBadgeConnector, admin: SeamAdmin, jane: str
) -> None:
    assert connector.disable(JANE).outcome == Outcome.UPDATED
    assert connector.disable(JANE).outcome == Outcome.UNCHANGED
    assert admin.user(jane)["is_suspended"] is True
    state = connector.read_account(JANE)
    assert state is not None and not state.enabled
    (credential,) = state.credentials
    assert connector.revoke_credential(JANE, credential.id).outcome == Outcome.UPDATED
    assert connector.enable(JANE).outcome == Outcome.UPDATED
    assert admin.user(jane)["is_suspended"] is False and admin.credentials_of(jane) == []
    assert connector.enable(JANE).outcome == Outcome.UNCHANGED


# joiners and movers, planned by iam's planner -------------------------------------------------------


def provision(
    c: SeamBadgeConnector, username: str, want: frozenset[Entitlement], kind: str, **attributes: str
) -> list[str]:
    desired = {SYSTEM: DesiredAccount(want, {"family_name": "Person", **attributes})}
    plan = plan_provisioning(kind, username, desired, {SYSTEM: c.read_account(username)}, {SYSTEM: c})
    assert plan.errors == {}
    for step in plan.steps:
        assert contract.perform(c, username, step.spec).changed, step.line()
    return [s.line() for s in plan.steps]


def test_a_joiner_is_created_and_gets_the_groups_of_their_role_before_any_credential(
    connector: SeamBadgeConnector, admin: SeamAdmin, seed: Seed
) -> None:
    lines = provision(
        connector, "nora", levels("Lobby", "Lab"), "joiner", given_name="Nora", email="nora@example.com"
    )
    assert lines == [
        "doors: create the account",
        "doors: grant access-level Lab",
        "doors: grant access-level Lobby",
    ]
    (nora,) = [u for u in admin.users() if u["email_address"] == "nora@example.com"]
    assert nora["full_name"] == "Nora Person" and nora["is_suspended"] is False
    assert admin.groups_of(nora["acs_user_id"]) == {"Lobby", "Lab"}
    assert admin.credentials_of(nora["acs_user_id"]) == []
    assert provision(connector, "nora", levels("Lobby", "Lab"), "joiner") == []  # nothing left to do


def test_a_mover_changes_groups(connector: SeamBadgeConnector, admin: SeamAdmin, jane: str) -> None:
    lines = provision(connector, JANE, levels("Lobby", "Finance"), "mover")
    assert lines == ["doors: grant access-level Finance", "doors: revoke access-level Lab"]
    assert admin.groups_of(jane) == {"Lobby", "Finance"}
    assert len(admin.credentials_of(jane)) == 1  # a mover keeps their card


def test_a_level_the_site_does_not_have_says_so(connector: SeamBadgeConnector) -> None:
    with pytest.raises(errors.InvalidAttribute, match="no access level named 'Roof'"):
        connector.grant(JANE, Entitlement("access-level", "Roof"))


# the end-date rule ----------------------------------------------------------------------------


def test_a_contractor_access_ends_at_midnight_after_the_end_date_and_follows_hr(
    connector: SeamBadgeConnector, admin: SeamAdmin, jane: str, clock: FakeClock
) -> None:
    state = connector.read_account(JANE)
    assert state is not None
    delta = connector.attribute_delta(state, {"end_date": "2025-03-10"})
    assert delta is not None
    assert connector.update_account(JANE, delta).outcome == Outcome.UPDATED
    assert admin.user(jane)["access_schedule"]["ends_at"] == "2025-03-11T05:00:00.000Z"  # midnight at UTC-5
    after = connector.read_account(JANE)
    assert after is not None and connector.attribute_delta(after, {"end_date": "2025-03-10"}) is None
    later = connector.attribute_delta(after, {"end_date": "2025-04-30"})
    assert later is not None and connector.update_account(JANE, later).outcome == Outcome.UPDATED
    assert admin.user(jane)["access_schedule"]["ends_at"] == "2025-05-01T05:00:00.000Z"
    clock.advance(days=20)  # HR gives an end date that has already passed: access ends now, not in the past
    past = connector.attribute_delta(connector.read_account(JANE), {"end_date": "2025-03-20"})  # type: ignore[arg-type]
    assert past is not None and "now" in connector.update_account(JANE, past).detail
    assert admin.user(jane)["access_schedule"]["ends_at"] == "2025-03-23T15:00:00.000Z"
    assert connector.attribute_delta(connector.read_account(JANE), {}) is None  # type: ignore[arg-type]


def test_a_contractor_created_by_iam_has_their_access_end_from_the_start(
    connector: SeamBadgeConnector, admin: SeamAdmin
) -> None:
    attributes = {
        "given_name": "Cy",
        "family_name": "Temp",
        "email": "cy@example.com",
        "end_date": "2025-03-10",
    }
    created = connector.create_account("cy", attributes)
    assert created.outcome == Outcome.CREATED and "access until 2025-03-11T00:00:00-05:00" in created.detail
    (cy,) = [u for u in admin.users() if u["email_address"] == "cy@example.com"]
    assert cy["access_schedule"]["ends_at"] == "2025-03-11T05:00:00.000Z"
    state = connector.read_account("cy")
    assert (
        state is not None and connector.attribute_delta(state, attributes) is None
    )  # nothing left to follow


def test_an_end_date_never_revives_a_suspended_person(
    connector: SeamBadgeConnector, admin: SeamAdmin, jane: str
) -> None:
    connector.disable(JANE)
    state = connector.read_account(JANE)
    assert state is not None and connector.attribute_delta(state, {"end_date": "2025-12-31"}) is None
    delta = contract.AttributeDelta(replace={"end_date": ["2025-12-31"]})
    assert connector.update_account(JANE, delta).outcome == Outcome.UNCHANGED
    assert "access_schedule" not in admin.user(jane)


# matching, refusals, secrets --------------------------------------------------------------------


def test_people_are_matched_by_their_email_never_by_name(connector: SeamBadgeConnector, jane: str) -> None:
    state = connector.read_account(JANE)
    assert state is not None and state.attributes["cardholder_id"] == jane
    assert connector.read_account("Jane Doe") is None and connector.read_account("") is None
    assert {a.username for a in connector.iter_accounts()} == {JANE, "jane.roe"}
    with pytest.raises(errors.ConfigError, match="name"):
        SeamBadgeConnector(SYSTEM, {"api_key": "k", "acs_system_id": "s", "match_key": "full_name"})
    with pytest.raises(errors.ConfigError, match="email_domain"):
        SeamBadgeConnector(
            SYSTEM,
            {"api_key": "k", "acs_system_id": "s", "match_key": "phone_number", "email_domain": "x.org"},
        )


def test_two_users_with_one_email_stop_the_system_and_nothing_changes(
    connector: SeamBadgeConnector, admin: SeamAdmin, jane: str
) -> None:
    twin = admin.add_user("jane@example.com", "Jane Doe (duplicate)")
    with pytest.raises(errors.AmbiguousAccount, match="2 cardholders"):
        connector.read_account(JANE)
    with pytest.raises(errors.AmbiguousAccount):
        connector.disable(JANE)
    assert admin.user(jane)["is_suspended"] is False and admin.user(twin)["is_suspended"] is False


def test_a_wrong_api_key_is_authentication_failed_and_never_shown(
    fake: FakeSeam, jane: str, clock: FakeClock
) -> None:
    wrong = "seam_wrongkey_7f1c2d9e"
    caught: list[BaseException] = []
    for settings in ({"api_key": Secret(wrong)}, {"api_key": wrong}):
        c = make(fake, clock, **settings)
        with pytest.raises(errors.AuthenticationFailed, match="check api_key") as failure:
            c.check()
        caught.append(failure.value)
    for exc in caught:
        text = str(exc) + repr(exc) + "".join(traceback.format_exception(exc))
        assert wrong not in text, text


def test_check_names_the_system_and_what_a_leaver_loses(connector: SeamBadgeConnector) -> None:
    said = connector.check()
    assert "Seam Salto site 'HQ (Salto KS)'" in said and "email_address (username@example.com)" in said


# the routes answered in front of the fake follow Seam's own client ---------------------------------------


def test_seams_python_sdk_reads_and_removes_through_the_routes_the_fake_lacks(
    seed: Seed, admin: SeamAdmin, jane: str
) -> None:
    """`seam`, Seam's published client, calls them its way (GET, DELETE with a query) and parses them."""
    sdk = Seam(api_key=seed.api_key, endpoint=seed.url, retries=Retry(total=0))
    assert {g.name for g in sdk.acs.access_groups.list(acs_user_id=jane)} == {"Lobby", "Lab"}
    assert {g.name for g in sdk.acs.access_groups.list(acs_system_id=seed.acs_system_id)} >= {
        "Lobby",
        "Finance",
    }
    assert jane in {
        u.acs_user_id for u in sdk.acs.access_groups.list_users(acs_access_group_id=seed.access_groups["Lab"])
    }
    (card,) = sdk.acs.credentials.list(acs_user_id=jane)
    assert (
        card.card_number == "5001"
        and sdk.acs.credentials.get(acs_credential_id=card.acs_credential_id).acs_user_id == jane
    )
    sdk.acs.credentials.delete(acs_credential_id=card.acs_credential_id)
    assert admin.credentials_of(jane) == []


def test_a_seam_outage_is_a_transient_error_and_a_retry_after_it_succeeds(
    connector: SeamBadgeConnector, admin: SeamAdmin, seed: Seed, jane: str
) -> None:
    """The fake's own outage switch: its routes answer 503 until it is lifted."""
    workspace = admin.user(jane)["workspace_id"]
    admin.call("/_fake/simulate_workspace_outage", workspace_id=workspace, routes=["/acs/users/suspend"])
    with pytest.raises(errors.TransientError, match="Seam failed") as caught:
        connector.disable(JANE)
    assert caught.value.retryable and admin.user(jane)["is_suspended"] is False
    admin.call("/_fake/simulate_workspace_outage", workspace_id=workspace, routes=[])
    assert connector.disable(JANE).outcome == Outcome.UPDATED  # what the engine's retry finds
    assert admin.user(jane)["is_suspended"] is True
