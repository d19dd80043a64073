"""The LDAP connector's bulk read (`iter_accounts`) as a sweep uses it, against a real slapd.

It reads every group once and hands each account its groups from a map
(`connectors.ldap.memberships`); people in the same groups share one set of
entitlements, and the bulk read says exactly what one read of each account says.
"""

from __future__ import annotations

import ldap3
import pytest
from iam.connectors.ldap import LdapConnector
from iam.connectors.ldap.connector import GROUPS_A_PAGE

from iam.model import Entitlement
from iam.secrets import Secret
from tests.conftest import Directory
from tests.support.slapd import ADMIN_PASSWORD, BASE_DN, add_group, add_person


def make(directory: Directory, **overrides: object) -> LdapConnector:
    settings = {**directory.settings, "bind_password": Secret(ADMIN_PASSWORD, "test"), **overrides}
    return LdapConnector("directory", settings)


@pytest.fixture
def twins(directory: Directory) -> tuple[str, str, str]:
    """carol and dave, in the same two groups (one names carol's DN spelled otherwise), and erin in none."""
    conn = directory.slapd.admin()
    carol, dave = add_person(conn, "carol"), add_person(conn, "dave")
    add_person(conn, "erin")
    shouted = carol.upper().replace(",", ", ")  # the same DN, as some tools write it
    staff = add_group(conn, "staff", "groupOfNames", [shouted, dave])
    shell = add_group(conn, "shell", "posixGroup", ["carol", "dave"])
    conn.unbind()
    return staff, shell, f"cn=nobody,{BASE_DN}"


def test_people_in_the_same_groups_share_one_set_of_entitlements(
    directory: Directory, twins: tuple[str, str, str]
) -> None:
    staff, shell, _ = twins
    connector = make(directory, page_size=2)
    bulk = {s.username: s for s in connector.iter_accounts()}
    assert bulk["carol"].entitlements == {Entitlement("group", staff), Entitlement("group", shell)}
    assert bulk["dave"].entitlements is bulk["carol"].entitlements  # one set, not one per person
    assert bulk["erin"].entitlements == frozenset()
    for name in ("carol", "dave", "erin"):
        assert bulk[name] == connector.read_account(name)


def test_every_requested_attribute_is_in_an_entry_read_empty_when_the_entry_has_none(
    directory: Directory,
) -> None:
    """A missing attribute reads as [] (as ldap3's ``empty_attributes`` did), whatever its case."""
    connector = make(directory)
    (entry,) = connector.session.search(
        BASE_DN,
        "(uid=bob)",
        ["uid", "pwdAccountLockedTime", "authTimestamp", "1.1"],
        setting="base_dn",
    )
    assert entry["attrs"]["uid"] == ["bob"]
    assert entry["attrs"]["pwdaccountlockedtime"] == []
    assert entry["attrs"]["authtimestamp"] == []
    assert "1.1" not in entry["attrs"]


def test_a_bulk_read_of_disabled_and_passwordless_accounts_agrees_with_single_reads(
    directory: Directory,
) -> None:
    connector = make(directory)
    assert connector.disable("bob").changed
    conn = directory.slapd.admin()
    conn.modify(directory.alice, {"userPassword": [(ldap3.MODIFY_DELETE, [])]})
    conn.unbind()
    bulk = {s.username: s for s in connector.iter_accounts()}
    assert not bulk["bob"].enabled
    assert bulk["alice"].password_usable is False
    for name in ("alice", "bob"):
        assert bulk[name] == connector.read_account(name)


def test_groups_over_several_pages_are_all_read(directory: Directory) -> None:
    """Groups come `GROUPS_A_PAGE` a page (their entries carry every member): none is lost between pages."""
    conn = directory.slapd.admin()
    carol, dave = add_person(conn, "carol"), add_person(conn, "dave")
    many = [
        add_group(conn, f"many{i:03d}", "groupOfNames", [carol] + ([dave] if i % 2 else []))
        for i in range(GROUPS_A_PAGE * 2 + 3)
    ]
    conn.unbind()
    bulk = {s.username: s for s in make(directory).iter_accounts()}  # page_size 500: groups still 50 a page
    assert bulk["carol"].entitlements == {Entitlement("group", dn) for dn in many}
    assert bulk["dave"].entitlements == {Entitlement("group", dn) for dn in many[1::2]}
    assert bulk["alice"].entitlements == {
        Entitlement("group", dn) for dn in directory.groups.values() if "bob-only" not in dn
    }


def test_members_named_under_other_parents_or_with_escaped_commas_get_their_groups(
    directory: Directory,
) -> None:
    """The map keys a member by its DN's first RDN under its parent: a comma inside a value, or
    a member DN in another branch, is still the right account."""
    conn = directory.slapd.admin()
    doe = add_person(conn, "Doe, Jane")  # uid=Doe\, Jane,ou=people,...
    leaver = f"uid=gone,ou=leavers,{BASE_DN}"
    assert conn.add(leaver, ["inetOrgPerson"], {"uid": "gone", "cn": "gone", "sn": "gone"}), conn.result
    both = add_group(conn, "both", "groupOfNames", [doe.upper(), leaver])
    add_group(conn, "elsewhere", "groupOfNames", [f"uid=gone,ou=people,{BASE_DN}"])  # not the leaver
    conn.unbind()
    bulk = {s.username: s for s in make(directory).iter_accounts()}
    assert bulk["Doe, Jane"].entitlements == {Entitlement("group", both)}
    assert bulk["gone"].entitlements == {Entitlement("group", both)}
