"""The Keycloak connector against the Admin-API emulator: conformance, termination, tokens, errors.

Everything is driven through the connector (python-keycloak underneath, over
real HTTP); the emulator is only seeded and looked at, as a test of the LDAP
connector looks at slapd. Time moves by the emulator's injected clock.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from iam.connectors.keycloak import KeycloakConnector
from iam.lab.keycloak import FakeClock, KeycloakEmulator
from iam.lab.keycloak.seed import (
    ADMIN_PASSWORD,
    REALM,
    SWEEPER,
    SWEEPER_SECRET,
    closed_port,
    seed,
    settings,
)

from iam import contract, errors, registry
from iam.config import RetryPolicy, load_config
from iam.model import Entitlement, Outcome
from iam.retry import call_with_retry
from iam.secrets import Secret
from tests.support.conformance import MISSING, ConnectorConformance, Unreadable

SERVICE_ACCOUNT = f"service-account-{SWEEPER}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def kc(clock: FakeClock) -> Iterator[KeycloakEmulator]:
    with KeycloakEmulator(clock=clock, admin_password=ADMIN_PASSWORD) as emulator:
        seed(emulator)
        yield emulator


def make(kc: KeycloakEmulator, **overrides: object) -> KeycloakConnector:
    return KeycloakConnector(
        "sso", {**settings(kc, client_secret=Secret(SWEEPER_SECRET, "test")), **overrides}
    )


def as_admin_user(kc: KeycloakEmulator, **overrides: object) -> KeycloakConnector:
    """Master's admin user by password grant to admin-cli, as python-keycloak's default."""
    base = {k: v for k, v in settings(kc).items() if k not in ("client_id", "auth_realm")}
    return KeycloakConnector(
        "sso", {**base, "username": "admin", "password": Secret(ADMIN_PASSWORD), **overrides}
    )


@pytest.fixture
def connector(kc: KeycloakEmulator) -> Iterator[KeycloakConnector]:
    conn = make(kc)
    yield conn
    conn.close()


@pytest.fixture
def holder() -> str:
    return "alice"


@pytest.fixture
def spare() -> Entitlement:
    return Entitlement("realm-role", "finance")


@pytest.fixture
def unreachable(kc: KeycloakEmulator) -> KeycloakConnector:
    return make(kc, server_url=f"http://127.0.0.1:{closed_port()}", timeout=1)


#: A second service account that may search users but not view them (realm-management query-users only).
PEEKER, PEEKER_SECRET = "iam-peeker", "peeker-S3cret-77a1"


def query_only(kc: KeycloakEmulator) -> KeycloakConnector:
    kc.add_client(REALM, PEEKER, secret=PEEKER_SECRET, service_account=True, admin_roles=["query-users"])
    return make(kc, client_id=PEEKER, client_secret=Secret(PEEKER_SECRET, "test"))


@pytest.fixture
def unreadable(kc: KeycloakEmulator) -> Iterator[Unreadable]:
    """An admin shown no user (query-users without view-users): its empty search proves nothing."""
    conn = query_only(kc)
    yield Unreadable(conn, "view-users")
    conn.close()


class TestKeycloakConformance(ConnectorConformance):
    pass


def offline_token_refreshes(kc: KeycloakEmulator, token: str) -> bool:
    form = {"grant_type": "refresh_token", "client_id": "app", "refresh_token": token}
    return httpx.post(f"{kc.url}/realms/{REALM}/protocol/openid-connect/token", data=form).status_code == 200


def terminate(connector: KeycloakConnector, username: str) -> list[contract.StepSpec]:
    state = connector.read_account(username)
    assert state is not None
    steps = connector.termination_steps(state)
    for step in steps:
        assert contract.perform(connector, username, step).changed, step
    return steps


# termination ---------------------------------------------------------------------------------------


def test_a_leaver_loses_sessions_offline_tokens_roles_groups_and_links(
    kc: KeycloakEmulator, connector: KeycloakConnector
) -> None:
    login = kc.login(REALM, "alice", "app", offline=True, consent=["profile", "email"])
    before = connector.read_account("alice")
    assert before is not None
    assert [s.id for s in before.sessions] == [login.session_id]
    assert {c.id for c in before.credentials} == {"consent:app", "idp:google"}
    assert offline_token_refreshes(kc, login.offline_token or "")

    terminate(connector, "alice")

    after = connector.read_account("alice")
    assert after is not None
    assert not after.enabled and not after.entitlements and not after.sessions and not after.credentials
    assert after.remaining_access() == []
    realm, alice = kc.realm(REALM), kc.user(REALM, "alice")
    assert realm.sessions_of(alice.id, offline=False) == realm.sessions_of(alice.id, offline=True) == []
    assert not alice.roles and not alice.groups and not alice.consents and not alice.links
    assert not offline_token_refreshes(kc, login.offline_token or "")
    assert kc.user(REALM, "bob").roles, "nobody else is touched"


def test_terminating_again_changes_nothing(kc: KeycloakEmulator, connector: KeycloakConnector) -> None:
    kc.login(REALM, "alice", "app", offline=True)
    steps = terminate(connector, "alice")
    after = connector.read_account("alice")
    assert after is not None and connector.termination_steps(after) == []
    assert {contract.perform(connector, "alice", s).outcome for s in steps} == {Outcome.UNCHANGED}


def test_termination_disables_first_and_unlinks_identity_providers_last(
    kc: KeycloakEmulator, connector: KeycloakConnector
) -> None:
    kc.login(REALM, "alice", "app", offline=True)
    state = connector.read_account("alice")
    assert state is not None
    ops = [(s.op, (s.target or "").split(":")[0]) for s in connector.termination_steps(state)]
    assert ops == [
        (contract.Op.DISABLE, ""),
        (contract.Op.END_SESSIONS, ""),
        (contract.Op.REVOKE_CREDENTIAL, "consent"),
        (contract.Op.REVOKE, "realm-role"),
        (contract.Op.REVOKE, "realm-role"),
        (contract.Op.REVOKE, "client-role"),
        (contract.Op.REVOKE, "client-role"),
        (contract.Op.REVOKE, "group"),
        (contract.Op.REVOKE_CREDENTIAL, "idp"),
    ]
    assert contract.Op.DELETE not in {op for op, _ in ops}, "deletion is a separate retention step"


def test_a_session_that_outlives_the_logout_is_ended_on_its_own(
    kc: KeycloakEmulator, connector: KeycloakConnector
) -> None:
    first, racing = kc.login(REALM, "alice", "app"), kc.login(REALM, "alice", "portal")
    kc.outlive_logout(racing.session_id)
    assert connector.end_sessions("alice").outcome == Outcome.UPDATED
    assert kc.realm(REALM).sessions_of(kc.user(REALM, "alice").id, offline=False) == []
    assert [e.status for e in kc.calls("/{realm}/sessions/{session}", "DELETE")] == [204]
    assert first.session_id != racing.session_id
    assert connector.end_sessions("alice").outcome == Outcome.UNCHANGED


def test_deleting_is_separate_and_leaves_nothing(kc: KeycloakEmulator, connector: KeycloakConnector) -> None:
    assert connector.delete_account("bob").outcome == Outcome.UPDATED
    assert connector.read_account("bob") is None
    assert connector.delete_account("bob").outcome == Outcome.ABSENT


# reading --------------------------------------------------------------------------------------------


def test_a_sweep_reads_every_user_across_pages(kc: KeycloakEmulator) -> None:
    for n in range(7):
        kc.add_user(REALM, f"user{n:02}")
    conn = make(kc, page_size=3)
    names = [s.username for s in conn.iter_accounts()]
    assert names == sorted(["alice", "bob"] + [f"user{n:02}" for n in range(7)])
    pages = [
        (e.query["first"], len(e.response)) for e in kc.calls("/{realm}/users") if "exact" not in e.query
    ]
    assert pages == [("0", 3), ("3", 3), ("6", 3), ("9", 0)]  # a full last page costs one empty one


def test_a_user_is_read_with_every_kind_of_access(kc: KeycloakEmulator, connector: KeycloakConnector) -> None:
    state = connector.read_account("ALICE")
    assert state is not None and state.username == "alice" and state.ref == kc.user(REALM, "alice").id
    assert {str(e) for e in state.entitlements} == {
        "realm-role:default-roles-acme",
        "realm-role:employee",
        "client-role:app/viewer",
        "client-role:portal/admin",
        "group:/staff/eng",
    }
    assert state.created is not None and state.last_login is None


# tokens ---------------------------------------------------------------------------------------------


def test_a_service_account_token_that_expires_mid_sweep_is_renewed(
    kc: KeycloakEmulator, clock: FakeClock
) -> None:
    conn = make(kc, page_size=1)
    sweep = conn.iter_accounts()
    assert next(sweep).username == "alice"
    clock.advance(301)  # acme's access tokens live 300 s; python-keycloak's wall clock has not moved
    assert [s.username for s in sweep] == ["bob"]
    assert kc.token_grants() == ["client_credentials", "client_credentials"]  # no refresh token to use
    assert [e.status for e in kc.calls()].count(401) == 1


def test_an_admin_user_refreshes_then_logs_in_again(kc: KeycloakEmulator, clock: FakeClock) -> None:
    conn = as_admin_user(kc)
    assert conn.read_account("alice") is not None
    clock.advance(61)  # master's 60 s admin token
    assert conn.read_account("bob") is not None
    clock.advance(3600)  # past the refresh token's idle time too
    assert conn.read_account("alice") is not None
    assert kc.token_grants() == ["password", "refresh_token", "refresh_token", "password"]


# errors ---------------------------------------------------------------------------------------------


def test_a_503_burst_is_transient_and_the_engine_retry_gets_through(
    kc: KeycloakEmulator, connector: KeycloakConnector
) -> None:
    connector.check()
    kc.fail_next(3, 503)
    with pytest.raises(errors.TransientError, match="503"):
        connector.read_account("alice")
    waits: list[float] = []
    policy = RetryPolicy(attempts=5, initial_wait=0.5, max_wait=4)
    state = call_with_retry(lambda: connector.read_account("alice"), policy, sleep=waits.append)
    assert state is not None and state.username == "alice"
    assert len(waits) == 2  # two more 503s, then through: tenacity waited (by a fake sleep) twice


def test_429_is_rate_limited_with_its_retry_after_and_not_retried_below(
    kc: KeycloakEmulator, connector: KeycloakConnector
) -> None:
    connector.check()
    seen = len(kc.exchanges)
    kc.fail_next(1, 429, retry_after=7)
    with pytest.raises(errors.RateLimited) as caught:
        connector.read_account("alice")
    assert caught.value.retry_after == 7
    assert len(kc.exchanges) == seen + 1, (
        "neither python-keycloak nor urllib3 may retry (or sleep) on its own"
    )


def test_a_missing_admin_role_is_permission_denied_naming_it(
    kc: KeycloakEmulator, connector: KeycloakConnector
) -> None:
    kc.set_admin_roles(REALM, SERVICE_ACCOUNT, ["view-users"])
    with pytest.raises(errors.PermissionDenied, match="'manage-users'"):
        connector.disable("alice")
    assert kc.user(REALM, "alice").enabled
    kc.set_admin_roles(REALM, SERVICE_ACCOUNT, ["manage-users"])
    with pytest.raises(errors.PermissionDenied, match="'view-realm'"):
        connector.grant("alice", Entitlement("realm-role", "finance"))
    kc.set_admin_roles(REALM, SERVICE_ACCOUNT, [])
    with pytest.raises(errors.PermissionDenied, match=r"'view-users'.*realm acme"):
        connector.read_account("alice")


def test_an_admin_that_may_only_query_users_never_reads_as_no_account(kc: KeycloakEmulator) -> None:
    """Keycloak answers such an admin's searches with nobody, not 403: that must not read as "no account"."""
    conn = query_only(kc)
    with pytest.raises(
        errors.PermissionDenied, match=r"'view-users'.*cannot be told from 'not allowed to see'"
    ):
        conn.read_account("alice")
    with pytest.raises(errors.PermissionDenied, match="'view-users'"):
        conn.disable("alice")
    assert kc.user(REALM, "alice").enabled
    with pytest.raises(errors.PermissionDenied, match="'view-users'"):
        conn.check()
    kc.set_admin_roles(REALM, f"service-account-{PEEKER}", ["query-users", "view-users"])
    assert conn.read_account("alice") is not None and conn.read_account(MISSING) is None


