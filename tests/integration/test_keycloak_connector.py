"""The Keycloak connector against a real Keycloak: conformance, termination, tokens, errors.

Everything is driven through the connector (python-keycloak underneath);
what is left is looked at from outside, through Keycloak's own token
endpoint (can this person still log in or refresh?) and its admin API. Each
test has a realm of its own (the `realm` fixture). Faults a real server
cannot be made to produce on demand (a 503 burst, a 429, a user deleted
between two reads) are in ``test_keycloak_faults.py``, on the emulator.
"""

from __future__ import annotations

import base64
import json
import traceback
from collections.abc import Iterator

import pytest
from iam.connectors.keycloak import KeycloakConnector
from iam.lab.keycloak.seed import SWEEPER, SWEEPER_SECRET, closed_port

from iam import contract, errors
from iam.model import Entitlement, Outcome
from iam.secrets import Secret
from tests.support.conformance import MISSING, ConnectorConformance, Unreadable
from tests.support.keycloak import ADMIN_PASSWORD, ADMIN_USER
from tests.support.realms import RealRealm, Tokens

SERVICE_ACCOUNT = f"service-account-{SWEEPER}"
#: A second service account that may search users but not view them (realm-management query-users only).
PEEKER, PEEKER_SECRET = "iam-peeker", "peeker-S3cret-77a1"


def make(on: RealRealm, **overrides: object) -> KeycloakConnector:
    return KeycloakConnector(
        "sso", {**on.settings(client_secret=Secret(SWEEPER_SECRET, "test")), **overrides}
    )


def as_admin_user(on: RealRealm, **overrides: object) -> KeycloakConnector:
    """Master's admin user by password grant to admin-cli, as python-keycloak's default."""
    base = {k: v for k, v in on.settings().items() if k not in ("client_id", "auth_realm")}
    return KeycloakConnector(
        "sso", {**base, "username": ADMIN_USER, "password": Secret(ADMIN_PASSWORD), **overrides}
    )


@pytest.fixture
def connector(realm: RealRealm) -> Iterator[KeycloakConnector]:
    conn = make(realm)
    yield conn
    conn.close()


@pytest.fixture
def holder() -> str:
    return "alice"


@pytest.fixture
def spare() -> Entitlement:
    return Entitlement("realm-role", "finance")


@pytest.fixture
def unreachable(realm: RealRealm) -> KeycloakConnector:
    return make(realm, server_url=f"http://127.0.0.1:{closed_port()}", timeout=1)


def query_only(realm: RealRealm) -> KeycloakConnector:
    realm.add_client(PEEKER, PEEKER_SECRET, ["query-users"])
    return make(realm, client_id=PEEKER, client_secret=Secret(PEEKER_SECRET, "test"))


@pytest.fixture
def unreadable(realm: RealRealm) -> Iterator[Unreadable]:
    """An admin shown no user (query-users without view-users): its empty search proves nothing."""
    conn = query_only(realm)
    yield Unreadable(conn, "view-users")
    conn.close()


class TestKeycloakConformance(ConnectorConformance):
    pass


def terminate(connector: KeycloakConnector, username: str) -> list[contract.StepSpec]:
    state = connector.read_account(username)
    assert state is not None
    steps = connector.termination_steps(state)
    for step in steps:
        assert contract.perform(connector, username, step).changed, step
    return steps


def refused(realm: RealRealm, tokens: Tokens) -> bool:
    answer = realm.refresh(tokens)
    return answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def issued_at(token: str) -> int:
    """The ``iat`` of a Keycloak token (a JWT; its signature is Keycloak's business, not ours)."""
    payload = token.split(".")[1]
    return int(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["iat"])


# termination ---------------------------------------------------------------------------------------


