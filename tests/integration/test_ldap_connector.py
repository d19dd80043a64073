"""The LDAP connector against a real slapd: conformance, group kinds, escaping, errors."""

from __future__ import annotations

import ldap3
import pytest
from iam.connectors.ldap import LdapConnector

from iam import contract, errors
from iam.model import Entitlement, Outcome
from iam.secrets import Secret
from tests.conftest import Directory
from tests.support.conformance import ConnectorConformance, Unreadable
from tests.support.slapd import ADMIN_DN, ADMIN_PASSWORD, BASE_DN, Slapd, add_person, free_port, seed_base


def make(directory: Directory, **overrides: object) -> LdapConnector:
    settings = {**directory.settings, "bind_password": Secret(ADMIN_PASSWORD, "test"), **overrides}
    return LdapConnector("directory", settings)


@pytest.fixture
def connector(directory: Directory):
    conn = make(directory)
    yield conn
    conn.close()


@pytest.fixture
def holder() -> str:
    return "alice"


@pytest.fixture
def spare(directory: Directory) -> Entitlement:
    return Entitlement("group", directory.groups["bob-only"])


@pytest.fixture
def unreachable(directory: Directory) -> LdapConnector:
    return make(directory, url=f"ldap://127.0.0.1:{free_port()}", timeout=1)


@pytest.fixture
def unreadable(directory: Directory) -> Unreadable:
    """groups_dn names an entry that does not exist: every group search fails, none comes back empty."""
    return Unreadable(make(directory, groups_dn=f"ou=no-such-groups,{BASE_DN}"), "groups_dn")


class TestLdapConformance(ConnectorConformance):
    pass


def test_every_kind_of_group_is_found_by_search(connector: LdapConnector, directory: Directory) -> None:
    state = connector.read_account("alice")
    assert {e.value for e in state.entitlements} == {
        directory.groups[g] for g in ("eng", "solo", "ops", "unix")
    }


def test_removing_the_last_member_keeps_the_group_valid(
    connector: LdapConnector, directory: Directory
) -> None:
    solo = Entitlement("group", directory.groups["solo"])
    assert connector.revoke("alice", solo).outcome == Outcome.UPDATED
    conn = directory.slapd.admin()
    conn.search(directory.groups["solo"], "(objectClass=*)", ldap3.BASE, attributes=["member"])
    assert conn.entries[0].member.values == ["cn=empty-group-placeholder"]


def test_filter_metacharacters_in_a_username_match_nothing(connector: LdapConnector) -> None:
    for probe in ("a*)(uid=*", "*", "alice)(|(uid=*", "\\2a"):
        assert connector.read_account(probe) is None


def test_dn_metacharacters_are_escaped_on_create(connector: LdapConnector) -> None:
    result = connector.create_account("o'neil,x=y+z", {"display_name": "O'Neil"})
    assert result.outcome == Outcome.CREATED
    assert result.detail.startswith("uid=o'neil\\,x\\=y\\+z,ou=people")
    assert connector.read_account("o'neil,x=y+z") is not None


def test_two_entries_for_one_person_are_ambiguous(connector: LdapConnector, directory: Directory) -> None:
    conn = directory.slapd.admin()
    conn.add(f"uid=alice,ou=leavers,{BASE_DN}", ["inetOrgPerson"], {"uid": "alice", "cn": "a", "sn": "a"})
    with pytest.raises(errors.AmbiguousAccount, match="2 entries"):
        connector.read_account("alice")


def test_wrong_password_is_an_authentication_error_without_the_password(directory: Directory) -> None:
    conn = make(directory, bind_password=Secret("not-the-Right-one", "test"))
    with pytest.raises(errors.AuthenticationFailed) as err:
        conn.check()
    assert "not-the-Right-one" not in str(err.value)


@pytest.fixture
def tls_slapd(tmp_path):
    server = Slapd(tmp_path / "tls-slapd", tls=True)
    server.start()
    seed_base(server.admin())
    yield server
    server.stop()


