"""The emulator behaves as Keycloak does where the connector depends on it, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from iam.lab.keycloak import FakeClock, KeycloakEmulator
from iam.lab.keycloak.seed import ADMIN_PASSWORD, REALM, SWEEPER, SWEEPER_SECRET, seed


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def kc(clock: FakeClock) -> Iterator[KeycloakEmulator]:
    with KeycloakEmulator(clock=clock, admin_password=ADMIN_PASSWORD) as emulator:
        seed(emulator)
        yield emulator


@pytest.fixture
def http(kc: KeycloakEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=kc.url, timeout=5) as client:
        yield client


def token(http: httpx.Client, realm: str = REALM, **form: str) -> httpx.Response:
    return http.post(f"/realms/{realm}/protocol/openid-connect/token", data=form)


def sweeper_token(http: httpx.Client) -> str:
    answer = token(http, grant_type="client_credentials", client_id=SWEEPER, client_secret=SWEEPER_SECRET)
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def admin(http: httpx.Client, method: str, path: str, bearer: str | None, **kw: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return http.request(method, f"/admin/realms/{REALM}{path}", headers=headers, **kw)  # type: ignore[arg-type]


def alice_id(kc: KeycloakEmulator) -> str:
    return kc.user(REALM, "alice").id


def test_admin_calls_without_a_token_are_401(http: httpx.Client) -> None:
    answer = admin(http, "GET", "/users", None)
    assert answer.status_code == 401
    assert answer.json() == {"error": "HTTP 401 Unauthorized"}


def test_an_admin_token_expires_with_the_injected_clock(http: httpx.Client, clock: FakeClock) -> None:
    bearer = sweeper_token(http)
    assert admin(http, "GET", "/users", bearer).status_code == 200
    clock.advance(299)
    assert admin(http, "GET", "/users", bearer).status_code == 200
    clock.advance(2)
    assert admin(http, "GET", "/users", bearer).status_code == 401


def test_client_credentials_give_no_refresh_token(http: httpx.Client) -> None:
    answer = token(http, grant_type="client_credentials", client_id=SWEEPER, client_secret=SWEEPER_SECRET)
    assert "refresh_token" not in answer.json()
    wrong = token(http, grant_type="client_credentials", client_id=SWEEPER, client_secret="nope-nope")
    assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized_client"


def test_a_refresh_token_dies_with_its_idle_time(http: httpx.Client, clock: FakeClock) -> None:
    form = {
        "grant_type": "password",
        "client_id": "admin-cli",
        "username": "admin",
        "password": ADMIN_PASSWORD,
    }
    first = token(http, "master", **form).json()
    assert first["expires_in"] == 60  # master's admin tokens, as a fresh Keycloak has them
    clock.advance(1801)
    again = token(
        http,
        "master",
        grant_type="refresh_token",
        client_id="admin-cli",
        refresh_token=first["refresh_token"],
    )
    assert again.status_code == 400
    assert again.json()["error_description"] == "Token is not active"  # python-keycloak's cue to log in anew


def test_admin_roles_are_judged_by_those_in_the_token(kc: KeycloakEmulator, http: httpx.Client) -> None:
    """As Keycloak: a role taken away or given counts from the admin's next token on."""
    path = f"/users/{alice_id(kc)}/logout"
    kc.set_admin_roles(REALM, f"service-account-{SWEEPER}", ["view-users"])
    bearer = sweeper_token(http)
    assert admin(http, "POST", path, bearer).status_code == 403
    assert admin(http, "GET", "/users", bearer).status_code == 200
    kc.set_admin_roles(REALM, f"service-account-{SWEEPER}", ["manage-users"])
    assert admin(http, "POST", path, bearer).status_code == 403, "the token in hand carries no manage-users"
    assert admin(http, "POST", path, sweeper_token(http)).status_code == 204
    kc.set_admin_roles(REALM, f"service-account-{SWEEPER}", [])
    fresh, alice = sweeper_token(http), f"/users/{alice_id(kc)}"
    assert [admin(http, "GET", alice, b).status_code for b in (bearer, fresh)] == [200, 403]


def test_a_realm_token_cannot_administer_another_realm(kc: KeycloakEmulator, http: httpx.Client) -> None:
    kc.add_realm("other")
    bearer = sweeper_token(http)
    answer = http.get("/admin/realms/other/users", headers={"Authorization": f"Bearer {bearer}"})
    assert answer.status_code == 403