def test_a_404_for_part_of_a_user_who_exists_is_an_error_not_absent(
    kc: KeycloakEmulator, connector: KeycloakConnector
) -> None:
    kc.fail_next(1, 404, template="/{realm}/users/{id}/role-mappings")
    with pytest.raises(errors.IncompleteRead, match="could not be read in full"):
        connector.read_account("alice")
    kc.fail_next(1, 404, template="/{realm}/users/{id}/role-mappings")
    with pytest.raises(errors.IncompleteRead):
        list(connector.iter_accounts())


def test_a_user_deleted_while_being_read_is_absent(
    kc: KeycloakEmulator, connector: KeycloakConnector
) -> None:
    kc.fail_next(1, 404, template="/{realm}/users/{id}/role-mappings")
    kc.realm(REALM).users.pop(kc.user(REALM, "bob").id)  # gone before the read that 404s
    assert connector.read_account("bob") is None


def test_bad_credentials_fail_authentication(kc: KeycloakEmulator) -> None:
    with pytest.raises(errors.AuthenticationFailed, match="client iam-sweeper"):
        make(kc, client_secret=Secret("wrong-secret-123")).check()
    with pytest.raises(errors.AuthenticationFailed, match=r"user admin.*Invalid user credentials"):
        as_admin_user(kc, password=Secret("wrong-password-123")).check()