def tls_connector(server: Slapd, **overrides: object) -> LdapConnector:
    settings = {
        "url": server.url,
        "base_dn": BASE_DN,
        "groups_dn": f"ou=groups,{BASE_DN}",  # empty: provably no groups yet
        "bind_dn": ADMIN_DN,
        "bind_password": Secret(ADMIN_PASSWORD, "test"),
        "timeout": 5,
        **overrides,
    }
    return LdapConnector("directory", settings)


def test_starttls_checks_the_certificate_by_default(tls_slapd: Slapd) -> None:
    with pytest.raises(errors.PermanentError, match="not trusted"):
        tls_connector(tls_slapd).check()


def test_starttls_with_the_right_ca_connects(tls_slapd: Slapd) -> None:
    assert "bound to" in tls_connector(tls_slapd, ca_file=str(tls_slapd.ca_file)).check()


def test_turning_verification_off_by_name_connects(tls_slapd: Slapd) -> None:
    assert "bound to" in tls_connector(tls_slapd, tls_verify=False).check()


def test_without_tls_on_the_server_starttls_fails_clearly(directory: Directory) -> None:
    with pytest.raises(errors.PermanentError, match="StartTLS"):
        make(directory, start_tls=True).check()


def test_server_restart_is_survived_by_reconnecting(connector: LdapConnector, directory: Directory) -> None:
    assert connector.read_account("alice") is not None
    directory.slapd.stop()
    with pytest.raises(errors.TransientError):
        connector.read_account("alice")
    directory.slapd.start()
    assert connector.read_account("alice") is not None


def test_paged_bulk_read_sees_more_than_one_page(directory: Directory) -> None:
    conn = directory.slapd.admin()
    for i in range(25):
        add_person(conn, f"user{i:02d}")
    connector = make(directory, page_size=7)
    names = {s.username for s in connector.iter_accounts()}
    assert {f"user{i:02d}" for i in range(25)} <= names


def test_rehire_enable_unlocks(connector: LdapConnector) -> None:
    assert connector.disable("bob").outcome == Outcome.UPDATED
    assert not connector.read_account("bob").enabled
    assert connector.enable("bob").outcome == Outcome.UPDATED
    assert connector.read_account("bob").enabled


def test_bulk_read_agrees_with_single_reads(connector: LdapConnector) -> None:
    bulk = {s.username: s for s in connector.iter_accounts()}
    assert set(bulk) >= {"alice", "bob"}
    for name, state in bulk.items():
        assert state == connector.read_account(name)


def test_last_login_is_read_from_the_directory(connector: LdapConnector, directory: Directory) -> None:
    assert connector.read_account("bob").last_login is None
    assert ldap3.Connection(
        ldap3.Server("127.0.0.1", port=directory.slapd.port), directory.bob, "bob-Passw0rd"
    ).bind()
    state = connector.read_account("bob")
    assert state.last_login is not None and state.created is not None
    assert state.last_login >= state.created


# following HR ------------------------------------------------------------------------------

HR = {
    "given_name": "Carol",
    "family_name": "Diaz",
    "display_name": "Carol Diaz",
    "email": "carol@example.org",
    "title": "Engineer",
    "department": "Engineering",
    "manager": "alice",
}


def outside(directory: Directory, uid: str) -> dict[str, object]:
    conn = directory.slapd.admin()
    conn.search(BASE_DN, f"(uid={uid})", attributes=["*"])
    (entry,) = conn.response
    conn.unbind()
    return {"dn": entry["dn"], **entry["attributes"]}


def test_create_copies_the_mapped_hr_facts_with_the_manager_as_a_dn(
    connector: LdapConnector, directory: Directory
) -> None:
    assert connector.create_account("carol", HR).outcome == Outcome.CREATED
    seen = outside(directory, "carol")
    assert seen["givenName"] == ["Carol"] and seen["sn"] == ["Diaz"] and seen["displayName"] == ["Carol Diaz"]
    assert seen["mail"] == ["carol@example.org"] and seen["title"] == ["Engineer"]
    assert seen["departmentNumber"] == ["Engineering"] and seen["manager"] == [directory.alice]
    state = connector.read_account("carol")
    assert state is not None and connector.attribute_delta(state, HR) is None


