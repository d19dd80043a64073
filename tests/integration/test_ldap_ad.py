"""The LDAP connector's ``flavor: ad`` against a real Samba AD domain controller.

One DC serves the whole module (AD's ports are fixed); every test gets its own
OU with fresh users and groups. The connector talks LDAPS (Samba is more
lenient than Windows elsewhere; only the TLS tests use port 389), and the
outcome of a change is checked by a separate Administrator connection, not by
the connector's own word.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import ldap3
import pytest
import yaml
from iam.connectors.ldap import LdapConnector
from ldap3.utils.conv import escape_filter_chars

from iam import contract, errors
from iam.model import Entitlement, Outcome
from iam.secrets import Secret
from tests.conftest import iam_env, run_iam
from tests.support.conformance import ConnectorConformance, Unreadable
from tests.support.samba import (
    ADMIN_DN,
    BASE_DN,
    LDAP_PORT,
    UF_ACCOUNTDISABLE,
    URL,
    PortTaken,
    Samba,
    SambaFailed,
    SambaUnavailable,
    ad_password,
    add_group,
    add_user,
    missing_packages,
)
from tests.support.slapd import free_port

INVALID_CREDENTIALS = 49


@pytest.fixture(scope="module")
def dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Samba]:
    server = Samba(tmp_path_factory.mktemp("samba") / "dc")
    try:
        server.check_machine()
    except SambaUnavailable as exc:
        if os.environ.get("CI") and os.geteuid() == 0 and missing_packages():
            pytest.fail(f"{exc}: the test command must install them (scripts/test)")
        if os.environ.get("CI") and isinstance(exc, PortTaken):  # a skip would pass CI unproven on AD
            pytest.fail(f"{exc}: stop what holds it (a DC a killed run left: `pkill -x samba`)")
        pytest.skip(f"no Samba AD DC here: {exc}")
    try:
        server.provision()
        server.start()
    except SambaFailed as exc:
        server.stop()
        if os.environ.get("CI"):  # installed but broken: CI must say so, not skip
            pytest.fail(f"Samba AD DC did not start: {exc}")
        pytest.skip(f"Samba AD DC did not start: {exc}")
    yield server
    server.stop()


@dataclass
class Domain:
    """One test's corner of the domain: an OU with people, groups and leavers."""

    dc: Samba
    ou: str
    suffix: str
    holder: str
    holder_dn: str
    holder_password: str
    groups: dict[str, str]

    @property
    def people(self) -> str:
        return f"OU=people,{self.ou}"

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "url": URL,
            "ca_file": str(self.dc.ca_file),
            "flavor": "ad",
            "base_dn": self.ou,
            "users_dn": self.people,
            "groups_dn": f"OU=groups,{self.ou}",
            "leavers_dn": f"OU=leavers,{self.ou}",
            "bind_dn": ADMIN_DN,
            "bind_password": Secret(self.dc.admin_password, "test"),
            "timeout": 5,
        }


@pytest.fixture
def domain(dc: Samba) -> Domain:
    """The holder is in eng and in solo (its only member); spare holds only another user."""
    conn = dc.admin()
    ou = dc.new_ou(conn)
    suffix = uuid.uuid4().hex[:8]
    people, groups_ou = f"OU=people,{ou}", f"OU=groups,{ou}"
    holder, password = f"h-{suffix}", ad_password()
    holder_dn = add_user(conn, people, holder, password)
    other_dn = add_user(conn, people, f"o-{suffix}", ad_password())
    groups = {
        "eng": add_group(conn, groups_ou, f"eng-{suffix}", [holder_dn, other_dn]),
        "solo": add_group(conn, groups_ou, f"solo-{suffix}", [holder_dn]),
        "spare": add_group(conn, groups_ou, f"spare-{suffix}", [other_dn]),
    }
    conn.unbind()
    return Domain(dc, ou, suffix, holder, holder_dn, password, groups)


def make(domain: Domain, **overrides: object) -> LdapConnector:
    return LdapConnector("directory", {**domain.settings, **overrides})


@pytest.fixture
def connector(domain: Domain) -> Iterator[LdapConnector]:
    conn = make(domain)
    yield conn
    conn.close()