def test_a_leaver_can_no_longer_log_in_refresh_or_use_an_offline_token(
    realm: RealRealm, connector: KeycloakConnector
) -> None:
    offline = realm.login("alice", "app", offline=True)
    online = realm.login("alice", "portal")
    bobs = realm.login("bob", "portal", offline=True)
    bob_roles = realm.role_mappings("bob")
    before = connector.read_account("alice")
    assert before is not None
    assert [s.id for s in before.sessions] == [online.session]
    assert {c.id for c in before.credentials} == {"consent:app", "idp:google"}
    assert not refused(realm, offline) and not refused(realm, online)

    terminate(connector, "alice")

    after = connector.read_account("alice")
    assert after is not None and after.remaining_access() == []
    assert realm.password_login("alice", "alice-Passw0rd").status_code == 400  # "Account disabled"
    assert refused(realm, online) and refused(realm, offline)
    assert realm.sessions("alice") == realm.offline_sessions("alice") == []
    assert realm.role_mappings("alice") == {} and realm.groups("alice") == []
    assert realm.consents("alice") == [] and realm.links("alice") == []
    assert not refused(realm, bobs), "nobody else is touched"
    assert realm.role_mappings("bob") == bob_roles and realm.password_login("bob", "bob-Passw0rd").is_success


def test_terminating_again_changes_nothing(realm: RealRealm, connector: KeycloakConnector) -> None:
    realm.login("alice", "app", offline=True)
    steps = terminate(connector, "alice")
    after = connector.read_account("alice")
    assert after is not None and connector.termination_steps(after) == []
    assert {contract.perform(connector, "alice", s).outcome for s in steps} == {Outcome.UNCHANGED}


def test_termination_disables_first_and_unlinks_identity_providers_last(
    realm: RealRealm, connector: KeycloakConnector
) -> None:
    realm.login("alice", "app", offline=True)
    realm.login("alice", "portal")
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


def test_logout_stales_every_token_issued_in_an_earlier_second_offline_included(
    realm: RealRealm, connector: KeycloakConnector
) -> None:
    """Keycloak's logout sets the user's not-before time; a refresh token is refused exactly when it
    was issued in an earlier second. Whichever side of the second this run falls, the rule holds;
    the emulator's tests move its clock to see both sides."""
    offline = realm.login("alice", "app", offline=True)
    realm.login("alice", "portal")
    assert connector.end_sessions("alice").outcome == Outcome.UPDATED
    assert realm.sessions("alice") == [] and len(realm.offline_sessions("alice")) == 1
    not_before = realm.user("alice")["notBefore"]
    assert not_before >= issued_at(offline.refresh)
    assert refused(realm, offline) is (issued_at(offline.refresh) < not_before)
    assert connector.end_sessions("alice").outcome == Outcome.UNCHANGED


def test_deleting_is_separate_and_leaves_nothing(realm: RealRealm, connector: KeycloakConnector) -> None:
    assert connector.delete_account("bob").outcome == Outcome.UPDATED
    assert connector.read_account("bob") is None
    assert connector.delete_account("bob").outcome == Outcome.ABSENT


# reading --------------------------------------------------------------------------------------------


def test_a_sweep_reads_every_user_across_pages(realm: RealRealm) -> None:
    for n in range(7):
        realm.add_user(f"user{n:02}")
    names = [s.username for s in make(realm, page_size=3).iter_accounts()]
    assert sorted(names) == sorted(["alice", "bob"] + [f"user{n:02}" for n in range(7)])
    assert len(names) == len(set(names))


def test_a_user_is_read_with_every_kind_of_access(realm: RealRealm, connector: KeycloakConnector) -> None:
    state = connector.read_account("ALICE")
    assert state is not None and state.username == "alice" and state.ref == realm.user("alice")["id"]
    assert {str(e) for e in state.entitlements} == {
        f"realm-role:default-roles-{realm.name}",
        "realm-role:employee",
        "client-role:app/viewer",
        "client-role:portal/admin",
        "group:/staff/eng",
    }
    assert state.created is not None and state.last_login is None
    assert state.attributes == {"email": "alice@acme.example", "firstName": "Alice", "lastName": "Liddell"}


# tokens ---------------------------------------------------------------------------------------------


def test_a_service_account_token_that_dies_mid_sweep_is_renewed(realm: RealRealm) -> None:
    """The realm's signing key is replaced: the token in hand is refused (401) as an expired one is,
    without waiting for time to pass; python-keycloak takes a new one and the sweep goes on."""
    conn = make(realm, page_size=1)
    sweep = conn.iter_accounts()
    assert next(sweep).username == "alice"
    realm.rotate_keys()
    assert [s.username for s in sweep] == ["bob"]


