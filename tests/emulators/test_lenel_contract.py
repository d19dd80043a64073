"""The emulator is held to Lenel's own swagger description of OpenAccess 7.5.

Every vendor route it serves must be described with the same method under
the description's ``basePath``; every exchange of a realistic run (the badge
connector's whole life cycle, refusals and faults included) must match the
described parameters, security headers and schemas; and the checker must be
able to say no.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from iam.connectors.badge import LenelBadgeConnector
from iam.lab.lenel import APPLICATION_ID, FakeClock, LenelEmulator
from iam.lab.lenel.api import BASE, EMULATOR_BASE, EMULATOR_ROUTES, ROUTES, Exchange
from iam.lab.lenel.seed import seed, settings

from iam import contract, errors
from iam.model import Entitlement
from tests.emulators.lenel_swagger import SwaggerContract


@pytest.fixture(scope="module")
def spec() -> SwaggerContract:
    return SwaggerContract.load()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_the_emulator_serves_under_the_described_base_path(spec: SwaggerContract) -> None:
    assert spec.base_path == BASE
    assert not EMULATOR_BASE.startswith(BASE)  # the door reader is visibly outside the vendor API


def test_every_served_route_is_in_the_description(spec: SwaggerContract) -> None:
    assert [p for r in ROUTES for p in spec.check_route(r.method, r.template)] == []
    assert all(r.vendor for r in ROUTES) and not any(r.vendor for r in EMULATOR_ROUTES)


def test_the_checker_rejects_an_invented_route_or_method(spec: SwaggerContract) -> None:
    assert spec.check_route("POST", "/badges/deactivate")
    assert spec.check_route("PATCH", "/instances")
    assert spec.check_route("DELETE", "/version")
    assert spec.check_route("POST", "/swipe")  # the emulator-only reader route is not OpenAccess


def _raw(pacs: LenelEmulator) -> httpx.Client:
    """A bare client for the refusals the connector itself never provokes."""
    token = httpx.post(
        f"{pacs.url}/authentication",
        params={"version": "1.0"},
        json={"user_name": "svc-iam", "password": "Pacs-Passw0rd-91c2"},
        headers={"Application-Id": APPLICATION_ID},
    ).json()["session_token"]
    headers = {"Application-Id": APPLICATION_ID, "Session-Token": token}
    return httpx.Client(base_url=pacs.url, headers=headers, params={"version": "1.0"})


def _scenario(pacs: LenelEmulator, clock: FakeClock) -> None:
    """The connector's life cycle with expiry, faults and refusals, then the refusals it never causes."""
    site = seed(pacs)
    c = LenelBadgeConnector(
        "badges", settings(pacs, page_size=2, badge_type="Contractor", timezone="Etc/GMT+5"), now=clock
    )
    c.check()
    assert len(list(c.iter_accounts())) == 2
    c.grant("E1001", Entitlement("access-level", "Finance"))
    c.revoke("E1001", Entitlement("access-level", "Finance"))
    c.create_account("C3003", {"family_name": "Contractor", "badge_id": 7003, "end_date": "2025-03-31"})
    pacs.expire_sessions()  # 401 mid-run, then a new login
    state = c.read_account("E1001")
    assert state is not None
    for step in c.termination_steps(state):
        contract.perform(c, "E1001", step)
    pacs.fail_next(1, 503)
    with pytest.raises(errors.TransientError):
        c.read_account("E1002")
    pacs.set_can_write("svc-iam", False)
    with pytest.raises(errors.PermissionDenied):
        c.revoke_credential("E1002", str(site.twin_badge))
    c.close()  # DELETE /authentication
    pacs.set_can_write("svc-iam", True)
    with _raw(pacs) as raw:
        raw.put(
            "/instances", params={"type_name": "Lnl_Badge"}, json={"property_value_map": {"BADGEKEY": 999}}
        )
        raw.get("/instances", params={"type_name": "Lnl_Badge", "filter": "STATUS ~ 3"})


def test_a_realistic_run_answers_as_described(
    pacs: LenelEmulator, clock: FakeClock, spec: SwaggerContract
) -> None:
    _scenario(pacs, clock)
    served = [e for e in pacs.exchanges if e.template is not None]
    problems = [p for e in served for p in spec.check_exchange(e)]
    assert problems == []
    assert {e.status for e in served} >= {200, 400, 401, 403, 404, 503}
    unexercised = {(r.method, r.template) for r in ROUTES} - {(e.method, e.template) for e in served}
    assert unexercised == set(), "the scenario must exercise every served route"


def _exchange(method: str, template: str, status: int, response: Any, **kw: Any) -> Exchange:
    headers = kw.get("headers", {"application-id": "a", "session-token": "t"})
    query = kw.get("query", {"version": "1.0", "type_name": "Lnl_Badge"})
    return Exchange(method, BASE + template, template, query, status, kw.get("request"), response, headers)