@pytest.fixture
def holder(domain: Domain) -> str:
    return domain.holder


@pytest.fixture
def spare(domain: Domain) -> Entitlement:
    return Entitlement("group", domain.groups["spare"])


@pytest.fixture
def unreachable(domain: Domain) -> LdapConnector:
    return make(domain, url=f"ldaps://127.0.0.1:{free_port()}", timeout=1)


@pytest.fixture
def unreadable(domain: Domain) -> Unreadable:
    """groups_dn names an OU that does not exist: group searches fail, none comes back empty."""
    return Unreadable(make(domain, groups_dn=f"OU=no-such-groups,{domain.ou}"), "groups_dn")


class TestAdConformance(ConnectorConformance):
    pass


# reading from outside -------------------------------------------------------------


def admin_read(dc: Samba, username: str) -> dict[str, Any]:
    """The account's entry as Administrator sees it, searched by name over the whole domain.

    Values are lists (no schema is read), memberOf included.
    """
    conn = dc.admin()
    flt = f"(&(objectClass=user)(sAMAccountName={escape_filter_chars(username)}))"
    conn.search(
        BASE_DN,
        flt,
        attributes=[
            "userAccountControl",
            "memberOf",
            "displayName",
            "mail",
            "primaryGroupID",
            "title",
            "department",
            "manager",
        ],
    )
    entries = [e for e in conn.response if e["type"] == "searchResEntry"]
    conn.unbind()
    assert len(entries) == 1, entries
    return {"dn": entries[0]["dn"], **entries[0]["attributes"]}


def groups_naming(dc: Samba, dn: str) -> list[str]:
    """Every group in the domain whose ``member`` holds ``dn``."""
    conn = dc.admin()
    conn.search(BASE_DN, f"(&(objectClass=group)(member={escape_filter_chars(dn)}))", attributes=["cn"])
    found = [e["dn"] for e in conn.response if e["type"] == "searchResEntry"]
    conn.unbind()
    return found


def members(dc: Samba, group: str) -> list[str]:
    conn = dc.admin()
    conn.search(group, "(objectClass=group)", ldap3.BASE, attributes=["member"])
    values = conn.response[0]["attributes"]["member"]
    conn.unbind()
    return [v.lower() for v in values]


# termination ------------------------------------------------------------------------


def test_termination_disables_strips_every_group_and_kills_the_password(
    connector: LdapConnector, domain: Domain
) -> None:
    dc = domain.dc
    assert dc.bind_result(domain.holder_dn, domain.holder_password)["result"] == 0
    assert set(groups_naming(dc, domain.holder_dn)) == {domain.groups["eng"], domain.groups["solo"]}

    state = connector.read_account(domain.holder)
    assert state is not None
    for step in connector.termination_steps(state):
        assert contract.perform(connector, domain.holder, step).changed, step

    after = admin_read(dc, domain.holder)
    assert int(after["userAccountControl"][0]) & UF_ACCOUNTDISABLE
    assert after["dn"].lower() == f"cn={domain.holder},ou=leavers,{domain.ou}".lower()
    assert after["memberOf"] == []
    for group in domain.groups.values():
        assert domain.holder_dn.lower() not in members(dc, group)
        assert after["dn"].lower() not in members(dc, group)
    assert groups_naming(dc, after["dn"]) == []
    refused = dc.bind_result(after["dn"], domain.holder_password)
    assert refused["result"] == INVALID_CREDENTIALS, refused
    # the other member of eng keeps it: only the leaver was removed
    assert len(members(dc, domain.groups["eng"])) == 1


def test_disabling_alone_refuses_the_right_password_with_ad_reason_533(
    connector: LdapConnector, domain: Domain
) -> None:
    dc = domain.dc
    assert connector.disable(domain.holder).outcome == Outcome.UPDATED
    assert int(admin_read(dc, domain.holder)["userAccountControl"][0]) & UF_ACCOUNTDISABLE
    refused = dc.bind_result(domain.holder_dn, domain.holder_password)
    assert refused["result"] == INVALID_CREDENTIALS and "data 533" in refused["message"], refused
    assert connector.disable(domain.holder).outcome == Outcome.UNCHANGED
    assert connector.enable(domain.holder).outcome == Outcome.UPDATED  # rehire
    assert dc.bind_result(domain.holder_dn, domain.holder_password)["result"] == 0
    assert "enforced by Active Directory itself" in connector.check()