def test_logout_ends_online_sessions_and_stales_every_older_token_offline_included(
    kc: KeycloakEmulator, http: httpx.Client, clock: FakeClock
) -> None:
    """Keycloak's logout sets the user's not-before time (whole seconds): a refresh token issued
    in an earlier second is then refused, offline ones too, though the offline session is still listed."""
    login = kc.login(REALM, "alice", "app", offline=True)
    clock.advance(1)
    bearer = sweeper_token(http)
    assert admin(http, "POST", f"/users/{alice_id(kc)}/logout", bearer).status_code == 204
    assert admin(http, "GET", f"/users/{alice_id(kc)}/sessions", bearer).json() == []
    refreshed = token(
        http, grant_type="refresh_token", client_id="app", refresh_token=login.offline_token or ""
    )
    assert (refreshed.status_code, refreshed.json()["error_description"]) == (400, "Stale token")
    consents = admin(http, "GET", f"/users/{alice_id(kc)}/consents", bearer).json()
    assert [(c["clientId"], c["additionalGrants"][0]["key"]) for c in consents] == [("app", "Offline Token")]
    assert admin(http, "GET", f"/users/{alice_id(kc)}", bearer).json()["notBefore"] == int(clock())


def test_a_token_issued_in_the_same_second_as_the_logout_still_refreshes(
    kc: KeycloakEmulator, http: httpx.Client
) -> None:
    """Not-before is compared in whole seconds, as in Keycloak: one reason to revoke offline tokens too."""
    login = kc.login(REALM, "alice", "app", offline=True)
    assert admin(http, "POST", f"/users/{alice_id(kc)}/logout", sweeper_token(http)).status_code == 204
    refreshed = token(
        http, grant_type="refresh_token", client_id="app", refresh_token=login.offline_token or ""
    )
    assert refreshed.status_code == 200, refreshed.text


def test_revoking_a_consent_kills_the_offline_token_and_a_second_revoke_is_404(
    kc: KeycloakEmulator, http: httpx.Client
) -> None:
    login = kc.login(REALM, "alice", "app", offline=True, consent=["profile"])
    bearer = sweeper_token(http)
    path = f"/users/{alice_id(kc)}/consents/app"
    assert admin(http, "DELETE", path, bearer).status_code == 204
    refreshed = token(
        http, grant_type="refresh_token", client_id="app", refresh_token=login.offline_token or ""
    )
    assert refreshed.status_code == 400
    again = admin(http, "DELETE", path, bearer)
    assert (again.status_code, again.json()) == (404, {"error": "Consent nor offline token not found"})
    unknown = admin(http, "DELETE", f"/users/{alice_id(kc)}/consents/no-such-client", bearer)
    assert (unknown.status_code, unknown.json()) == (404, {"error": "Client not found"})


def test_injected_faults_answer_first_then_service_resumes(kc: KeycloakEmulator, http: httpx.Client) -> None:
    bearer = sweeper_token(http)
    kc.fail_next(2, 503)
    kc.fail_next(1, 429, retry_after=7)
    assert [admin(http, "GET", "/users", bearer).status_code for _ in range(2)] == [503, 503]
    limited = admin(http, "GET", "/users", bearer)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "7")
    assert admin(http, "GET", "/users", bearer).status_code == 200


def test_user_listing_pages_and_matches_exactly(kc: KeycloakEmulator, http: httpx.Client) -> None:
    for n in range(5):
        kc.add_user(REALM, f"alice{n}")
    bearer = sweeper_token(http)
    names = [
        u["username"] for u in admin(http, "GET", "/users", bearer, params={"first": 2, "max": 3}).json()
    ]
    assert names == ["alice1", "alice2", "alice3"]  # sorted: alice, alice0, alice1, ...
    exact = admin(http, "GET", "/users", bearer, params={"username": "ALICE", "exact": "true"}).json()
    assert [u["username"] for u in exact] == ["alice"]
    every = admin(http, "GET", "/users", bearer, params={"max": 100}).json()
    assert all(not u["username"].startswith("service-account-") for u in every)


def test_the_realm_shows_its_lifespans_only_to_an_admin_who_may_view_it(
    kc: KeycloakEmulator, http: httpx.Client
) -> None:
    assert admin(http, "GET", "", sweeper_token(http)).json()["accessTokenLifespan"] == 300
    kc.set_admin_roles(REALM, f"service-account-{SWEEPER}", ["view-users"])
    assert admin(http, "GET", "", sweeper_token(http)).json() == {"realm": REALM}
