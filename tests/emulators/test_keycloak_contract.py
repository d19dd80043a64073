"""The emulator is held to Keycloak's own OpenAPI description of its Admin API (23.0.6).

Every route it serves must be described with the same method; every answer
it gives in a realistic run (the connector's whole life cycle, plus
python-keycloak's calls for the routes the connector does not use) must match
the described schemas; and the checker must be able to say no.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from iam.connectors.keycloak import KeycloakConnector
from iam.lab.keycloak import FakeClock, KeycloakEmulator
from iam.lab.keycloak.admin import ROUTES, Exchange
from iam.lab.keycloak.seed import ADMIN_PASSWORD, REALM, SWEEPER, SWEEPER_SECRET, WIKI, seed, settings
from keycloak import KeycloakAdmin, KeycloakOpenIDConnection
from keycloak.exceptions import KeycloakError

from iam import contract, errors
from iam.model import Entitlement
from tests.emulators.keycloak_openapi import AdminContract


@pytest.fixture(scope="module")
def spec() -> AdminContract:
    return AdminContract.load()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def kc(clock: FakeClock) -> Iterator[KeycloakEmulator]:
    with KeycloakEmulator(clock=clock, admin_password=ADMIN_PASSWORD) as emulator:
        seed(emulator)
        yield emulator


def test_every_served_route_is_in_the_description(spec: AdminContract) -> None:
    problems = [p for r in ROUTES for p in spec.check_route(r.method, r.template)]
    assert problems == []


def test_the_checker_rejects_an_invented_route_or_method(spec: AdminContract) -> None:
    assert spec.check_route("POST", "/{realm}/users/{id}/terminate")
    assert spec.check_route("DELETE", "/{realm}/users/{id}/consents")  # GET only
    assert spec.check_route("DELETE", "/{realm}/users/{id}/offline-sessions/{clientUuid}")


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.template}")
def test_each_route_serves_exactly_its_template(route: Any) -> None:
    """The matcher is derived from the template: a concrete path fills every parameter back."""
    names = [part[1:-1] for part in route.template.split("/") if part.startswith("{")]
    values = {n: ("a/b" if n == route.greedy else f"v-{n}") for n in names}
    path = route.template
    for n, v in values.items():
        path = path.replace("{" + n + "}", v)
    assert route.match(route.method, path) == values
    assert route.match(route.method, path + "/extra") is None or route.greedy


def _scenario(kc: KeycloakEmulator, clock: FakeClock) -> None:
    """The connector's life cycle, expiry, faults and refusals included, then the routes it leaves out."""
    kc.login(REALM, "alice", "app", offline=True, consent=["profile"])
    pinned = kc.login(REALM, "alice", "portal")
    kc.outlive_logout(pinned.session_id)
    kc.add_user(REALM, "carol")
    c = KeycloakConnector("sso", {**settings(kc, page_size=2), "client_secret": SWEEPER_SECRET})
    c.check()
    clock.advance(301)  # the admin token expires: 401, then python-keycloak renews it
    assert len(list(c.iter_accounts())) == 3
    for e in (
        "realm-role:Order Viewer",
        "client-role:app/editor",
        f"client-role:{WIKI}/reader",
        "group:/contractors",
    ):
        c.grant("bob", contract.parse_entitlement(e))
        c.revoke("bob", contract.parse_entitlement(e))
    state = c.read_account("alice")
    assert state is not None
    for step in c.termination_steps(state):
        contract.perform(c, "alice", step)
    c.revoke_credential("alice", "consent:app")  # 404: nothing left
    c.enable("alice")
    c.delete_account("carol")
    kc.fail_next(1, 503)
    with pytest.raises(errors.TransientError):
        c.read_account("bob")
    c.close()
    kc.set_admin_roles(REALM, f"service-account-{SWEEPER}", ["view-users"])
    viewer = KeycloakConnector("sso", {**settings(kc), "client_secret": SWEEPER_SECRET})
    with pytest.raises(errors.PermissionDenied):
        viewer.disable("bob")  # a new token: roles count as the token carries them
    viewer.close()

    admin = KeycloakAdmin(
        connection=KeycloakOpenIDConnection(
            server_url=kc.url + "/",
            username="admin",
            password=ADMIN_PASSWORD,
            realm_name=REALM,
            user_realm_name="master",
            max_retries=0,
        )
    )
    bob, app = kc.user(REALM, "bob").id, kc.realm(REALM).client("app")
    assert app is not None
    kc.login(REALM, "bob", "app", offline=True)
    admin.get_realm_roles()
    admin.get_client_roles(app.id)
    admin.get_groups({"first": 0, "max": 10})
    admin.get_realm_roles_of_user(bob)
    admin.get_client_roles_of_user(bob, app.id)
    admin.connection.raw_get(f"admin/realms/{REALM}/users/{bob}/offline-sessions/{app.id}")
    with pytest.raises(KeycloakError):
        admin.get_user("no-such-id")