def test_revoking_a_group_never_or_no_longer_held_is_unchanged(
    connector: LdapConnector, domain: Domain
) -> None:
    spare = Entitlement("group", domain.groups["spare"])
    assert connector.revoke(domain.holder, spare).outcome == Outcome.UNCHANGED  # never held
    assert connector.grant(domain.holder, spare).outcome == Outcome.UPDATED
    assert connector.grant(domain.holder, spare).outcome == Outcome.UNCHANGED  # AD: entryAlreadyExists
    assert connector.revoke(domain.holder, spare).outcome == Outcome.UPDATED
    assert connector.revoke(domain.holder, spare).outcome == Outcome.UNCHANGED  # AD: unwillingToPerform
    assert domain.holder_dn.lower() not in members(domain.dc, domain.groups["spare"])


def test_archive_moves_a_name_holding_an_escaped_comma(connector: LdapConnector, domain: Domain) -> None:
    conn = domain.dc.admin()
    username = f"jdoe-{domain.suffix}"
    add_user(conn, domain.people, username, cn="Doe, Jane")
    assert connector.archive(username).outcome == Outcome.UPDATED
    moved = admin_read(domain.dc, username)["dn"]
    assert moved.lower() == f"cn=doe\\, jane,ou=leavers,{domain.ou}".lower()
    assert connector.archive(username).outcome == Outcome.UNCHANGED


# accounts -------------------------------------------------------------------------


def test_create_names_the_account_by_cn_and_leaves_it_disabled(
    connector: LdapConnector, domain: Domain
) -> None:
    username = f"n-{domain.suffix}"
    attributes = {
        "display_name": "New Person",
        "given_name": "New",
        "family_name": "Person",
        "email": f"{username}@iam.test",
        "title": "Engineer",
        "department": "Engineering",
    }
    result = connector.create_account(username, attributes)
    assert result.outcome == Outcome.CREATED
    assert result.detail == f"cn={username},{domain.people}"
    assert connector.create_account(username, attributes).outcome == Outcome.UNCHANGED
    seen = admin_read(domain.dc, username)
    assert seen["displayName"] == ["New Person"] and seen["mail"] == [f"{username}@iam.test"]
    assert seen["department"] == ["Engineering"] and seen["title"] == ["Engineer"]  # AD's own names
    # AD creates an account without a password disabled; the connector reports it so
    state = connector.read_account(username)
    assert state is not None and not state.enabled and state.entitlements == frozenset()


def test_bulk_read_of_the_whole_domain_lists_people_not_computers(domain: Domain) -> None:
    connector = make(domain, base_dn=BASE_DN, groups_dn=BASE_DN)
    names = {s.username for s in connector.iter_accounts()}
    assert {"Administrator", domain.holder} <= names
    assert not [n for n in names if n.endswith("$")], names  # DC1$ is a user object too
    assert connector.read_account("DC1$") is None


def test_reads_from_the_domain_root_pass_over_the_configuration_partition(dc: Samba) -> None:
    """Every search from a domain's root meets a continuation reference to Configuration (Windows:
    the DNS zones' partitions too); AD keeps no user or group there, and the crossRef says so."""
    admin = dc.admin()
    admin.search(BASE_DN, "(objectClass=group)", attributes=["1.1"])
    references = [r["uri"] for r in admin.response if r["type"] == "searchResRef"]
    admin.unbind()
    assert any(f"/CN=Configuration,{BASE_DN}" in url for urls in references for url in urls), references

    connector = tls_connector(dc, ca_file=str(dc.ca_file), page_size=7)
    assert "bound to" in connector.check()
    administrator = connector.read_account("Administrator")
    assert administrator is not None and Entitlement("group", DOMAIN_ADMINS) in administrator.entitlements
    assert "Administrator" in {s.username for s in connector.iter_accounts()}


