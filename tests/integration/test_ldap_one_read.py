"""An account and its groups in one search (issue 14), never fewer groups than two searches find.

`LdapConnector.read_account` asks for the account and for the groups naming
the DN it expects in one filter. Each test here compares it with the long way
(the account's own search, then the groups naming the DN it really has) on a
real slapd, and counts the searches a real connection sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import ldap3
import pytest
from iam.connectors.ldap import LdapConnector

from iam import errors
from iam.model import Entitlement
from iam.secrets import Secret
from tests.conftest import Directory, seed_directory
from tests.support.slapd import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    BASE_DN,
    SERVICE_DN,
    SERVICE_PASSWORD,
    Call,
    Slapd,
    add_group,
    add_person,
    add_service_account,
    recording_factory,
    seed_base,
)


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
        connector._groups_in_reach()  # proven once a connector: the reads after it are counted
        made.append(connector)
        return connector

    yield build
    for connector in made:
        connector.close()


def the_long_way(connector: LdapConnector, username: str) -> frozenset[Entitlement]:
    """The groups two searches find: the account, then every group naming its DN."""
    entry = connector._find_user(username)
    assert entry is not None
    names = connector._member_names(entry, username)
    return frozenset(Entitlement("group", dn) for dn, _ in connector._groups_of(entry["dn"], username, names))


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
    searches.clear()
    state = connector.read_account("alice")
    assert state is not None
    assert len(searches) == 1, searches
    assert Entitlement("group", stray) not in state.entitlements
    assert state.entitlements == the_long_way(connector, "alice")


def test_a_groups_dn_the_server_spells_otherwise_keeps_every_group(
    directory: Directory, make: Callable[..., LdapConnector], searches: list[Call]
) -> None:
    """groups_dn is written with ``\\,``; slapd sends the groups back with ``\\2C``: still below it."""
    conn = directory.slapd.admin()
    eu = f"ou=Groups\\, EU,{BASE_DN}"
    assert conn.add(eu, ["organizationalUnit"], {"ou": "Groups, EU"}), conn.result
    eng = f"cn=eu-eng,{eu}"
    assert conn.add(eng, ["groupOfNames"], {"cn": "eu-eng", "member": [directory.alice]}), conn.result
    conn.unbind()
    connector = make(groups_dn=eu)
    searches.clear()
    state = connector.read_account("alice")
    assert state is not None
    assert len(searches) == 1, searches
    assert state.entitlements == {Entitlement("group", directory.slapd.spelling(eng))}
    assert state.entitlements == the_long_way(connector, "alice")


def test_an_escaped_plus_in_a_name_is_not_a_multi_valued_rdn(
    directory: Directory, make: Callable[..., LdapConnector], searches: list[Call]
) -> None:
    """The name ``a+userPassword=p`` is expected at ``uid=a\\+userPassword\\=p``; the account is at
    ``uid=a+userPassword=p``, another DN: a group naming the expected DN is not the account's."""
    name = "a+userPassword=p"
    conn = directory.slapd.admin()
    real = f"uid=a+userPassword=p,ou=people,{BASE_DN}"
    attrs = {"uid": ["a", name], "userPassword": "p", "cn": "x", "sn": "s"}
    assert conn.add(real, ["inetOrgPerson"], attrs), conn.result
    its_own = add_group(conn, "reals", "groupOfNames", [real])
    add_group(
        conn, "expected", "groupOfNames", [f"uid={ldap3.utils.dn.escape_rdn(name)},ou=people,{BASE_DN}"]
    )
    conn.unbind()
    connector = make()
    state = connector.read_account(name)
    assert state is not None
    assert state.entitlements == {Entitlement("group", its_own)}
    assert state.entitlements == the_long_way(connector, name)


def test_an_account_shown_only_as_a_group_is_not_read_as_no_account(
    directory: Directory, make: Callable[..., LdapConnector], searches: list[Call]
) -> None:
    """``user_attribute: userid`` (uid's other name, which slapd answers as ``uid``) and a class
    every entry has: zed's entry is a group too, and nothing in the answer shows it is the account."""
    conn = directory.slapd.admin()
    zed = f"cn=zed,ou=groups,{BASE_DN}"
    expected = f"uid=zed,ou=people,{BASE_DN}"  # where the read expects zed
    attrs = {"cn": "zed", "uid": "zed", "member": [expected]}
    assert conn.add(zed, ["groupOfNames", "extensibleObject"], attrs), conn.result
    conn.unbind()
    connector = make(user_attribute="userid", user_object_class="top")
    state = connector.read_account("zed")
    assert state is not None and state.ref == zed


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
    assert state.ref == directory.slapd.spelling(eve)
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