def test_a_mover_delta_names_only_what_changed_and_one_update_applies_it(
    connector: LdapConnector, directory: Directory
) -> None:
    connector.create_account("carol", HR)
    moved = {**HR, "title": "Accountant", "department": "Finance", "manager": "bob"}

    delta = connector.attribute_delta(connector.read_account("carol"), moved)

    assert delta == contract.AttributeDelta(
        replace={"title": ["Accountant"], "department": ["Finance"], "manager": ["bob"]}
    )
    result = connector.update_account("carol", delta)
    assert (
        result.outcome == Outcome.UPDATED
        and result.detail == "departmentNumber, manager, title now follow HR"
    )
    seen = outside(directory, "carol")
    assert seen["title"] == ["Accountant"] and seen["departmentNumber"] == ["Finance"]
    assert seen["manager"] == [directory.bob] and seen["mail"] == ["carol@example.org"]
    assert connector.attribute_delta(connector.read_account("carol"), moved) is None
    assert connector.update_account("carol", delta).outcome == Outcome.UNCHANGED
    assert connector.update_account("nobody-7f3a", delta).outcome == Outcome.ABSENT


def test_a_manager_with_no_entry_is_left_unset_and_said_so(
    connector: LdapConnector, directory: Directory
) -> None:
    created = connector.create_account("carol", {**HR, "manager": "ghost"})
    assert "manager 'ghost' has no entry in this directory: manager left unset" in created.detail
    assert "manager" not in outside(directory, "carol")
    state = connector.read_account("carol")
    assert connector.attribute_delta(state, {**HR, "manager": "ghost"}) is None  # nothing to do, every run

    connector.update_account("carol", contract.AttributeDelta(replace={"manager": ["alice"]}))
    stale = connector.attribute_delta(connector.read_account("carol"), {**HR, "manager": "ghost"})
    assert stale == contract.AttributeDelta(replace={"manager": ["ghost"]})
    result = connector.update_account("carol", stale)
    assert result.outcome == Outcome.UPDATED and "'ghost' has no entry" in result.detail
    assert "manager" not in outside(directory, "carol")  # the old manager is not kept


def test_a_blank_hr_field_leaves_the_directory_value_alone(
    connector: LdapConnector, directory: Directory
) -> None:
    connector.create_account("carol", HR)
    blank = {**HR, "title": "", "department": ""}
    assert connector.attribute_delta(connector.read_account("carol"), blank) is None
    assert outside(directory, "carol")["title"] == ["Engineer"]


def test_a_configured_map_replaces_the_flavors_map(directory: Directory) -> None:
    connector = make(directory, attributes={"department": "ou", "title": "title"})
    connector.create_account("carol", HR)
    seen = outside(directory, "carol")
    assert seen["ou"] == ["Engineering"] and seen["title"] == ["Engineer"]
    assert "departmentNumber" not in seen and "manager" not in seen and "mail" not in seen
    delta = connector.attribute_delta(connector.read_account("carol"), {**HR, "department": "Sales"})
    assert delta == contract.AttributeDelta(replace={"department": ["Sales"]})
    with pytest.raises(errors.InvalidAttribute, match="nothing was changed"):
        connector.update_account("carol", contract.AttributeDelta(replace={"email": ["x@example.org"]}))


def test_restore_brings_a_leaver_back_to_users_dn(connector: LdapConnector, directory: Directory) -> None:
    assert connector.restore("alice").outcome == Outcome.UNCHANGED  # not a leaver
    assert connector.archive("alice").outcome == Outcome.UPDATED
    leaver = connector.read_account("alice")
    assert leaver is not None and connector.needs_restore(leaver)

    assert connector.restore("alice").outcome == Outcome.UPDATED

    assert outside(directory, "alice")["dn"] == directory.alice
    back = connector.read_account("alice")
    assert back is not None and not connector.needs_restore(back) and back.entitlements == leaver.entitlements
    assert connector.restore("alice").outcome == Outcome.UNCHANGED
    assert connector.restore("nobody-7f3a").outcome == Outcome.ABSENT