def test_creation_and_last_login_times_come_from_the_dc(connector: LdapConnector, domain: Domain) -> None:
    before = connector.read_account(domain.holder)
    assert before is not None and before.created is not None and before.last_login is None
    assert domain.dc.bind_result(domain.holder_dn, domain.holder_password)["result"] == 0
    after = connector.read_account(domain.holder)
    assert after is not None and after.last_login is not None and after.last_login >= before.created
    listed = {s.username: s for s in connector.iter_accounts()}[domain.holder]
    assert listed.last_login == after.last_login and listed.created == before.created


C = TypeVar("C", bound=ldap3.Connection)


def admin_connections(domain: Domain, cls: type[C], opened: list[C]) -> Callable[[], ldap3.Connection]:
    """A connection factory for the connector: real binds as the DC's admin, each kept in ``opened``."""

    def factory() -> ldap3.Connection:
        conn = cls(domain.dc.server(5), ADMIN_DN, domain.dc.admin_password, auto_bind=True, receive_timeout=5)
        opened.append(conn)
        return conn

    return factory


class RecordingConnection(ldap3.Connection):
    """A real connection that notes the paging of every account listing it runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.pages: list[tuple[int | None, int]] = []
        super().__init__(*args, **kwargs)

    def search(self, *args: Any, **kwargs: Any) -> Any:
        call = inspect.signature(super().search).bind(*args, **kwargs)  # ldap3's paging passes by position
        done = super().search(*args, **kwargs)
        if "(sAMAccountName=*)" in call.arguments["search_filter"]:
            count = sum(1 for e in self.response or [] if e["type"] == "searchResEntry")
            self.pages.append((call.arguments.get("paged_size"), count))
        return done


def test_paged_bulk_read_sees_every_page(domain: Domain) -> None:
    conn = domain.dc.admin()
    for i in range(23):
        add_user(conn, domain.people, f"u{i:02d}-{domain.suffix}")
    conn.unbind()
    expected = {f"u{i:02d}-{domain.suffix}" for i in range(23)} | {domain.holder, f"o-{domain.suffix}"}

    recorder: list[RecordingConnection] = []
    factory = admin_connections(domain, RecordingConnection, recorder)
    connector = LdapConnector("directory", {**domain.settings, "page_size": 7}, connection_factory=factory)
    names = {s.username for s in connector.iter_accounts()}
    assert names == expected
    pages = recorder[0].pages
    assert len(pages) == math.ceil(len(expected) / 7), pages
    assert all(size == 7 and count <= 7 for size, count in pages), pages


class CappedValuesConnection(ldap3.Connection):
    """A real connection that asks for ``member`` three values at a time, as a Windows DC answers
    groups of more than 1,500 members (``member;range=0-1499``): Samba ranges only on request."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.ranged: list[str] = []
        super().__init__(*args, **kwargs)

    def search(self, *args: Any, **kwargs: Any) -> Any:
        call = inspect.signature(super().search).bind(*args, **kwargs)  # ldap3's paging passes by position
        attributes = call.arguments.get("attributes")
        if attributes and "member" in attributes:
            call.arguments["attributes"] = [a if a != "member" else "member;range=0-2" for a in attributes]
        done = super().search(*call.args, **call.kwargs)
        self.ranged += [n for e in self.response or [] for n in e.get("raw_attributes", {}) if ";range=" in n]
        return done


def test_bulk_read_follows_ranged_member_values_to_the_end(domain: Domain) -> None:
    conn = domain.dc.admin()
    crowd = [add_user(conn, domain.people, f"c{i}-{domain.suffix}") for i in range(8)]
    big = add_group(conn, f"OU=groups,{domain.ou}", f"big-{domain.suffix}", crowd)
    conn.unbind()
    opened: list[CappedValuesConnection] = []
    factory = admin_connections(domain, CappedValuesConnection, opened)
    connector = LdapConnector("directory", domain.settings, connection_factory=factory)
    holders = {s.username for s in connector.iter_accounts() if Entitlement("group", big) in s.entitlements}

    assert holders == {f"c{i}-{domain.suffix}" for i in range(8)}
    assert any(name.startswith("member;range=0-2") for name in opened[0].ranged), opened[0].ranged


