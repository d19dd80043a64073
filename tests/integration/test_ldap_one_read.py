"""An account and its groups in one search (issue 14), never fewer groups than two searches find.

`LdapConnector.read_account` asks for the account and for the groups naming
the DN it expects in one filter. Each test here compares it with the long way
(the account's own search, then the groups naming the DN it really has) on a
real slapd, and counts the searches a real connection sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import ldap3
import pytest
from iam.connectors.ldap import LdapConnector

from iam import errors
from iam.model import Entitlement
from iam.secrets import Secret
from tests.conftest import Directory
from tests.support.slapd import ADMIN_PASSWORD, BASE_DN, Call, add_group, add_person, recording_factory


@pytest.fixture
def searches() -> list[Call]:
    """The LDAP calls the connector sends: a read sends searches only."""
    return []


@pytest.fixture
def make(directory: Directory, searches: list[Call]) -> Iterator[Callable[..., LdapConnector]]:
    made: list[LdapConnector] = []

    def build(**overrides: object) -> LdapConnector:
        settings = {**directory.settings, "bind_password": Secret(ADMIN_PASSWORD, "test"), **overrides}
        factory = recording_factory(directory.slapd, searches)
        connector = LdapConnector("directory", settings, connection_factory=factory)
        connector.prove_disable()  # its probe searches are not the read's
        connector._groups_visible()
        made.append(connector)
        return connector

    yield build
    for connector in made:
        connector.close()


def the_long_way(connector: LdapConnector, username: str) -> frozenset[Entitlement]:
    """The groups two searches find: the account, then every group naming its DN."""
    entry = connector._find_user(username)
    assert entry is not None
    return frozenset(Entitlement("group", dn) for dn, _ in connector._groups_of(entry["dn"], username))


def as_the_server_spells(directory: Directory, dn: str) -> str:
    """``dn`` as slapd sends it back (it escapes with hex pairs where iam wrote ``\\,``)."""
    conn = directory.slapd.admin()
    assert conn.search(dn, "(objectClass=*)", ldap3.BASE), conn.result
    spelt = conn.response[0]["dn"]
    conn.unbind()
    return spelt


def groups(directory: Directory, *names: str) -> frozenset[Entitlement]:
    return frozenset(Entitlement("group", directory.groups[n]) for n in names)


def test_an_account_where_expected_and_its_groups_of_every_kind_come_in_one_search(
    directory: Directory, make: Callable[..., LdapConnector], searches: list[Call]
) -> None:
    connector = make()
    searches.clear()
    state = connector.read_account("alice")
    assert state is not None
    assert len(searches) == 1, searches
    assert state.ref == directory.alice
    assert state.entitlements == groups(directory, "eng", "solo", "ops", "unix")
    assert state.entitlements == the_long_way(connector, "alice")
    assert state.enabled and state.password_usable and state.attributes["cn"] == "alice"


def test_an_account_not_where_expected_still_has_all_its_groups(
    directory: Directory, make: Callable[..., LdapConnector], searches: list[Call]
) -> None:
    """users_dn names where accounts are made; carol lives elsewhere: her groups are asked again."""
    conn = directory.slapd.admin()
    assert conn.add(f"ou=contractors,{BASE_DN}", ["organizationalUnit"], {"ou": "contractors"}), conn.result
    carol = f"uid=carol,ou=contractors,{BASE_DN}"
    assert conn.add(carol, ["inetOrgPerson"], {"uid": "carol", "cn": "carol", "sn": "c"}), conn.result
    expected = {
        add_group(conn, "carols", "groupOfNames", [carol]),
        add_group(conn, "carols-unique", "groupOfUniqueNames", [carol]),
        add_group(conn, "carols-unix", "posixGroup", ["carol"]),
    }
    # a group naming the DN carol would have under users_dn is not hers
    add_group(conn, "not-carols", "groupOfNames", [f"uid=carol,ou=people,{BASE_DN}"])
    conn.unbind()
    connector = make()
    searches.clear()
    state = connector.read_account("carol")
    assert state is not None and state.ref == carol
    assert {e.value for e in state.entitlements} == expected
    assert len(searches) == 2, searches
    # once her DN is known, the next read (a termination's read-back) is one search again
    searches.clear()
    assert connector.read_account("carol") == state
    assert len(searches) == 1, searches


def test_a_group_carrying_the_accounts_name_makes_the_read_ask_again(
    directory: Directory, make: Callable[..., LdapConnector], searches: list[Call]
) -> None:
    """An entry that may have matched either half of the filter is not trusted as either."""
    conn = directory.slapd.admin()
    odd = f"cn=alice-odd,ou=groups,{BASE_DN}"
    attrs = {"cn": "alice-odd", "member": [directory.alice], "uid": "alice"}
    assert conn.add(odd, ["groupOfNames", "extensibleObject"], attrs), conn.result
    conn.unbind()
    connector = make()
    searches.clear()
    state = connector.read_account("alice")
    assert state is not None and state.ref == directory.alice
    assert state.entitlements == groups(directory, "eng", "solo", "ops", "unix") | {Entitlement("group", odd)}
    assert len(searches) == 3, searches  # the combined search, then the account's and the groups'


def test_groups_outside_groups_dn_are_not_reported(
    directory: Directory, make: Callable[..., LdapConnector], searches: list[Call]
) -> None:
    """As the groups' own search from groups_dn: a group elsewhere under base_dn is not one of them."""
    conn = directory.slapd.admin()
    stray = f"cn=stray,ou=leavers,{BASE_DN}"
    assert conn.add(stray, ["groupOfNames"], {"cn": "stray", "member": [directory.alice]}), conn.result
    conn.unbind()
    connector = make()
    state = connector.read_account("alice")
    assert state is not None
    assert Entitlement("group", stray) not in state.entitlements
    assert state.entitlements == the_long_way(connector, "alice")