def test_secrets_are_revealed_only_for_the_token_request_that_sends_them(realm: RealRealm) -> None:
    conn = make(realm)
    assert conn.check()
    realm.rotate_keys()  # force a renewal: the secret is needed, and must be put away again
    assert "\n" not in conn.check()
    held = [vars(conn.api.connection), vars(conn.api.connection.keycloak_openid)]
    assert not [v for attrs in held for v in attrs.values() if isinstance(v, str) and SWEEPER_SECRET in v]


def test_check_names_the_access_token_lifespan_a_termination_cannot_shorten(
    realm: RealRealm, connector: KeycloakConnector
) -> None:
    assert "access tokens live 300 s" in connector.check()
    realm.update("", {"accessTokenLifespan": 120})
    realm.set_client_attribute("portal", "access.token.lifespan", "900")
    said = connector.check()
    assert "access tokens live 120 s" in said and "900 s for client portal" in said
    state = connector.read_account("alice")
    assert state is not None
    (disable, *_) = connector.termination_steps(state)
    assert "access tokens already issued stay valid until they expire: up to 900 s" in disable.description


def test_a_lifespan_it_may_not_read_is_said_unknown_never_the_default(realm: RealRealm) -> None:
    """Without view-realm Keycloak shows the realm's name only: no lifespan is guessed from that."""
    realm.set_admin_roles(SERVICE_ACCOUNT, ["view-users", "manage-users", "view-clients"])
    said = make(realm).check()
    assert "could not read it" in said and "'view-realm'" in said and "300" not in said


# errors ---------------------------------------------------------------------------------------------


def test_a_missing_admin_role_is_permission_denied_naming_it(realm: RealRealm) -> None:
    realm.set_admin_roles(SERVICE_ACCOUNT, ["view-users"])
    with pytest.raises(errors.PermissionDenied, match="needs the realm-management role 'manage-users'"):
        make(realm).disable("alice")
    assert realm.user("alice")["enabled"]
    realm.set_admin_roles(SERVICE_ACCOUNT, ["manage-users"])
    with pytest.raises(errors.PermissionDenied, match="'view-realm'"):
        make(realm).grant("alice", Entitlement("realm-role", "finance"))
    realm.set_admin_roles(SERVICE_ACCOUNT, [])
    with pytest.raises(errors.PermissionDenied, match=rf"'view-users'.*realm {realm.name}"):
        make(realm).read_account("alice")


def test_admin_roles_are_judged_by_those_in_the_admin_token(realm: RealRealm) -> None:
    """Keycloak reads an admin's realm-management roles from the token it presents, not from the
    user as it is now: a role taken away (or given) counts from the next token on."""
    conn = make(realm)
    assert conn.read_account("alice") is not None
    realm.set_admin_roles(SERVICE_ACCOUNT, [])
    assert conn.read_account("alice") is not None  # the token in hand still carries view-users
    realm.rotate_keys()  # the next token is a new one, issued without the role
    with pytest.raises(errors.PermissionDenied, match="'view-users'"):
        conn.read_account("alice")


def test_an_admin_that_may_only_query_users_never_reads_as_no_account(realm: RealRealm) -> None:
    """Keycloak answers such an admin's searches with nobody, not 403: that must not read as "no account"."""
    conn = query_only(realm)
    with pytest.raises(
        errors.PermissionDenied, match=r"'view-users'.*cannot be told from 'not allowed to see'"
    ):
        conn.read_account("alice")
    with pytest.raises(errors.PermissionDenied, match="'view-users'"):
        conn.disable("alice")
    assert realm.user("alice")["enabled"]
    with pytest.raises(errors.PermissionDenied, match="'view-users'"):
        conn.check()
    realm.set_admin_roles(f"service-account-{PEEKER}", ["query-users", "view-users"])
    viewer = make(realm, client_id=PEEKER, client_secret=Secret(PEEKER_SECRET, "test"))
    assert viewer.read_account("alice") is not None and viewer.read_account(MISSING) is None


