"""The Keycloak connector where a real server cannot be made to misbehave on demand: the emulator.

A 503 burst, a 429 with its Retry-After, a 404 for part of a user who exists,
a session that outlives the logout (a login racing it on another node), and
token expiry by an injected clock (counting each grant python-keycloak
makes). Also the settings checks, which need no server. Everything else the
connector does is tested against a real Keycloak in
``test_keycloak_connector.py``, and the emulator is held to the real server
by ``tests/emulators/test_keycloak_differential.py``.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from pathlib import Path

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
from iam.model import Outcome
from iam.retry import call_with_retry
from iam.secrets import Secret

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


# termination ---------------------------------------------------------------------------------------


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


def test_a_long_lived_connector_trimmed_to_query_users_never_reads_anyone_as_no_account(
    kc: KeycloakEmulator, clock: FakeClock, connector: KeycloakConnector
) -> None:
    """`iam serve` keeps one connector for its life: a right proven at start may be gone by now."""
    assert connector.read_account("nobody-here") is None  # the right was proven here
    kc.set_admin_roles(REALM, SERVICE_ACCOUNT, ["query-users"])
    clock.advance(301)  # the next token carries the trimmed roles
    with pytest.raises(errors.PermissionDenied, match="cannot be told from 'not allowed to see'"):
        connector.read_account("alice")
    with pytest.raises(errors.PermissionDenied, match="'view-users'"):
        connector.disable("alice")
    assert kc.user(REALM, "alice").enabled


def test_a_sweep_whose_rights_are_trimmed_midway_is_an_error_not_fewer_users(
    kc: KeycloakEmulator, clock: FakeClock
) -> None:
    sweep = make(kc, page_size=1).iter_accounts()
    assert next(sweep).username == "alice"
    kc.set_admin_roles(REALM, SERVICE_ACCOUNT, ["query-users"])
    clock.advance(301)  # the next page is asked with a token that may no longer view anyone
    with pytest.raises(errors.PermissionDenied, match="'view-users'"):
        list(sweep)


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
    collect(lambda: make(kc).disable("alice"))
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
