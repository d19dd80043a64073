"""The emulator behaves like an OnGuard site where the connector's tests depend on it.

The door reader decides as a panel does; sessions expire; the filter, paging,
references and refusals are OnGuard's; faults are injected on demand. Every
check goes over real HTTP with a bare client, never through the connector.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from iam.lab.lenel import APPLICATION_ID, FakeClock, LenelEmulator
from iam.lab.lenel.seed import PASSWORD, USER, Site


def login(pacs: LenelEmulator, user: str = USER, password: str = PASSWORD) -> httpx.Response:
    return httpx.post(
        f"{pacs.url}/authentication",
        params={"version": "1.0"},
        json={"user_name": user, "password": password},
        headers={"Application-Id": APPLICATION_ID},
    )


def client(pacs: LenelEmulator, **kw: Any) -> httpx.Client:
    token = login(pacs).json()["session_token"]
    headers = {"Application-Id": APPLICATION_ID, "Session-Token": token}
    return httpx.Client(base_url=pacs.url, headers=headers, params={"version": "1.0"}, **kw)


def instances(c: httpx.Client, type_name: str, **params: Any) -> httpx.Response:
    return c.get("/instances", params={"type_name": type_name, **params})


# the door reader ------------------------------------------------------------------------------


def test_an_active_badge_opens_the_doors_of_its_levels_only(pacs: LenelEmulator, site: Site) -> None:
    assert pacs.swipe(5001, "lobby") == "granted"
    assert pacs.swipe(5001, "lab") == "granted"
    assert pacs.swipe(5001, "server-room") == "denied"
    assert pacs.swipe(9999, "lobby") == "denied"
    assert pacs.swipes[-1].reason == "unknown card"


@pytest.mark.parametrize("status", ["Lost", "Terminated", "Suspended"])
def test_a_badge_that_is_not_active_opens_nothing(pacs: LenelEmulator, site: Site, status: str) -> None:
    person = pacs.add_cardholder("Roe", SSNO="E1009")
    badge = pacs.add_badge(person, 5009, status)
    pacs.assign(badge, "Lobby")
    assert pacs.swipe(5009, "lobby") == "denied"
    assert status in pacs.swipes[-1].reason


def test_activation_dates_bound_a_badge_and_an_assignment(
    pacs: LenelEmulator, site: Site, clock: FakeClock
) -> None:
    person = pacs.add_cardholder("Roe", SSNO="E1010")
    soon = clock() + timedelta(days=1)
    later = pacs.add_badge(person, 5010, activate=soon, deactivate=soon + timedelta(days=1))
    pacs.assign(later, "Lobby")
    assert pacs.swipe(5010, "lobby") == "denied"
    clock.advance(days=1)
    assert pacs.swipe(5010, "lobby") == "granted"
    clock.advance(days=1)
    assert pacs.swipe(5010, "lobby") == "denied"
    temporary = pacs.add_badge(person, 5011)
    pacs.assign(temporary, "Lab", deactivate=clock() + timedelta(hours=1))
    assert pacs.swipe(5011, "lab") == "granted"
    clock.advance(hours=1)
    assert pacs.swipe(5011, "lab") == "denied"


def test_a_schedule_limits_the_hours_at_the_site(pacs: LenelEmulator, site: Site, clock: FakeClock) -> None:
    pacs.add_access_level("Day Dock", ["dock"], hours=(7, 19))
    pacs.assign(site.jane_badge, "Day Dock")
    assert pacs.swipe(5001, "dock") == "granted"  # 10:00 at the site
    clock.advance(hours=10)
    assert pacs.swipe(5001, "dock") == "denied"  # 20:00 at the site


def test_the_reader_route_answers_as_the_method(pacs: LenelEmulator, site: Site) -> None:
    answer = httpx.post(f"{pacs.root}/_emulator/swipe", json={"badge_id": 5001, "door": "lab"}).json()
    assert answer["result"] == "granted" == pacs.swipe(5001, "lab")


# sessions and refusals --------------------------------------------------------------------------


def test_session_tokens_expire_with_time_and_on_demand(
    pacs: LenelEmulator, site: Site, clock: FakeClock
) -> None:
    with client(pacs) as c:
        assert instances(c, "Lnl_Badge").status_code == 200
        clock.advance(minutes=31)
        refused = instances(c, "Lnl_Badge")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "openaccess.general.invalidsessiontoken"
    with client(pacs) as c:
        pacs.expire_sessions()
        assert instances(c, "Lnl_Badge").status_code == 401


def test_bad_credentials_application_id_and_version_are_refused(pacs: LenelEmulator, site: Site) -> None:
    assert login(pacs, password="wrong").status_code == 401
    no_app = httpx.post(f"{pacs.url}/authentication", params={"version": "1.0"}, json={"user_name": USER})
    assert no_app.json()["error"]["code"] == "openaccess.general.invalidapplicationid"
    with client(pacs) as c:
        unversioned = httpx.get(f"{pacs.url}/instances", params={"type_name": "Lnl_Badge"}, headers=c.headers)
    assert unversioned.status_code == 400


def test_a_read_only_user_cannot_write(pacs: LenelEmulator, site: Site) -> None:
    pacs.set_can_write(USER, False)
    with client(pacs) as c:
        body = {"property_value_map": {"BADGEKEY": site.jane_badge, "STATUS": 1}}
        assert c.put("/instances", params={"type_name": "Lnl_Badge"}, json=body).status_code == 403
        assert instances(c, "Lnl_Badge").status_code == 200


# the data -------------------------------------------------------------------------------------


def test_status_ids_differ_from_a_naive_numbering(pacs: LenelEmulator, site: Site) -> None:
    with client(pacs) as c:
        rows = instances(c, "Lnl_BadgeStatus").json()["item_list"]
    ids = {r["property_value_map"]["NAME"]: r["property_value_map"]["ID"] for r in rows}
    assert ids["Active"] != 1 and ids["Terminated"] != ids["Active"] + 1


def test_filters_match_like_sql_server_and_refuse_unknown_properties(pacs: LenelEmulator, site: Site) -> None:
    with client(pacs) as c:
        found = instances(c, "Lnl_Cardholder", filter='ssno = "e1001"').json()
        assert [i["property_value_map"]["ID"] for i in found["item_list"]] == [site.jane]
        both = instances(c, "Lnl_Cardholder", filter="LASTNAME = 'Doe' and FIRSTNAME = 'Jane'").json()
        assert both["total_items"] == 2
        assert instances(c, "Lnl_Cardholder", filter='SHOESIZE = "9"').status_code == 400
        assert instances(c, "Lnl_Cardholder", filter="SSNO like 'E%'").status_code == 400


def test_pages_are_bounded_and_counted(pacs: LenelEmulator, site: Site) -> None:
    for n in range(3):
        pacs.add_cardholder(f"Extra{n}")
    with client(pacs) as c:
        first = instances(c, "Lnl_Cardholder", page_size=2).json()
        last = instances(c, "Lnl_Cardholder", page_size=2, page_number=3).json()
        assert (first["total_items"], first["total_pages"], first["count"]) == (5, 3, 2)
        assert last["count"] == 1
        assert instances(c, "Lnl_Cardholder", page_size=101).status_code == 400


def test_references_and_duplicates_are_refused(pacs: LenelEmulator, site: Site) -> None:
    with client(pacs) as c:
        active = pacs.store.named("Lnl_BadgeStatus", "Active")["ID"]
        employee = pacs.store.named("Lnl_BadgeType", "Employee")["ID"]
        orphan = {"property_value_map": {"ID": 1, "PERSONID": 424242, "STATUS": active, "TYPE": employee}}
        refused = c.post("/instances", params={"type_name": "Lnl_Badge"}, json=orphan).json()
        assert "PERSONID" in refused["error"]["message"]
        lobby = pacs.store.named("Lnl_AccessLevel", "Lobby")["ID"]
        again = {"property_value_map": {"BADGEKEY": site.jane_badge, "ACCESSLEVELID": lobby}}
        dup = c.post("/instances", params={"type_name": "Lnl_AccessLevelAssignment"}, json=again)
        assert dup.status_code == 400


def test_dates_are_written_with_the_site_offset(pacs: LenelEmulator, site: Site) -> None:
    person = pacs.add_cardholder("Roe")
    key = pacs.add_badge(person, 5020, deactivate=datetime(2025, 4, 1, 5, 0, tzinfo=UTC))
    with client(pacs) as c:
        row = instances(c, "Lnl_Badge", filter=f"BADGEKEY = {key}").json()["item_list"][0]
    assert row["property_value_map"]["DEACTIVATE"] == "2025-04-01T00:00:00-05:00"


# faults ---------------------------------------------------------------------------------------


def test_an_injected_status_is_answered_once(pacs: LenelEmulator, site: Site) -> None:
    with client(pacs) as c:
        pacs.fail_next(1, 503)
        assert instances(c, "Lnl_Badge").status_code == 503
        assert instances(c, "Lnl_Badge").status_code == 200


def test_a_hung_request_times_the_client_out_until_released(pacs: LenelEmulator, site: Site) -> None:
    with client(pacs, timeout=0.2) as c:
        pacs.hang_next(1)
        with pytest.raises(httpx.ReadTimeout):
            instances(c, "Lnl_Badge")
        pacs.release()
        assert instances(c, "Lnl_Badge").status_code == 200