def test_an_unknown_user_is_none_and_every_operation_absent(connector: KeycloakConnector) -> None:
    assert connector.read_account(MISSING) is None
    assert connector.enable(MISSING).outcome == Outcome.ABSENT
    assert connector.revoke_credential(MISSING, "consent:app").outcome == Outcome.ABSENT
    assert connector.revoke_credential(MISSING, "idp:google").outcome == Outcome.ABSENT
    assert connector.delete_account(MISSING).outcome == Outcome.ABSENT


def test_a_realm_that_does_not_exist_is_an_error_not_an_absent_account(kc: KeycloakEmulator) -> None:
    conn = as_admin_user(kc, realm="acmee")  # master's admin reaches every realm, so the realm answers 404
    for action in (conn.check, lambda: conn.read_account("alice"), lambda: conn.disable("alice")):
        with pytest.raises(errors.PermanentError, match="realm acmee does not exist"):
            action()


def test_no_secret_appears_in_any_error_text(kc: KeycloakEmulator) -> None:
    """Every failure the connector can raise, rendered every way a log or a traceback would."""
    failures: list[BaseException] = []

    def collect(action: object) -> None:
        try:
            action()  # type: ignore[operator]
        except errors.ConnectorError as exc:
            failures.append(exc)

    good = make(kc)
    collect(lambda: make(kc, client_secret=Secret("Wr0ng-s3cret-" + SWEEPER_SECRET)).check())
    collect(lambda: as_admin_user(kc, password=Secret("Wr0ng-" + ADMIN_PASSWORD)).check())
    collect(lambda: make(kc, server_url=f"http://127.0.0.1:{closed_port()}").check())
    for status in (503, 429, 500):
        kc.fail_next(1, status, retry_after=3)
        collect(good.check)
    kc.set_admin_roles(REALM, SERVICE_ACCOUNT, ["view-users"])
    collect(lambda: good.disable("alice"))
    assert len(failures) == 7
    texts = [f"{e}\n{e!r}\n{''.join(traceback.format_exception(e))}" for e in failures]
    for secret in (SWEEPER_SECRET, ADMIN_PASSWORD):
        assert not [t for t in texts if secret in t]


