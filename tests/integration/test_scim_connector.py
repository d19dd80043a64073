"""The SCIM connector against a real SCIM 2.0 server (scim2-server), in two profiles.

``full`` serves PATCH, filters and ETags; ``strict`` serves none of them
and answers 501 when asked, so the connector passes there only by falling
back to PUT and paged listings. Every check of what the server holds goes
through the server's own API (`ScimAdmin`), never the connector. The RFC
compliance checker scim2-tester runs against the same server with a client
built from iam's own settings.
"""

from __future__ import annotations

import base64
import json
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import httpx2
import pytest
from iam.connectors.scim import ScimConnector, ScimSettings
from iam.lab.loopback import LoopbackHttp
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from iam import contract, errors
from iam.model import Entitlement, Outcome
from iam.secrets import Secret
from tests.support.conformance import ConnectorConformance, Unreadable
from tests.support.scim import TOKEN, ScimAdmin, ScimServer
from tests.support.slapd import free_port

ALICE = "alice"


@dataclass
class Seeded:
    """alice in eng and solo (alone there), bob in eng; finance empty."""

    admin: ScimAdmin
    alice: str
    bob: str
    groups: dict[str, str]


def seed(server: ScimServer) -> Seeded:
    admin = server.admin()
    alice = admin.add_user(ALICE, name={"givenName": "Alice", "familyName": "Liddell"})
    bob = admin.add_user("bob")
    groups = {
        "eng": admin.add_group("eng", [alice, bob]),
        "solo": admin.add_group("solo", [alice]),
        "finance": admin.add_group("finance"),
    }
    return Seeded(admin, alice, bob, groups)


def start(tmp_path: Path, profile: str) -> ScimServer:
    server = ScimServer(tmp_path / f"scim-{profile}", profile)
    server.start()
    return server