def test_a_groups_dn_a_search_from_base_dn_does_not_find_is_read_the_long_way(tmp_path: Path) -> None:
    """One search from base_dn is used only once it is shown to reach groups_dn. Here the bind
    account may not search groups_dn's ``ou`` (as if another database held it): every read
    searches the groups from groups_dn, and finds them all."""
    acl = f'access to dn.base="ou=groups,{BASE_DN}" attrs=ou\n  by * none\naccess to * by * read\n'
    server = Slapd(tmp_path / "slapd", access=acl)
    server.start()
    try:
        conn = server.admin()
        seed_base(conn)
        add_service_account(conn)
        alice = add_person(conn, "alice")
        expected = {
            add_group(conn, "eng", "groupOfNames", [alice]),
            add_group(conn, "unix", "posixGroup", ["alice"]),
        }
        conn.unbind()
        calls: list[Call] = []
        settings = {
            "url": server.url,
            "start_tls": False,
            "base_dn": BASE_DN,
            "bind_dn": SERVICE_DN,
            "bind_password": Secret(SERVICE_PASSWORD, "test"),
            "users_dn": f"ou=people,{BASE_DN}",
            "groups_dn": f"ou=groups,{BASE_DN}",
        }
        factory = recording_factory(server, calls, SERVICE_DN, SERVICE_PASSWORD)
        connector = LdapConnector("directory", settings, connection_factory=factory)
        assert not connector._groups_in_reach()
        calls.clear()
        state = connector.read_account("alice")
        assert state is not None and {e.value for e in state.entitlements} == expected
        assert len(calls) == 2, calls
        connector.close()
    finally:
        server.stop()


SPELLINGS = ["domainComponent=example,domainComponent=org", f"{BASE_DN} "]


@pytest.mark.parametrize("base", SPELLINGS, ids=["long-name", "trailing-space"])
def test_a_base_dn_spelt_otherwise_than_the_server_spells_it_keeps_every_group(
    directory: Directory, searches: list[Call], base: str
) -> None:
    """groups_dn is base_dn (the default) in a spelling slapd accepts and answers otherwise: the
    groups it sends back are all below it, on the first read and on the next (one search)."""
    places = {"base_dn": base, "groups_dn": base, "users_dn": f"ou=people,{base}", "leavers_dn": None}
    settings = {**directory.settings, "bind_password": Secret(ADMIN_PASSWORD, "test"), **places}
    factory = recording_factory(directory.slapd, searches)
    connector = LdapConnector("directory", settings, connection_factory=factory)
    expected = groups(directory, "eng", "solo", "ops", "unix")
    first = connector.read_account("alice")
    assert first is not None and first.entitlements == expected
    searches.clear()
    again = connector.read_account("alice")
    assert again is not None and again.entitlements == expected
    assert len(searches) == 1, searches
    connector.close()


def test_a_groups_dn_held_by_another_database_is_not_taken_for_the_entry_left_in_base_dns(
    tmp_path: Path,
) -> None:
    """ou=groups is served by a database of its own, not glued to dc=example,dc=org's, which still
    holds its old ou=groups and old groups: a search from base_dn sees those, not the real ones.
    The same DN is not the same entry (entryUUID): every read searches from groups_dn."""
    server = Slapd(tmp_path / "slapd")
    server.start()
    directory = seed_directory(server)  # ou=groups and its groups, in the main database
    server.stop()
    (tmp_path / "slapd" / "groups").mkdir()
    conf_file = tmp_path / "slapd" / "slapd.conf"
    conf = conf_file.read_text()
    groups_db = (
        f'database mdb\nmaxsize 1073741824\nsuffix "ou=groups,{BASE_DN}"\nrootdn "{ADMIN_DN}"\n'
        f"directory {tmp_path}/slapd/groups\ndbnosync\nindex objectClass eq\n"
    )
    last = conf.rindex("database mdb")  # a database below another is configured before it
    conf_file.write_text(conf[:last] + groups_db + conf[last:])
    server.start()
    try:
        conn = server.admin()
        assert conn.add(f"ou=groups,{BASE_DN}", ["organizationalUnit"], {"ou": "groups"}), conn.result
        real = add_group(conn, "new-eng", "groupOfNames", [directory.alice])
        conn.unbind()
        calls: list[Call] = []
        settings = {**directory.settings, "bind_password": Secret(ADMIN_PASSWORD, "test")}
        connector = LdapConnector("directory", settings, connection_factory=recording_factory(server, calls))
        assert not connector._groups_in_reach()
        state = connector.read_account("alice")
        assert state is not None and state.entitlements == {Entitlement("group", real)}
        assert state.entitlements == the_long_way(connector, "alice")
        connector.close()
    finally:
        server.stop()


def test_groups_dn_left_to_its_default_needs_no_proof(
    directory: Directory, make: Callable[..., LdapConnector], searches: list[Call]
) -> None:
    """groups_dn defaults to base_dn's very text: a one-person offboarding pays no search for the proof."""
    settings = {k: v for k, v in directory.settings.items() if k != "groups_dn"}
    factory = recording_factory(directory.slapd, searches)
    connector = LdapConnector(
        "directory", {**settings, "bind_password": Secret(ADMIN_PASSWORD, "test")}, connection_factory=factory
    )
    connector._groups_visible()
    searches.clear()
    assert connector._groups_in_reach()
    assert searches == []
    state = connector.read_account("alice")
    assert state is not None and state.entitlements == groups(directory, "eng", "solo", "ops", "unix")
    assert len(searches) == 1, searches
    connector.close()


def test_a_parent_class_in_user_object_class_is_named_by_the_check(
    make: Callable[..., LdapConnector], searches: list[Call]
) -> None:
    """Entries list ``inetOrgPerson``, not its parent ``person``: every read goes the long way,
    and `check` says so and what to name instead."""
    parent = make(user_object_class="person")
    searches.clear()
    state = parent.read_account("alice")
    assert state is not None and len(searches) == 3, searches
    assert "do not list it" in parent.check() and "inetOrgPerson" in parent.check()
    assert "note:" not in make().check()