def test_secrets_are_revealed_only_for_the_token_request_that_sends_them(
    kc: KeycloakEmulator, clock: FakeClock
) -> None:
    for conn, secret in ((make(kc), SWEEPER_SECRET), (as_admin_user(kc), ADMIN_PASSWORD)):
        description = conn.check()
        clock.advance(3600)  # force a renewal: the secret is needed, and must be put away again
        assert "\n" not in conn.check() and description
        held = [vars(conn.api.connection), vars(conn.api.connection.keycloak_openid)]
        assert not [v for attrs in held for v in attrs.values() if isinstance(v, str) and secret in v]


# entitlements ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entitlement",
    ["realm-role:finance", "realm-role:Order Viewer", "client-role:app/editor", "group:/contractors"],
)
def test_grant_gives_exactly_the_named_entitlement(
    kc: KeycloakEmulator, connector: KeycloakConnector, entitlement: str
) -> None:
    wanted = contract.parse_entitlement(entitlement)
    before = connector.read_account("alice")
    roles_before = set(kc.user(REALM, "alice").roles)
    assert before is not None and wanted not in before.entitlements
    assert connector.grant("alice", wanted).outcome == Outcome.UPDATED
    after = connector.read_account("alice")
    assert after is not None and after.entitlements == before.entitlements | {wanted}
    assert len(kc.user(REALM, "alice").roles - roles_before) == (0 if wanted.kind == "group" else 1)
    assert connector.revoke("alice", wanted).outcome == Outcome.UPDATED
    assert connector.read_account("alice") == before