def test_filter_metacharacters_in_a_username_match_nothing(connector: LdapConnector, domain: Domain) -> None:
    holder = domain.holder
    for probe in ("*", f"{holder[:3]}*", f"{holder})(|(sAMAccountName=*", "*)(objectClass=*", "\\2a", "h-*"):
        assert connector.read_account(probe) is None, probe
    conn = domain.dc.admin()
    odd = f"p(x)-{domain.suffix}"
    add_user(conn, domain.people, odd)
    state = connector.read_account(odd)
    assert state is not None and state.username == odd


def test_wrong_bind_password_is_an_authentication_error_without_the_password(domain: Domain) -> None:
    with pytest.raises(errors.AuthenticationFailed) as err:
        make(domain, bind_password=Secret("not-the-Right-0ne", "test")).check()
    assert "not-the-Right-0ne" not in str(err.value)


# TLS ------------------------------------------------------------------------------


def tls_connector(dc: Samba, **overrides: object) -> LdapConnector:
    settings = {
        "url": URL,
        "flavor": "ad",
        "base_dn": BASE_DN,
        "bind_dn": ADMIN_DN,
        "bind_password": Secret(dc.admin_password, "test"),
        "timeout": 5,
        **overrides,
    }
    return LdapConnector("directory", settings)


def test_the_dc_certificate_is_checked_by_default(dc: Samba) -> None:
    with pytest.raises(errors.PermanentError, match="not trusted"):
        tls_connector(dc).check()


def test_the_dc_ca_makes_ldaps_connect(dc: Samba) -> None:
    assert "bound to ldaps://" in tls_connector(dc, ca_file=str(dc.ca_file)).check()


def test_a_host_name_the_certificate_does_not_hold_is_refused(dc: Samba) -> None:
    url = URL.replace("127.0.0.1", "localhost")
    with pytest.raises(errors.PermanentError, match="not issued to localhost"):
        tls_connector(dc, url=url, ca_file=str(dc.ca_file)).check()


def test_turning_verification_off_by_name_connects(dc: Samba) -> None:
    assert "bound to" in tls_connector(dc, tls_verify=False).check()


def test_starttls_on_389_with_the_dc_ca_connects(dc: Samba) -> None:
    url = f"ldap://127.0.0.1:{LDAP_PORT}"
    assert "bound to ldap://" in tls_connector(dc, url=url, ca_file=str(dc.ca_file)).check()


def test_a_simple_bind_without_tls_is_refused_for_good(dc: Samba) -> None:
    url = f"ldap://127.0.0.1:{LDAP_PORT}"
    with pytest.raises(errors.PermanentError, match="strongerAuthRequired") as err:
        tls_connector(dc, url=url, start_tls=False).check()
    assert not err.value.retryable


def test_the_admin_password_is_in_no_log_of_the_dc(dc: Samba) -> None:
    logs = [p for p in Path(dc.dir).iterdir() if p.suffix in (".log", ".out")]
    assert logs
    assert [p.name for p in logs if dc.admin_password in p.read_text(errors="replace")] == []


# the primary group ----------------------------------------------------------------------

DOMAIN_ADMINS = f"CN=Domain Admins,CN=Users,{BASE_DN}"
DOMAIN_ADMINS_RID = 512


def make_primary(domain: Domain, group: str, rid: int) -> None:
    """Give the holder ``group`` as primary group, as an administrator would (a member first)."""
    conn = domain.dc.admin()
    if not conn.modify(group, {"member": [(ldap3.MODIFY_ADD, [domain.holder_dn])]}):
        assert conn.result["description"] == "entryAlreadyExists", conn.result
    assert conn.modify(domain.holder_dn, {"primaryGroupID": [(ldap3.MODIFY_REPLACE, [str(rid)])]}), (
        conn.result
    )
    conn.unbind()