def test_a_realistic_run_answers_as_described(
    kc: KeycloakEmulator, clock: FakeClock, spec: AdminContract
) -> None:
    _scenario(kc, clock)
    served = [e for e in kc.exchanges if e.template is not None]
    problems = [p for e in served for p in spec.check_exchange(e)]
    assert problems == []
    assert {e.status for e in served} >= {200, 204, 401, 403, 404, 503}
    unexercised = {(r.method, r.template) for r in ROUTES} - {(e.method, e.template) for e in served}
    assert unexercised == set(), "the scenario must exercise every served route"


def _exchange(method: str, template: str, status: int, response: Any, **kw: Any) -> Exchange:
    return Exchange(
        method, "/admin/realms/x", template, kw.get("query", {}), status, kw.get("request"), response, {}
    )


SESSION = {"id": "s", "username": "a", "userId": "u", "ipAddress": "1.2.3.4", "start": 1, "lastAccess": 1}


def test_the_checker_accepts_a_well_formed_answer(spec: AdminContract) -> None:
    assert spec.check_exchange(_exchange("GET", "/{realm}/users/{id}/sessions", 200, [SESSION])) == []


@pytest.mark.parametrize(
    ("exchange", "complaint"),
    [
        (_exchange("GET", "/{realm}/users/{id}/sessions", 200, [{**SESSION, "start": "yesterday"}]), "start"),
        (_exchange("GET", "/{realm}/users", 200, {"users": []}), "is not of type 'array'"),
        (_exchange("GET", "/{realm}/users/{id}", 200, {"id": "u", "firstname": "A"}), "firstname"),
        (_exchange("GET", "/{realm}/users/{id}", 204, None), "without a body"),
        (_exchange("PUT", "/{realm}/users/{id}", 200, {"ok": True}), "not described"),
        (_exchange("GET", "/{realm}/users", 200, [], query={"deep": "true"}), "'deep' is not declared"),
        (_exchange("GET", "/{realm}/users", 403, {"error": 403}), "error body"),
        (
            _exchange("POST", "/{realm}/users/{id}/role-mappings/realm", 204, None, request=[{"name": 5}]),
            "request",
        ),
        (
            _exchange("POST", "/{realm}/users/{id}/logout", 204, None, request={"all": True}),
            "none is described",
        ),
    ],
)
def test_the_checker_rejects_a_malformed_exchange(
    spec: AdminContract, exchange: Exchange, complaint: str
) -> None:
    problems = spec.check_exchange(exchange)
    assert problems and complaint in " ".join(problems), problems


def test_strictness_is_what_catches_an_invented_field() -> None:
    """Keycloak's schemas leave additionalProperties open; only the strict reading rejects a misspelling."""
    invented = _exchange("GET", "/{realm}/users/{id}", 200, {"id": "u", "firstname": "A"})
    assert AdminContract.load(strict=False).check_exchange(invented) == []
    assert AdminContract.load(strict=True).check_exchange(invented)


def test_only_admin_exchanges_are_checked(spec: AdminContract) -> None:
    token_call = Exchange("POST", "/realms/x/protocol/openid-connect/token", None, {}, 200, {}, {}, {})
    assert spec.check_exchange(token_call)


def test_grant_entitlements_used_above_exist(kc: KeycloakEmulator) -> None:
    """Guards the scenario: a typo in its entitlements would turn grants into errors, not coverage."""
    c = KeycloakConnector("sso", {**settings(kc), "client_secret": SWEEPER_SECRET})
    assert c.grant("bob", Entitlement("client-role", f"{WIKI}/reader")).changed
    c.close()