def test_granting_what_does_not_exist_is_invalid(connector: KeycloakConnector) -> None:
    for text in (
        "realm-role:nope",
        "client-role:app/nope",
        "client-role:nope/viewer",
        "group:/nope",
        "team:x",
    ):
        with pytest.raises(errors.InvalidAttribute):
            connector.grant("alice", contract.parse_entitlement(text))


def test_managed_clients_bound_what_may_be_granted_but_not_what_is_revoked(kc: KeycloakEmulator) -> None:
    conn = make(kc, managed_clients=["app"])
    assert conn.grant("alice", Entitlement("client-role", "app/editor")).changed
    with pytest.raises(errors.Unsupported, match="managed_clients"):
        conn.grant("alice", Entitlement("client-role", "realm-management/manage-users"))
    assert conn.revoke("alice", Entitlement("client-role", "portal/admin")).changed


# settings and registration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"realm": ""}, "realm"),
        ({"client_secret": None}, "client_id and client_secret"),
        ({"client_secret": None, "username": "admin"}, "client_id and client_secret"),
        (
            {"client_id": None, "username": "admin", "password": Secret("x-y-z-w")},
            "'client_id' is a dependency",
        ),
        ({"verify_tls": "no"}, "verify_tls"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_settings_are_checked(kc: KeycloakEmulator, overrides: dict[str, object], complaint: str) -> None:
    values = {**settings(kc, client_secret=Secret(SWEEPER_SECRET)), **overrides}
    with pytest.raises(errors.ConfigError, match=complaint) as caught:
        KeycloakConnector("sso", {k: v for k, v in values.items() if v is not None})
    assert SWEEPER_SECRET not in str(caught.value)


def test_tls_is_verified_unless_turned_off_by_name(kc: KeycloakEmulator) -> None:
    assert make(kc).api.connection.verify is True
    assert make(kc, verify_tls=False).api.connection.verify is False


def test_the_connector_is_found_by_its_entry_point() -> None:
    cls = registry.load_connector_class("keycloak")
    assert cls is KeycloakConnector
    assert contract.Capability.TERMINATE in cls.capabilities()
    assert contract.Capability.CREATE not in cls.capabilities()


def test_a_configuration_file_reaches_keycloak_with_its_secret_from_the_environment(
    kc: KeycloakEmulator, tmp_path: Path
) -> None:
    """The core validates the settings model, resolving secrets; the connector gets a Secret."""
    system = {"type": "keycloak", **settings(kc), "client_secret": {"env": "KC_SWEEPER_SECRET"}}
    path = tmp_path / "iam.yaml"
    path.write_text(yaml.safe_dump({"systems": {"sso": system}}))
    config = load_config(path, environ={"KC_SWEEPER_SECRET": SWEEPER_SECRET})
    (sso,) = config.systems
    assert isinstance(sso.settings.client_secret, Secret)
    conn = registry.load_connector_class(sso.type)(sso.name, sso.settings)
    assert "realm acme" in conn.check()
    system["verify_tls"] = "off"
    path.write_text(yaml.safe_dump({"systems": {"sso": system}}))
    with pytest.raises(errors.ConfigError, match="verify_tls"):
        load_config(path, environ={"KC_SWEEPER_SECRET": SWEEPER_SECRET})