def test_bad_credentials_fail_authentication(realm: RealRealm) -> None:
    with pytest.raises(errors.AuthenticationFailed, match="client iam-sweeper"):
        make(realm, client_secret=Secret("wrong-secret-123")).check()
    with pytest.raises(errors.AuthenticationFailed, match=r"user admin.*Invalid user credentials"):
        as_admin_user(realm, password=Secret("wrong-password-123")).check()


def test_an_unknown_user_is_none_and_every_operation_absent(connector: KeycloakConnector) -> None:
    assert connector.read_account(MISSING) is None
    assert connector.enable(MISSING).outcome == Outcome.ABSENT
    assert connector.revoke_credential(MISSING, "consent:app").outcome == Outcome.ABSENT
    assert connector.revoke_credential(MISSING, "idp:google").outcome == Outcome.ABSENT
    assert connector.delete_account(MISSING).outcome == Outcome.ABSENT


def test_a_realm_that_does_not_exist_is_an_error_not_an_absent_account(realm: RealRealm) -> None:
    conn = as_admin_user(realm, realm="acmee")  # master's admin reaches every realm, so the realm answers 404
    for action in (conn.check, lambda: conn.read_account("alice"), lambda: conn.disable("alice")):
        with pytest.raises(errors.PermanentError, match="realm acmee does not exist"):
            action()


def test_no_secret_appears_in_any_error_text(realm: RealRealm) -> None:
    """Every failure the real server gives, rendered every way a log or a traceback would."""
    failures: list[BaseException] = []

    def collect(action: object) -> None:
        try:
            action()  # type: ignore[operator]
        except errors.ConnectorError as exc:
            failures.append(exc)

    collect(lambda: make(realm, client_secret=Secret("Wr0ng-s3cret-" + SWEEPER_SECRET)).check())
    collect(lambda: as_admin_user(realm, password=Secret("Wr0ng-" + ADMIN_PASSWORD)).check())
    collect(lambda: make(realm, server_url=f"http://127.0.0.1:{closed_port()}").check())
    realm.set_admin_roles(SERVICE_ACCOUNT, ["view-users"])
    collect(lambda: make(realm).disable("alice"))
    assert len(failures) == 4
    texts = [f"{e}\n{e!r}\n{''.join(traceback.format_exception(e))}" for e in failures]
    for secret in (SWEEPER_SECRET, ADMIN_PASSWORD):
        assert not [t for t in texts if secret in t]


# entitlements ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entitlement",
    ["realm-role:finance", "realm-role:Order Viewer", "client-role:app/editor", "group:/contractors"],
)
def test_grant_gives_exactly_the_named_entitlement(
    realm: RealRealm, connector: KeycloakConnector, entitlement: str
) -> None:
    wanted = contract.parse_entitlement(entitlement)
    before = connector.read_account("alice")
    mappings_before = realm.role_mappings("alice")
    assert before is not None and wanted not in before.entitlements
    assert connector.grant("alice", wanted).outcome == Outcome.UPDATED
    after = connector.read_account("alice")
    assert after is not None and after.entitlements == before.entitlements | {wanted}
    if wanted.kind == "group":
        assert realm.role_mappings("alice") == mappings_before
    assert connector.revoke("alice", wanted).outcome == Outcome.UPDATED
    assert connector.read_account("alice") == before
    assert realm.role_mappings("alice") == mappings_before


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


def test_a_client_id_holding_a_slash_is_granted_and_revoked(connector: KeycloakConnector) -> None:
    wiki = Entitlement("client-role", "https://wiki.acme.example/saml/reader")
    assert connector.grant("alice", wiki).outcome == Outcome.UPDATED
    assert wiki in connector.read_account("alice").entitlements  # type: ignore[union-attr]
    assert connector.revoke("alice", wiki).outcome == Outcome.UPDATED


def test_managed_clients_bound_what_may_be_granted_but_not_what_is_revoked(realm: RealRealm) -> None:
    conn = make(realm, managed_clients=["app"])
    assert conn.grant("alice", Entitlement("client-role", "app/editor")).changed
    with pytest.raises(errors.Unsupported, match="managed_clients"):
        conn.grant("alice", Entitlement("client-role", "realm-management/manage-users"))
    assert conn.revoke("alice", Entitlement("client-role", "portal/admin")).changed
