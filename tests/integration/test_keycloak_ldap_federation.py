"""A person Keycloak federates from LDAP cannot log in after one offboarding, whatever comes first.

Keycloak's LDAP user federation points at the test's slapd, in each edit mode
sites use (``READ_ONLY``, ``WRITABLE``, ``UNSYNCED``), users imported. alice
logs in through Keycloak (her password is checked by an LDAP bind) and holds
an offline token and Keycloak-side roles and groups. One offboarding
terminates both systems, the directory first or Keycloak first, with and
without ``leavers_dn`` (where the directory moves a leaver's entry out of
the users DN Keycloak reads). Then Keycloak syncs from LDAP, fully and by
changed users, as its periodic sync would: she still cannot log in, her
offline token is still refused, and iam still reads no access in Keycloak.

What real Keycloak 26 does, seen here (README, "Keycloak and LDAP
federation"): Keycloak keeps its own enabled flag, role and group mappings,
sessions and offline tokens for an imported user in every edit mode, and
lets iam disable her even in ``READ_ONLY``; a sync does not re-enable a
disabled user. An entry moved out of the users DN makes Keycloak delete its
imported copy (sessions and offline tokens with it) at its next lookup or
sync: iam then reads ``no_account`` there. Until the Keycloak side is
terminated, an offline token of a person whose entry stayed in the users DN
still refreshes: the directory alone does not end SSO access.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from iam.connectors.keycloak import KeycloakConnector
from iam.connectors.ldap import LdapConnector
from iam.lab.keycloak.seed import SWEEPER_SECRET

from iam import contract
from iam.secrets import Secret
from tests.conftest import Directory
from tests.support.keycloak import KeycloakServer
from tests.support.realms import RealRealm, Tokens
from tests.support.slapd import ADMIN_DN, ADMIN_PASSWORD, BASE_DN

PASSWORD = "alice-Passw0rd"  # as the `directory` fixture seeds her


@pytest.fixture
def federated(keycloak_server: KeycloakServer) -> RealRealm:
    """A realm whose people come from LDAP only (no local alice to clash with the directory's)."""
    return RealRealm(keycloak_server).create(people=False)


def terminate(connector: contract.Connector, username: str) -> None:
    """One system's part of an offboarding: read, plan, perform every step."""
    reader: contract.Readable = connector  # type: ignore[assignment]
    terminable: contract.Terminable = connector  # type: ignore[assignment]
    state = reader.read_account(username)
    if state is None:
        return  # no account there: nothing to take away
    for step in terminable.termination_steps(state):
        contract.perform(connector, username, step)


def locked_out(realm: RealRealm, offline: Tokens, sso: KeycloakConnector) -> list[str]:
    """Every way back in that is still open (empty: none)."""
    found = []
    login = realm.password_login("alice", PASSWORD)
    if login.status_code == 200:
        found.append("she logs in with her password")
    if realm.refresh(offline).status_code == 200:
        found.append("her offline token refreshes")
    state = sso.read_account("alice")
    if state is not None and state.remaining_access():
        found.append(f"iam reads access left in Keycloak: {state.remaining_access()}")
    return found


@pytest.fixture
def sso(federated: RealRealm) -> Iterator[KeycloakConnector]:
    conn = KeycloakConnector("sso", {**federated.settings(), "client_secret": Secret(SWEEPER_SECRET)})
    yield conn
    conn.close()


@pytest.mark.parametrize("edit_mode", ["READ_ONLY", "WRITABLE", "UNSYNCED"])
@pytest.mark.parametrize("first", ["directory", "sso"])
@pytest.mark.parametrize("leavers_dn", [True, False], ids=["leavers_dn", "no_leavers_dn"])
def test_a_federated_leaver_cannot_log_in_after_one_offboarding_nor_after_a_resync(
    federated: RealRealm,
    sso: KeycloakConnector,
    directory: Directory,
    edit_mode: str,
    first: str,
    leavers_dn: bool,
) -> None:
    ldap = directory.slapd
    component = federated.federate(ldap.url, f"ou=people,{BASE_DN}", ADMIN_DN, ADMIN_PASSWORD, edit_mode)
    assert federated.sync(component)["added"] == 2  # alice and bob
    offline = federated.login("alice", "app", offline=True, password=PASSWORD)
    for text in ("realm-role:employee", "group:/staff/eng"):
        assert sso.grant("alice", contract.parse_entitlement(text)).changed
    assert len(locked_out(federated, offline, sso)) == 3, "before: every way in is open"
    settings = {**directory.settings, "bind_password": Secret(ADMIN_PASSWORD)}
    if not leavers_dn:
        settings.pop("leavers_dn")
    systems = {"directory": LdapConnector("directory", settings), "sso": sso}
    order = [first, *(name for name in systems if name != first)]

    for name in order:
        terminate(systems[name], "alice")

    assert locked_out(federated, offline, sso) == []
    federated.sync(component, "triggerFullSync")
    assert locked_out(federated, offline, sso) == []
    federated.sync(component, "triggerChangedUsersSync")
    assert locked_out(federated, offline, sso) == []
    bob = federated.login("bob", "app", password="bob-Passw0rd")
    assert federated.refresh(bob).status_code == 200, "another federated person is untouched"


def test_an_offline_token_outlives_a_directory_only_termination(
    federated: RealRealm, sso: KeycloakConnector, directory: Directory
) -> None:
    """Why iam terminates Keycloak too: with the entry still in the users DN, the directory's lock
    stops password logins, but an offline token Keycloak issued keeps refreshing."""
    ldap = directory.slapd
    component = federated.federate(ldap.url, f"ou=people,{BASE_DN}", ADMIN_DN, ADMIN_PASSWORD, "READ_ONLY")
    federated.sync(component)
    offline = federated.login("alice", "app", offline=True, password=PASSWORD)
    settings = {k: v for k, v in directory.settings.items() if k != "leavers_dn"}
    terminate(LdapConnector("directory", {**settings, "bind_password": Secret(ADMIN_PASSWORD)}), "alice")
    assert federated.password_login("alice", PASSWORD).status_code == 401
    assert federated.refresh(offline).status_code == 200
    terminate(sso, "alice")
    assert federated.refresh(offline).status_code == 400
    assert sso.read_account("alice").remaining_access() == []  # type: ignore[union-attr]


def test_a_disable_holds_in_read_only_mode(
    federated: RealRealm, sso: KeycloakConnector, directory: Directory
) -> None:
    """Keycloak 26 keeps an imported user's enabled flag itself, even when LDAP is read-only."""
    ldap = directory.slapd
    component = federated.federate(ldap.url, f"ou=people,{BASE_DN}", ADMIN_DN, ADMIN_PASSWORD, "READ_ONLY")
    federated.sync(component)
    assert sso.disable("alice").changed
    assert federated.password_login("alice", PASSWORD).json()["error_description"] == "Account disabled"
    assert not sso.read_account("alice").enabled  # type: ignore[union-attr]