PAGE = {
    "count": 1,
    "item_list": [{"property_value_map": {"BADGEKEY": 1, "STATUS": 2}}],
    "page_number": 1,
    "page_size": 20,
    "total_items": 1,
    "total_pages": 1,
    "version": "1.0",
}
LOGIN = {"session_token": "t", "token_expiration_time": "2025-03-03T09:30:00-05:00", "version": "1.0"}


def test_the_checker_accepts_well_formed_exchanges(spec: SwaggerContract) -> None:
    assert spec.check_exchange(_exchange("GET", "/instances", 200, PAGE)) == []
    login = _exchange(
        "POST",
        "/authentication",
        200,
        LOGIN,
        query={"version": "1.0"},
        request={"user_name": "u", "password": "p"},
    )
    assert spec.check_exchange(login) == []
    error = {
        "error": {"code": "openaccess.general.invalidsessiontoken", "message": "expired"},
        "version": "1.0",
    }
    assert spec.check_exchange(_exchange("GET", "/instances", 401, error)) == []


@pytest.mark.parametrize(
    ("exchange", "complaint"),
    [
        (_exchange("GET", "/instances", 200, {**PAGE, "item_list": {}}), "is not of type 'array'"),
        (_exchange("GET", "/instances", 200, {**PAGE, "type_name": "Lnl_Badge"}), "type_name"),
        (_exchange("GET", "/instances", 200, {**PAGE, "total_pages": "1"}), "is not of type 'integer'"),
        (
            _exchange("POST", "/authentication", 200, {**LOGIN, "token_expiration_time": "in 30 minutes"}),
            "date-time",
        ),
        (_exchange("GET", "/instances", 401, {"error": "session expired"}), "is not of type 'object'"),
        (
            _exchange(
                "GET", "/instances", 200, PAGE, query={"version": "1.0", "type_name": "x", "deep": "1"}
            ),
            "deep",
        ),
        (_exchange("GET", "/instances", 200, PAGE, query={"type_name": "Lnl_Badge"}), "'version' is missing"),
        (
            _exchange("GET", "/instances", 200, PAGE, headers={"application-id": "a"}),
            "'session-token' is missing",
        ),
        (_exchange("GET", "/version", 200, {"version": "1.0"}, request={"x": 1}), "none is described"),
        (
            _exchange(
                "POST", "/authentication", 200, LOGIN, query={"version": "1.0"}, request={"user_name": 5}
            ),
            "request user_name",
        ),
        (_exchange("DELETE", "/instances", 200, {"version": "1.0"}), "request body is missing"),
        (
            _exchange("PUT", "/instances", 200, {"version": "1.0"}, request={"property_value_map": [1]}),
            "is not of type 'object'",
        ),
        (_exchange("GET", "/instances", 201, PAGE), "is not described"),
        (_exchange("GET", "/instances", 202, PAGE), "Additional properties"),
    ],
)
def test_the_checker_rejects_a_malformed_exchange(
    spec: SwaggerContract, exchange: Exchange, complaint: str
) -> None:
    problems = spec.check_exchange(exchange)
    assert problems and complaint in " ".join(problems), problems


def test_parameters_may_sit_in_the_body_as_the_description_says(spec: SwaggerContract) -> None:
    body = {"type_name": "Lnl_Badge", "property_value_map": {"BADGEKEY": 1}}
    moved = _exchange(
        "POST", "/instances", 200, {"property_value_map": {"BADGEKEY": 1}, "version": "1.0"}, request=body
    )
    moved.query = {"version": "1.0"}
    assert spec.check_exchange(moved) == []


def test_strictness_is_what_catches_an_invented_field() -> None:
    """The description leaves additionalProperties open; only the strict reading rejects a stray field."""
    invented = _exchange(
        "PUT", "/instances", 200, {"property_value_map": {}, "version": "1.0", "typename": "x"}
    )
    invented.request = {"property_value_map": {"BADGEKEY": 1}}
    assert SwaggerContract.load(strict=False).check_exchange(invented) == []
    assert SwaggerContract.load(strict=True).check_exchange(invented)


def test_only_vendor_exchanges_are_checked(spec: SwaggerContract) -> None:
    swipe = Exchange("POST", "/_emulator/swipe", None, {}, 200, {"badge_id": 1, "door": "d"}, {}, {})
    assert spec.check_exchange(swipe)


def test_the_scenario_levels_exist(pacs: LenelEmulator) -> None:
    """Guards the scenario: a typo in a level name would make grants errors, not coverage."""
    seed(pacs)
    c = LenelBadgeConnector("badges", settings(pacs))
    assert c.grant("E1001", Entitlement("access-level", "Finance")).changed
    c.close()