def test_groups_dn_outside_base_dn_reads_the_long_way(
    directory: Directory, make: Callable[..., LdapConnector], searches: list[Call]
) -> None:
    people = f"ou=people,{BASE_DN}"
    connector = make(base_dn=people, users_dn=people, leavers_dn=None)
    searches.clear()
    state = connector.read_account("alice")
    assert state is not None
    assert state.entitlements == groups(directory, "eng", "solo", "ops", "unix")
    assert len(searches) == 2, searches


def test_a_hostile_name_reads_its_own_account_and_groups_only(
    directory: Directory, make: Callable[..., LdapConnector], searches: list[Call]
) -> None:
    name = "eve,ou=x*)(uid=*)\\"
    conn = directory.slapd.admin()
    eve = add_person(conn, name)
    expected = {
        add_group(conn, "eves", "groupOfNames", [eve]),
        add_group(conn, "eves-unix", "posixGroup", [name]),
    }
    conn.unbind()
    connector = make()
    searches.clear()
    state = connector.read_account(name)
    assert state is not None and state.username == name
    assert state.ref == as_the_server_spells(directory, eve)
    assert {e.value for e in state.entitlements} == expected
    assert len(searches) == 1, searches
    assert connector.read_account("eve*") is None


def test_no_account_is_none_in_one_search_and_several_are_refused(
    directory: Directory, make: Callable[..., LdapConnector], searches: list[Call]
) -> None:
    connector = make()
    searches.clear()
    assert connector.read_account("nobody") is None
    assert len(searches) == 1, searches
    conn = directory.slapd.admin()
    twin = f"uid=alice,ou=leavers,{BASE_DN}"
    assert conn.add(twin, ["inetOrgPerson"], {"uid": "alice", "cn": "alice", "sn": "a"}), conn.result
    conn.unbind()
    with pytest.raises(errors.AmbiguousAccount, match="2 entries"):
        connector.read_account("alice")