def test_a_privileged_primary_group_is_read_terminated_and_verified(
    connector: LdapConnector, domain: Domain
) -> None:
    dc = domain.dc
    make_primary(domain, DOMAIN_ADMINS, DOMAIN_ADMINS_RID)
    assert domain.holder_dn.lower() not in members(dc, DOMAIN_ADMINS)  # AD never lists it in member
    admins = Entitlement("group", DOMAIN_ADMINS)

    state = connector.read_account(domain.holder)
    assert state is not None and admins in state.entitlements
    assert f"holds group:{DOMAIN_ADMINS}" in state.remaining_access()
    assert admins in {s.username: s for s in connector.iter_accounts()}[domain.holder].entitlements
    for step in connector.termination_steps(state):
        assert contract.perform(connector, domain.holder, step).changed, step

    after = admin_read(dc, domain.holder)
    assert after["primaryGroupID"] == ["513"]
    assert domain.holder_dn.lower() not in members(dc, DOMAIN_ADMINS)
    assert after["dn"].lower() not in members(dc, DOMAIN_ADMINS)
    assert after["memberOf"] == []
    back = connector.read_account(domain.holder)
    assert back is not None and back.remaining_access() == [] and connector.termination_steps(back) == []


def test_revoking_a_primary_group_outside_termination_takes_the_same_route(
    connector: LdapConnector, domain: Domain
) -> None:
    solo = domain.groups["solo"]
    conn = domain.dc.admin()
    conn.search(solo, "(objectClass=group)", ldap3.BASE, attributes=["primaryGroupToken"])
    rid = int(conn.response[0]["attributes"]["primaryGroupToken"][0])
    conn.unbind()
    make_primary(domain, solo, rid)  # the holder's membership of solo becomes the primary one
    assert connector.read_account(domain.holder).entitlements >= {Entitlement("group", solo)}

    assert connector.revoke(domain.holder, Entitlement("group", solo)).outcome == Outcome.UPDATED

    assert admin_read(domain.dc, domain.holder)["primaryGroupID"] == ["513"]
    assert domain.holder_dn.lower() not in members(domain.dc, solo)
    assert Entitlement("group", solo) not in connector.read_account(domain.holder).entitlements
    assert connector.revoke(domain.holder, Entitlement("group", solo)).outcome == Outcome.UNCHANGED
    assert connector.read_account(domain.holder).enabled  # a revoke is not a termination


def test_the_baseline_primary_group_is_a_setting(connector: LdapConnector, domain: Domain) -> None:
    make_primary(domain, DOMAIN_ADMINS, DOMAIN_ADMINS_RID)
    assert Entitlement("group", DOMAIN_ADMINS) in connector.read_account(domain.holder).entitlements
    admins_are_baseline = make(domain, primary_group_rid=DOMAIN_ADMINS_RID)
    assert (
        Entitlement("group", DOMAIN_ADMINS)
        not in admins_are_baseline.read_account(domain.holder).entitlements
    )


def test_offboard_through_the_cli_ends_a_privileged_primary_group(domain: Domain, tmp_path: Path) -> None:
    make_primary(domain, DOMAIN_ADMINS, DOMAIN_ADMINS_RID)
    config = tmp_path / "iam.yaml"
    system = {**domain.settings, "type": "ldap", "bind_password": {"env": "IAM_TEST_AD_PASSWORD"}}
    config.write_text(
        yaml.safe_dump({"store": "iam.db", "audit_log": "audit.jsonl", "systems": {"directory": system}})
    )
    env = iam_env({"IAM_TEST_AD_PASSWORD": domain.dc.admin_password})

    status = run_iam("--config", str(config), "status", domain.holder, "--format", "json", env=env)
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"holds group:{DOMAIN_ADMINS}" in json.loads(status.stdout)["systems"][0]["access"]

    result = run_iam(
        "--config",
        str(config),
        "offboard",
        domain.holder,
        "--reason",
        "left",
        "--yes",
        "--format",
        "json",
        env=env,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "complete" and report["systems"][0]["remaining"] == []
    revoked = [s for s in report["systems"][0]["steps"] if s["target"] == f"group:{DOMAIN_ADMINS}"]
    assert [(s["op"], s["outcome"]) for s in revoked] == [("revoke", "updated")]
    after = admin_read(domain.dc, domain.holder)
    assert after["primaryGroupID"] == ["513"] and after["dn"].lower() not in members(domain.dc, DOMAIN_ADMINS)
    assert (
        domain.dc.admin_password not in result.stdout + result.stderr + (tmp_path / "audit.jsonl").read_text()
    )