@pytest.fixture(params=["full", "strict"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ScimServer]:
    s = start(tmp_path, request.param)
    yield s
    s.stop()


@pytest.fixture
def full(tmp_path: Path) -> Iterator[ScimServer]:
    s = start(tmp_path, "full")
    yield s
    s.stop()


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[ScimServer]:
    s = start(tmp_path, "strict")
    yield s
    s.stop()


def connect(server: ScimServer, **overrides: Any) -> ScimConnector:
    return ScimConnector("app", server.settings(**overrides))


class _Conformance(ConnectorConformance):
    profile = "full"

    @pytest.fixture
    def scim(self, tmp_path: Path) -> Iterator[ScimServer]:
        s = start(tmp_path, self.profile)
        seed(s)
        yield s
        s.stop()

    @pytest.fixture
    def connector(self, scim: ScimServer) -> Iterator[ScimConnector]:
        c = connect(scim, page_size=2)  # every listing takes several pages
        yield c
        c.close()

    @pytest.fixture
    def holder(self) -> str:
        return ALICE

    @pytest.fixture
    def spare(self) -> Entitlement:
        return Entitlement("group", "finance")

    @pytest.fixture
    def unreachable(self) -> Iterator[ScimConnector]:
        c = ScimConnector("app", {"url": f"http://127.0.0.1:{free_port()}/v2", "token": TOKEN, "timeout": 2})
        yield c
        c.close()

    @pytest.fixture
    def unreadable(self, scim: ScimServer) -> Iterator[Unreadable]:
        """The base URL of another path: its /Users does not exist, which is not "no users"."""
        c = connect(scim, url=scim.url.replace("/v2", "/scim/v2"))
        yield Unreadable(c, "set url to the SCIM base URL")
        c.close()


class TestConformancePatchAndFilter(_Conformance):
    profile = "full"


class TestConformanceWithoutPatchOrFilter(_Conformance):
    profile = "strict"


# termination, read back from outside ----------------------------------------------------------


def terminate(c: ScimConnector, username: str) -> None:
    state = c.read_account(username)
    assert state is not None
    for step in c.termination_steps(state):
        assert contract.perform(c, username, step).changed, step


def test_a_leaver_is_inactive_and_in_no_group_as_the_server_sees_it(server: ScimServer) -> None:
    s = seed(server)
    c = connect(server)
    state = c.read_account(ALICE)
    assert state is not None and state.entitlements == {
        Entitlement("group", "eng"),
        Entitlement("group", "solo"),
    }
    steps = c.termination_steps(state)
    assert [st.op for st in steps] == [contract.Op.DISABLE, contract.Op.REVOKE, contract.Op.REVOKE]
    terminate(c, ALICE)
    assert s.admin.user(s.alice)["active"] is False
    assert all(s.alice not in s.admin.members(g) for g in s.groups.values())
    assert s.admin.members(s.groups["eng"]) == {s.bob}  # bob keeps his membership
    assert s.admin.user(s.bob)["active"] is True
    assert len(s.admin.users()) == 2  # disabled, never deleted


def test_the_strict_server_refuses_patch_and_filters_and_the_connector_never_asks(strict: ScimServer) -> None:
    s = seed(strict)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": []}
    refused = httpx.patch(f"{strict.url}/Users/{s.alice}", json=patch, headers=headers)
    filtered = httpx.get(f"{strict.url}/Users", params={"filter": 'userName eq "alice"'}, headers=headers)
    assert (refused.status_code, filtered.status_code) == (501, 501)
    c = connect(strict, page_size=1)
    assert "PUT (no PATCH), paged listings (no filter)" in c.check()
    assert c.grant(ALICE, Entitlement("group", "finance")).outcome == Outcome.UPDATED
    assert s.admin.members(s.groups["finance"]) == {s.alice}
    terminate(c, ALICE)
    assert s.admin.user(s.alice)["active"] is False
    assert s.admin.user(s.alice)["name"] == {
        "givenName": "Alice",
        "familyName": "Liddell",
    }  # PUT kept the rest
    assert all(s.alice not in s.admin.members(g) for g in s.groups.values())


def test_retention_deletes_and_termination_never_does(server: ScimServer) -> None:
    s = seed(server)
    c = connect(server)
    terminate(c, ALICE)
    assert any(u["id"] == s.alice for u in s.admin.users())
    assert c.delete_account(ALICE).outcome == Outcome.UPDATED
    assert c.delete_account(ALICE).outcome == Outcome.ABSENT
    assert all(u["id"] != s.alice for u in s.admin.users())


def test_a_joiner_is_created_active_and_granted(server: ScimServer) -> None:
    s = seed(server)
    c = connect(server)
    attributes = {"given_name": "Nora", "family_name": "New", "email": "nora@example.com"}
    assert c.create_account("nora", attributes).outcome == Outcome.CREATED
    assert c.create_account("nora", attributes).outcome == Outcome.UNCHANGED
    assert c.grant("nora", Entitlement("group", "eng")).outcome == Outcome.UPDATED
    (nora,) = [u for u in s.admin.users() if u["userName"] == "nora"]
    assert nora["active"] is True and nora["emails"][0]["value"] == "nora@example.com"
    assert nora["id"] in s.admin.members(s.groups["eng"])


# matching and escaping ------------------------------------------------------------------------


def test_a_username_that_could_rewrite_the_filter_matches_only_itself(server: ScimServer) -> None:
    s = seed(server)
    odd = 'o"brien\\x'
    oid = s.admin.add_user(odd)
    c = connect(server)
    state = c.read_account(odd)
    assert state is not None and state.attributes["id"] == oid
    assert c.read_account('x" or userName pr or userName eq "') is None
    assert c.read_account("ALICE") is not None  # userName is not case-exact (RFC 7643 §4.1.1)
    assert c.read_account("") is None


def test_two_users_with_one_key_stop_the_system_and_nothing_changes(server: ScimServer) -> None:
    s = seed(server)
    twins = [s.admin.add_user(f"jane{n}@example.com", externalId="E1001") for n in (1, 2)]
    c = connect(server, username_attribute="externalId")
    for attempt in (
        lambda: c.read_account("E1001"),
        lambda: c.disable("E1001"),
        lambda: c.grant("E1001", Entitlement("group", "finance")),
    ):
        with pytest.raises(errors.AmbiguousAccount, match="2 users"):
            attempt()
    assert all(s.admin.user(t)["active"] is True for t in twins)
    assert s.admin.members(s.groups["finance"]) == set()


def test_people_can_be_matched_by_external_id(server: ScimServer) -> None:
    s = seed(server)
    emp = s.admin.add_user("alice@example.com", externalId="E1001")
    c = connect(server, username_attribute="externalId")
    state = c.read_account("E1001")
    assert state is not None and state.attributes["id"] == emp
    assert {a.username for a in c.iter_accounts()} >= {"E1001", f"scim:{s.alice}"}


def test_an_external_id_in_another_case_is_found_whether_or_not_the_service_filters(
    server: ScimServer,
) -> None:
    """externalId is case-exact (RFC 7643 §3.1), so a filtering service answers ``eq "carol"`` with
    nobody for "Carol"; iam matches without regard to case, and must give one answer either way."""
    s = seed(server)
    carol = s.admin.add_user("carol.x@example.com", externalId="Carol")
    payroll = s.admin.add_group("payroll", [carol])
    c = connect(server, username_attribute="externalId")
    state = c.read_account("carol")
    assert state is not None and state.attributes["id"] == carol
    assert state.entitlements == {Entitlement("group", "payroll")}
    terminate(c, "carol")
    assert s.admin.user(carol)["active"] is False and s.admin.members(payroll) == set()
    assert c.read_account("nobody") is None


# paging ------------------------------------------------------------------------------------------


def test_a_bulk_read_joins_every_page(server: ScimServer) -> None:
    s = seed(server)
    extra = [s.admin.add_user(f"user{n}") for n in range(5)]
    s.admin.add_group("crowd", extra)
    c = connect(server, page_size=2)
    accounts = {a.username: a for a in c.iter_accounts()}
    assert set(accounts) == {ALICE, "bob", *(f"user{n}" for n in range(5))}
    assert accounts[ALICE].entitlements == {Entitlement("group", "eng"), Entitlement("group", "solo")}
    assert accounts["user4"].entitlements == {Entitlement("group", "crowd")}


# ETags -------------------------------------------------------------------------------------------


class MeddlingTransport(httpx.BaseTransport):
    """Forwards to the real server; before the first write, someone else changes the resource."""

    def __init__(self, meddle: Any) -> None:
        self.inner = httpx.HTTPTransport()
        self.meddle = meddle
        self.if_match: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method in ("PATCH", "PUT"):
            self.if_match.append(request.headers.get("If-Match"))
            if self.meddle:
                self.meddle()
                self.meddle = None
        return self.inner.handle_request(request)


def test_a_change_made_between_read_and_write_is_refused_not_overwritten(full: ScimServer) -> None:
    s = seed(full)
    transport = MeddlingTransport(lambda: s.admin.replace_user(s.alice, displayName="Changed meanwhile"))
    c = ScimConnector("app", full.settings(), transport=transport)
    with pytest.raises(errors.TransientError, match="changed by someone else") as caught:
        c.disable(ALICE)
    assert caught.value.retryable and transport.if_match[0]
    assert s.admin.user(s.alice)["active"] is True
    assert c.disable(ALICE).outcome == Outcome.UPDATED  # the engine's retry reads again
    assert s.admin.user(s.alice)["displayName"] == "Changed meanwhile"


# refusals and secrets ------------------------------------------------------------------------------


def test_a_wrong_token_is_authentication_failed(full: ScimServer) -> None:
    seed(full)
    c = connect(full, token=Secret("not-the-token-4711"))
    with pytest.raises(errors.AuthenticationFailed, match="check the configured token"):
        c.read_account(ALICE)
    with pytest.raises(errors.AuthenticationFailed):
        c.check()


def test_a_group_policy_names_that_does_not_exist_says_so(full: ScimServer) -> None:
    seed(full)
    c = connect(full)
    with pytest.raises(errors.InvalidAttribute, match="no group named 'roof'"):
        c.grant(ALICE, Entitlement("group", "roof"))
    with pytest.raises(errors.InvalidAttribute, match="not role"):
        c.grant(ALICE, Entitlement("role", "eng"))


def test_settings_need_exactly_one_way_to_sign_in() -> None:
    with pytest.raises(errors.ConfigError, match="give token"):
        ScimConnector("app", {"url": "http://127.0.0.1/v2"})
    with pytest.raises(errors.ConfigError, match=r"systems\.app\.url"):
        ScimConnector("app", {"url": "ftp://x", "token": "t"})
    assert isinstance(ScimConnector("app", {"url": "http://x/v2", "token": "t"}).settings, ScimSettings)


class TokenEndpoint(BaseHTTPRequestHandler):
    """An OAuth2 token endpoint (client credentials, client authenticated by HTTP Basic)."""

    client = ("iam", "client-secret-9c2e")
    issued = 0
    token = TOKEN

    def do_POST(self) -> None:
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        basic = base64.b64encode(":".join(self.client).encode()).decode()
        if self.headers.get("Authorization") != f"Basic {basic}" or form.get("grant_type") != [
            "client_credentials"
        ]:
            self._answer(401, {"error": "invalid_client"})
            return
        type(self).issued += 1
        self._answer(200, {"access_token": self.token, "token_type": "Bearer", "expires_in": 3600})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def token_endpoint() -> Iterator[str]:
    TokenEndpoint.token = TOKEN
    http = LoopbackHttp()
    http.start(TokenEndpoint)
    yield f"{http.base_url}/token"
    http.stop()


def test_client_credentials_get_a_token_once_and_a_wrong_secret_says_where(
    full: ScimServer, token_endpoint: str
) -> None:
    seed(full)
    TokenEndpoint.issued = 0
    oauth = {"token_url": token_endpoint, "client_id": "iam", "client_secret": "client-secret-9c2e"}
    c = ScimConnector("app", {"url": full.url, "oauth": oauth, "timeout": 5})
    assert c.read_account(ALICE) is not None and c.read_account("bob") is not None
    assert TokenEndpoint.issued == 1
    wrong = ScimConnector("app", {"url": full.url, "oauth": {**oauth, "client_secret": "nope-nope-31"}})
    with pytest.raises(errors.AuthenticationFailed, match=r"oauth.client_secret"):
        wrong.read_account(ALICE)


def test_the_secret_never_appears_in_any_error(full: ScimServer, token_endpoint: str) -> None:
    seed(full)
    wrong = "Wrong-Scim-Token-5521"
    caught: list[BaseException] = []
    attempts = [
        lambda: connect(full, token=Secret(wrong)).read_account(ALICE),
        lambda: connect(full, token=wrong).check(),
        lambda: connect(full, url=full.url + "/nowhere").read_account(ALICE),
        lambda: ScimConnector(
            "app",
            {
                "url": full.url,
                "oauth": {"token_url": token_endpoint, "client_id": "iam", "client_secret": wrong},
            },
        ).read_account(ALICE),
        lambda: connect(full).grant(ALICE, Entitlement("group", "roof")),
    ]
    for attempt in attempts:
        try:
            attempt()
        except errors.ConnectorError as exc:
            caught.append(exc)
    assert len(caught) == len(attempts)
    for exc in caught:
        text = str(exc) + repr(exc) + "".join(traceback.format_exception(exc))
        assert TOKEN not in text and wrong not in text, text


# the RFC checker agrees ------------------------------------------------------------------------


def checker_client(settings: ScimSettings) -> SyncSCIMClient:
    """A scim2-client built from iam's settings for the system: the same URL and the same credential."""
    assert settings.token is not None
    bearer = {"Authorization": f"Bearer {settings.token.reveal()}"}
    return SyncSCIMClient(httpx2.Client(base_url=settings.url, headers=bearer, timeout=settings.timeout))


def test_scim2_tester_finds_the_server_compliant_with_the_settings_iam_uses(server: ScimServer) -> None:
    c = connect(server)
    c.check()
    results = check_server(checker_client(c.settings))
    failed = [f"{r.title}: {r.reason}" for r in results if r.status not in (Status.SUCCESS, Status.SKIPPED)]
    assert results and not failed
    skipped = {r.title for r in results if r.status == Status.SKIPPED}
    features = c.session.features()
    assert bool(skipped) == (not features.patch)  # what the checker skips is what iam falls back from


# a service that does not keep the switch, a listing cut short --------------------------------------


class RewritingTransport(httpx.BaseTransport):
    """Forwards to the real server, rewriting what one kind of service gets wrong on the way."""

    def __init__(self, request: Any = None, response: Any = None) -> None:
        self.inner = httpx.HTTPTransport()
        self.rewrite_request = request or (lambda r: r)
        self.rewrite_response = response or (lambda r, body: body)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.inner.handle_request(self.rewrite_request(request))
        answer.read()
        if not answer.content or answer.headers.get("content-type", "").find("json") < 0:
            return answer
        body = self.rewrite_response(request, json.loads(answer.content))
        return httpx.Response(
            answer.status_code, headers={"content-type": "application/scim+json"}, json=body
        )


def _without_active(request: httpx.Request) -> httpx.Request:
    """A service that takes a PUT and silently drops ``active`` from it."""
    if request.method != "PUT" or "/Users/" not in request.url.path:
        return request
    body = {k: v for k, v in json.loads(request.content).items() if k != "active"}
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    return httpx.Request(request.method, request.url, headers=headers, json=body)


def test_a_service_that_does_not_keep_active_false_has_disabled_nobody(strict: ScimServer) -> None:
    s = seed(strict)
    c = ScimConnector("app", strict.settings(), transport=RewritingTransport(request=_without_active))
    with pytest.raises(errors.Unsupported, match="does not keep the switch"):
        c.disable(ALICE)
    state = c.read_account(ALICE)
    assert state is not None and state.enabled
    assert "account is enabled: the service does not say the user is inactive" in state.remaining_access()
    assert s.admin.user(s.alice).get("active") is not False


def _cut_after_first_page(request: httpx.Request, body: dict[str, Any]) -> dict[str, Any]:
    """A listing whose later pages come back empty while the total still counts them."""
    if "Resources" in body and int(request.url.params.get("startIndex", "1")) > 1:
        return {**body, "Resources": []}
    return body


def test_a_listing_that_stops_short_of_its_total_is_an_error_not_fewer_users(server: ScimServer) -> None:
    seed(server)
    for n in range(3):
        server.admin().add_user(f"user{n}")
    transport = RewritingTransport(response=_cut_after_first_page)
    c = ScimConnector("app", server.settings(page_size=2), transport=transport)
    with pytest.raises(errors.IncompleteRead, match=r"the listing of (Users|Groups) ended after 2 of"):
        list(c.iter_accounts())
    with pytest.raises(errors.IncompleteRead, match="ended after 2 of"):
        c.read_account("user2")  # alice's groups, or the users scanned without a filter, are cut short


def _from_the_first(request: httpx.Request) -> httpx.Request:
    """A service that ignores ``startIndex``: every page is the first one again."""
    if "startIndex" not in request.url.params:
        return request
    return httpx.Request(
        request.method, request.url.copy_set_param("startIndex", "1"), headers=request.headers
    )


def test_a_listing_that_repeats_its_first_page_is_an_error_not_fewer_users(server: ScimServer) -> None:
    s = seed(server)
    extra = [s.admin.add_user(f"user{n}") for n in range(3)]
    s.admin.add_group("crowd", extra)  # the fourth group: on the second page of two
    c = ScimConnector("app", server.settings(page_size=2), transport=RewritingTransport(_from_the_first))
    with pytest.raises(errors.IncompleteRead, match=r"after 2 of \d+: a page repeated.*startIndex"):
        list(c.iter_accounts())
    with pytest.raises(errors.IncompleteRead, match="a page repeated"):
        c.read_account("user2")  # the groups (and, without a filter, the users) never get past page 1


def test_a_fetched_token_the_service_refuses_is_fetched_again_once(
    full: ScimServer, token_endpoint: str
) -> None:
    seed(full)
    TokenEndpoint.issued = 0
    oauth = {"token_url": token_endpoint, "client_id": "iam", "client_secret": "client-secret-9c2e"}
    c = ScimConnector("app", {"url": full.url, "oauth": oauth, "timeout": 5})
    assert c.read_account(ALICE) is not None
    full.stop()  # the service now accepts only tokens issued from here on
    TokenEndpoint.token = full.token = "scim-rotated-token-8e21"
    full.start()
    seed(full)
    assert c.read_account("bob") is not None
    assert TokenEndpoint.issued == 2
