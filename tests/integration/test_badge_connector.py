"""The Lenel badge connector against the OpenAccess emulator: termination at the door, sessions, errors.

Everything is driven through the connector (httpx underneath, over real
HTTP); the emulator is only seeded and looked at, and its door reader says
whether a card still opens a door. Time moves by the shared injected clock.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from datetime import timedelta

import pytest
from iam.connectors.badge import LenelBadgeConnector
from iam.lab.lenel import FakeClock, LenelEmulator
from iam.lab.lenel.seed import PASSWORD, USER, Site, closed_port, seed, settings

from iam import contract, errors
from iam.model import Entitlement, Outcome, Result
from iam.secrets import Secret
from tests.support.conformance import ConnectorConformance, Unreadable

JANE = "E1001"


def make(pacs: LenelEmulator, clock: FakeClock, **overrides: object) -> LenelBadgeConnector:
    return LenelBadgeConnector("badges", settings(pacs, **overrides), now=clock)


@pytest.fixture
def connector(pacs: LenelEmulator, site: Site, clock: FakeClock) -> Iterator[LenelBadgeConnector]:
    c = make(pacs, clock)
    yield c
    c.close()


def terminate(c: LenelBadgeConnector, username: str) -> list[Result]:
    """What the engine does: read, ask the connector for its steps, perform each."""
    state = c.read_account(username)
    assert state is not None
    return [contract.perform(c, username, step) for step in c.termination_steps(state)]


def writes(pacs: LenelEmulator) -> list[str]:
    """Every change asked of the PACS (logins are not changes)."""
    return [
        f"{e.method} {e.request}" for e in pacs.exchanges if e.template == "/instances" and e.method != "GET"
    ]


class TestConformance(ConnectorConformance):
    @pytest.fixture
    def holder(self) -> str:
        return JANE

    @pytest.fixture
    def spare(self) -> Entitlement:
        return Entitlement("access-level", "Finance")

    @pytest.fixture
    def unreachable(self, clock: FakeClock) -> Iterator[LenelBadgeConnector]:
        url = f"http://127.0.0.1:{closed_port()}/api/access/onguard/openaccess"
        c = LenelBadgeConnector("badges", {**settings_for(url)}, now=clock)
        yield c
        c.close()

    @pytest.fixture
    def unreadable(self, pacs: LenelEmulator, site: Site, clock: FakeClock) -> Iterator[Unreadable]:
        """A PACS whose listings stop short of the totals they announce: what they leave out is unknown."""
        pacs.cut_listings(after=0)
        c = make(pacs, clock)
        yield Unreadable(c, r"the listing of Lnl_\w+ ended after 0 of")
        c.close()


def settings_for(url: str) -> dict[str, object]:
    return {"url": url, "application_id": "x", "username": USER, "password": Secret(PASSWORD), "timeout": 2}


# termination ----------------------------------------------------------------------------------


def test_a_leaver_is_stopped_at_every_door(
    connector: LenelBadgeConnector, pacs: LenelEmulator, site: Site, clock: FakeClock
) -> None:
    pacs.assign(site.jane_badge, "Server Room")  # given by hand at the PACS: no policy names it
    assert [pacs.swipe(5001, d) for d in ("lobby", "lab", "server-room")] == ["granted"] * 3
    results = terminate(connector, JANE)
    assert results and all(r.outcome == Outcome.UPDATED for r in results)
    assert [pacs.swipe(5001, d) for d in ("lobby", "lab", "server-room")] == ["denied"] * 3
    after = connector.read_account(JANE)
    assert after is not None and after.remaining_access() == []
    assert not after.enabled and not after.entitlements
    assert [c.active for c in after.credentials] == [False]
    badge = pacs.badge(site.jane_badge)  # deactivated, never deleted: its history stays
    assert badge["STATUS_NAME"] == "Terminated" and badge["DEACTIVATE"] == clock()
    assert pacs.levels_of(site.jane_badge) == set()
    assert not any(e.method == "DELETE" and e.query.get("type_name") == "Lnl_Badge" for e in pacs.exchanges)
    assert pacs.swipe(5002, "lobby") == "granted"  # the other Jane Doe keeps her access


def test_terminating_again_gives_only_unchanged(connector: LenelBadgeConnector, pacs: LenelEmulator) -> None:
    state = connector.read_account(JANE)
    assert state is not None
    steps = connector.termination_steps(state)
    for step in steps:
        contract.perform(connector, JANE, step)
    after = connector.read_account(JANE)
    assert after is not None and connector.termination_steps(after) == []
    before, written = pacs.snapshot(), len(writes(pacs))
    assert {contract.perform(connector, JANE, step).outcome for step in steps} == {Outcome.UNCHANGED}
    assert pacs.snapshot() == before and len(writes(pacs)) == written


def test_a_lost_mark_is_kept_while_every_other_badge_is_terminated(
    connector: LenelBadgeConnector, pacs: LenelEmulator, site: Site, clock: FakeClock
) -> None:
    second = pacs.add_badge(site.jane, 5101)
    lost = pacs.add_badge(site.jane, 5102, "Lost")
    pacs.assign(lost, "Lab")  # a Lost card still holding a level: found and stripped
    pacs.assign(second, "Lobby")
    state = connector.read_account(JANE)
    assert state is not None
    assert {c.id: c.active for c in state.credentials} == {
        str(site.jane_badge): True,
        str(second): True,
        str(lost): False,
    }
    assert connector.revoke_credential(JANE, str(lost)).outcome == Outcome.UNCHANGED
    terminate(connector, JANE)
    assert pacs.badge(lost)["STATUS_NAME"] == "Lost" and pacs.badge(lost)["DEACTIVATE"] is None
    assert {pacs.badge(k)["STATUS_NAME"] for k in (site.jane_badge, second)} == {"Terminated"}
    assert all(pacs.levels_of(k) == set() for k in (site.jane_badge, second, lost))
    assert connector.read_account(JANE).remaining_access() == []  # type: ignore[union-attr]


def test_deactivation_never_moves_an_earlier_end_later(
    connector: LenelBadgeConnector, pacs: LenelEmulator, site: Site, clock: FakeClock
) -> None:
    ended = clock() - timedelta(days=3)
    expired = pacs.add_badge(site.jane, 5201, deactivate=ended)  # still "Active": one date edit revives it
    assert connector.revoke_credential(JANE, str(expired)).outcome == Outcome.UPDATED
    assert pacs.badge(expired)["STATUS_NAME"] == "Terminated" and pacs.badge(expired)["DEACTIVATE"] == ended


def test_a_badge_of_someone_else_is_absent(
    connector: LenelBadgeConnector, pacs: LenelEmulator, site: Site
) -> None:
    assert connector.revoke_credential(JANE, str(site.twin_badge)).outcome == Outcome.ABSENT
    assert pacs.badge(site.twin_badge)["STATUS_NAME"] == "Active"


def test_disable_stops_every_active_badge_and_enable_never_revives_one(
    connector: LenelBadgeConnector, pacs: LenelEmulator, site: Site
) -> None:
    lost = pacs.add_badge(site.jane, 5301, "Stolen")
    assert connector.enable(JANE).outcome == Outcome.UNCHANGED
    assert connector.disable(JANE).outcome == Outcome.UPDATED
    assert connector.disable(JANE).outcome == Outcome.UNCHANGED
    assert pacs.badge(lost)["STATUS_NAME"] == "Stolen"
    with pytest.raises(errors.Unsupported, match="new badge"):
        connector.enable(JANE)
    assert pacs.swipe(5001, "lobby") == "denied"


# sessions, faults, refusals -------------------------------------------------------------------


def test_a_session_expiring_mid_run_is_renewed_once(
    connector: LenelBadgeConnector, pacs: LenelEmulator
) -> None:
    state = connector.read_account(JANE)
    assert state is not None and pacs.logins == 1
    steps = connector.termination_steps(state)
    contract.perform(connector, JANE, steps[0])
    pacs.expire_sessions()
    assert all(contract.perform(connector, JANE, s).changed for s in steps[1:])
    assert pacs.logins == 2
    assert connector.read_account(JANE).remaining_access() == []  # type: ignore[union-attr]


def test_a_token_refused_right_after_login_is_authentication_failed(clock: FakeClock) -> None:
    with LenelEmulator(clock, token_lifetime=timedelta(0)) as pacs:
        seed(pacs)
        c = make(pacs, clock)
        with pytest.raises(errors.AuthenticationFailed, match="fresh session token"):
            c.read_account(JANE)
        assert pacs.logins == 1  # one login, one refusal: no loop
        c.close()


def test_a_server_that_does_not_answer_is_a_transient_error(
    pacs: LenelEmulator, site: Site, clock: FakeClock
) -> None:
    c = make(pacs, clock, timeout=0.3)
    c.check()
    pacs.hang_next(1)
    with pytest.raises(errors.ConnectTimeout) as caught:
        c.read_account(JANE)
    assert caught.value.retryable
    pacs.release()
    assert c.read_account(JANE) is not None  # the connector is still usable: the engine may retry
    c.close()


def test_a_5xx_is_transient_and_the_connector_does_not_retry_it(
    connector: LenelBadgeConnector, pacs: LenelEmulator
) -> None:
    connector.check()
    pacs.fail_next(1, 503)
    seen = len(pacs.exchanges)
    with pytest.raises(errors.TransientError):
        connector.read_account(JANE)
    assert len(pacs.exchanges) == seen + 1


def test_bad_credentials_or_application_id_are_authentication_failed(pacs: LenelEmulator, site: Site) -> None:
    for bad in ({"password": Secret("Not-The-Passw0rd-77")}, {"application_id": "UNLICENSED-APP"}):
        c = LenelBadgeConnector("badges", settings(pacs, **bad))
        with pytest.raises(errors.AuthenticationFailed, match=f"login of user {USER}"):
            c.read_account(JANE)
        c.close()


def test_a_user_who_may_not_write_is_denied_and_nothing_changes(
    connector: LenelBadgeConnector, pacs: LenelEmulator, site: Site
) -> None:
    pacs.set_can_write(USER, False)
    before = pacs.snapshot()
    with pytest.raises(errors.PermissionDenied, match=USER):
        connector.revoke_credential(JANE, str(site.jane_badge))
    assert pacs.snapshot() == before


def test_a_listing_that_ends_on_a_later_page_is_an_error_not_fewer_cardholders(
    pacs: LenelEmulator, site: Site, clock: FakeClock
) -> None:
    for n in range(5):
        pacs.add_cardholder(f"Extra{n}", SSNO=f"E9{n:03d}")
    pacs.cut_listings(
        after=4, type_name="Lnl_Cardholder"
    )  # 7 cardholders, pages of 2: page 3 comes back empty
    connector = make(pacs, clock, page_size=2)
    with pytest.raises(errors.IncompleteRead, match="Lnl_Cardholder came back empty at page 3 of 4"):
        list(connector.iter_accounts())
    pacs.cut_listings(after=6, type_name="Lnl_Cardholder")  # the last page is short of what was announced
    with pytest.raises(errors.IncompleteRead, match="Lnl_Cardholder ended after 6 of 7"):
        list(connector.iter_accounts())


NOT_A_PAGE = (
    {"version": "1.0"},  # a gateway's or proxy's own 200
    {"id": "5f0c2c4e-9a51-4a8e-8a43-2b0a3c1d7e11", "status": "pending", "version": "1.0"},  # a queued task
    {"item_list": {"property_value_map": {}}, "total_items": 1, "total_pages": 1, "version": "1.0"},
    {"item_list": [], "version": "1.0"},  # neither count nor total_pages: the end cannot be told
)


@pytest.mark.parametrize("answer", NOT_A_PAGE)
def test_an_answer_that_is_not_a_page_is_an_incomplete_read_not_nobody(
    connector: LenelBadgeConnector, pacs: LenelEmulator, answer: dict[str, object]
) -> None:
    connector.check()  # logged in: the injected answer meets a listing, not the login
    pacs.answer_next(answer)
    with pytest.raises(errors.IncompleteRead, match="not a page of instances"):
        connector.read_account(JANE)
    pacs.answer_next(answer)
    with pytest.raises(errors.IncompleteRead, match="not a page of instances"):
        list(connector.iter_accounts())
    pacs.answer_next(answer, count=2)  # the first meets check's GET /version, the second a listing
    with pytest.raises(errors.IncompleteRead, match=r"prove Lnl_Cardholder can be listed.*not a page"):
        connector.check()


def test_listings_ask_a_stable_order_so_pages_neither_repeat_nor_skip(
    pacs: LenelEmulator, site: Site, clock: FakeClock
) -> None:
    for n in range(5):
        pacs.add_cardholder(f"Extra{n}", SSNO=f"E9{n:03d}")
    pacs.unstable_order()  # without order_by, each page is cut from an order that flips
    connector = make(pacs, clock, page_size=2)
    listed = [state.username for state in connector.iter_accounts()]
    assert sorted(listed) == ["E1001", "E1002"] + [f"E9{n:03d}" for n in range(5)]
    connector.close()


def test_a_repeated_item_cannot_stand_in_for_a_skipped_one(
    pacs: LenelEmulator, site: Site, clock: FakeClock
) -> None:
    for level in ("Finance", "Server Room"):
        pacs.assign(site.jane_badge, level)
    # the four assignments of one badge tie on any order by badge: page 2 repeats page 1 in reverse
    pacs.unstable_order()
    connector = make(pacs, clock, page_size=2)
    cut = r"Lnl_AccessLevelAssignment ended after 2 of 4 item\(s\): 2 came back again in place of others"
    with pytest.raises(errors.IncompleteRead, match=cut):
        connector.read_account(JANE)
    connector.close()


def test_a_class_the_user_may_not_read_is_permission_denied_not_no_access(
    connector: LenelBadgeConnector, pacs: LenelEmulator
) -> None:
    pacs.forbid_reading(USER, "Lnl_AccessLevelAssignment")
    with pytest.raises(errors.PermissionDenied, match=USER):
        connector.read_account(JANE)
    with pytest.raises(errors.PermissionDenied):
        list(connector.iter_accounts())
    with pytest.raises(errors.PermissionDenied, match="prove Lnl_AccessLevelAssignment can be listed"):
        connector.check()


def test_an_untrusted_or_absent_server_says_which(pacs: LenelEmulator, site: Site, clock: FakeClock) -> None:
    tls = LenelBadgeConnector(
        "badges", settings(pacs, url=pacs.url.replace("http://", "https://")), now=clock
    )
    with pytest.raises(errors.PermanentError, match="TLS") as caught:
        tls.check()
    assert not caught.value.retryable and "verify_tls: false" in str(caught.value)
    gone = LenelBadgeConnector("badges", settings_for(f"http://127.0.0.1:{closed_port()}"), now=clock)
    with pytest.raises(errors.Unreachable):
        gone.check()


# matching ---------------------------------------------------------------------------------------


def test_an_ambiguous_match_stops_the_system_and_changes_nothing(
    connector: LenelBadgeConnector, pacs: LenelEmulator, site: Site
) -> None:
    pacs.add_badge(pacs.add_cardholder("Duplicate", SSNO=JANE), 5401)
    before, written = pacs.snapshot(), len(writes(pacs))
    with pytest.raises(errors.AmbiguousAccount, match="2 cardholders") as caught:
        connector.read_account(JANE)
    assert str(caught.value).startswith("badges: 2 cardholders")  # the system named once
    level = Entitlement("access-level", "Finance")
    for op in (
        lambda: connector.grant(JANE, level),
        lambda: connector.revoke(JANE, Entitlement("access-level", "Lobby")),
        lambda: connector.revoke_credential(JANE, str(site.jane_badge)),
        lambda: connector.disable(JANE),
        lambda: connector.create_account(JANE, {}),
    ):
        with pytest.raises(errors.AmbiguousAccount):
            op()
    assert pacs.snapshot() == before and len(writes(pacs)) == written
    assert pacs.swipe(5001, "lobby") == "granted"


def test_people_are_matched_by_their_key_never_by_name(connector: LenelBadgeConnector, site: Site) -> None:
    state = connector.read_account("E1002")  # the second Jane Doe
    assert state is not None and state.attributes["cardholder_id"] == str(site.twin)
    assert connector.read_account("Jane Doe") is None and connector.read_account("") is None
    for name_field in ("LASTNAME", "firstname"):
        with pytest.raises(errors.ConfigError, match="name"):
            LenelBadgeConnector("badges", {**settings_for("http://x"), "match_key": name_field})


def test_a_key_that_could_rewrite_the_filter_is_refused(
    connector: LenelBadgeConnector, pacs: LenelEmulator
) -> None:
    seen = len(pacs.exchanges)
    with pytest.raises(errors.InvalidAttribute, match="safely"):
        connector.read_account('x" or SSNO != "')
    assert len(pacs.exchanges) == seen


def test_the_secret_never_appears_in_any_error(pacs: LenelEmulator, site: Site, clock: FakeClock) -> None:
    wrong = "Wrong-Secret-Passw0rd-5"
    caught: list[BaseException] = []

    def collect(c: LenelBadgeConnector, action: str) -> None:
        try:
            c.read_account(JANE) if action == "read" else c.revoke_credential(JANE, str(site.jane_badge))
        except errors.ConnectorError as exc:
            caught.append(exc)

    collect(LenelBadgeConnector("badges", settings(pacs, password=Secret(wrong))), "read")
    collect(LenelBadgeConnector("badges", settings(pacs, password=wrong)), "read")  # inline string
    c = make(pacs, clock, timeout=0.3)
    pacs.hang_next(1)
    collect(c, "read")
    pacs.release()
    pacs.fail_next(1, 500)
    collect(c, "read")
    pacs.set_can_write(USER, False)
    collect(c, "revoke")
    pacs.add_cardholder("Dup", SSNO=JANE)
    collect(c, "read")
    collect(LenelBadgeConnector("badges", settings_for(f"http://127.0.0.1:{closed_port()}")), "read")
    assert len(caught) == 7
    for exc in caught:
        text = str(exc) + repr(exc) + "".join(traceback.format_exception(exc))
        assert PASSWORD not in text and wrong not in text, text
