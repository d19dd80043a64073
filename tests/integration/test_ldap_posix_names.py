"""posixGroup memberships under the name the entry stores, not the name iam was given.

slapd compares ``uid`` without case (``(uid=carol)`` finds ``uid: Carol``) but
``memberUid`` exactly (caseExactIA5Match): a search for ``memberUid=carol``
misses the group listing ``Carol``, and so does one for an entry's first name
when the group lists its second (``uid: erin``, ``uid: eold``). Searched by the
name given, an offboarding read "no group left" and ended complete while the
posixGroup still listed the person.
"""

from __future__ import annotations

import ldap3
import pytest
from iam.connectors.ldap import LdapConnector

from iam.model import Entitlement
from iam.runs import offboard
from iam.runtime import Runtime
from iam.secrets import Secret
from tests.conftest import Directory
from tests.support.slapd import ADMIN_PASSWORD, add_group, add_person


def connector(directory: Directory) -> LdapConnector:
    return LdapConnector("directory", {**directory.settings, "bind_password": Secret(ADMIN_PASSWORD, "t")})


def member_uids(admin: ldap3.Connection, group: str) -> list[str]:
    admin.search(group, "(objectClass=*)", ldap3.BASE, attributes=["memberUid"])
    return sorted(admin.entries[0]["memberUid"].values)


@pytest.fixture
def carol(directory: Directory) -> tuple[str, str]:
    """``uid: Carol``, listed as ``Carol`` by a posixGroup; and a groupOfNames naming her DN."""
    admin = directory.slapd.admin()
    dn = add_person(admin, "Carol")
    unix = add_group(admin, "carol-unix", "posixGroup", ["Carol"])
    return unix, add_group(admin, "carol-web", "groupOfNames", [dn])


@pytest.fixture
def erin(directory: Directory) -> str:
    """``uid: erin`` and ``uid: eold``; a posixGroup lists her by the second."""
    admin = directory.slapd.admin()
    dn = add_person(admin, "erin")
    assert admin.modify(dn, {"uid": [(ldap3.MODIFY_ADD, ["eold"])]}), admin.result
    return add_group(admin, "old-unix", "posixGroup", ["eold"])


@pytest.mark.parametrize("one_search", [True, False], ids=["one search", "the long way"])
def test_a_read_finds_the_posix_group_listing_the_stored_name(
    directory: Directory, carol: tuple[str, str], erin: str, one_search: bool
) -> None:
    reader = connector(directory)
    if not one_search:
        reader._reach = False  # as for a groups_dn one search from base_dn is not proven to reach
    unix, web = carol
    state = reader.read_account("carol")
    assert state is not None
    assert state.entitlements == {Entitlement("group", unix), Entitlement("group", web)}
    other = reader.read_account("erin")
    assert other is not None and Entitlement("group", erin) in other.entitlements


def test_a_listing_gives_each_account_the_groups_of_every_name_it_stores(
    directory: Directory, carol: tuple[str, str], erin: str
) -> None:
    accounts = {a.username.lower(): a for a in connector(directory).iter_accounts()}
    assert Entitlement("group", carol[0]) in accounts["carol"].entitlements
    assert Entitlement("group", erin) in accounts["erin"].entitlements


def test_an_offboarding_by_another_case_removes_the_stored_name_and_is_complete(
    directory: Directory, rt: Runtime, carol: tuple[str, str], erin: str
) -> None:
    admin = directory.slapd.admin()
    report = offboard(rt, "carol", "resigned")
    assert report.status == "complete", report
    assert member_uids(admin, carol[0]) == []
    assert offboard(rt, "erin", "resigned").status == "complete"
    assert member_uids(admin, erin) == []


def test_a_grant_lists_the_name_the_entry_stores(directory: Directory, carol: tuple[str, str]) -> None:
    admin = directory.slapd.admin()
    group = add_group(admin, "late-unix", "posixGroup", [])
    result = connector(directory).grant("carol", Entitlement("group", group))
    assert result.outcome.value == "updated", result
    assert member_uids(admin, group) == ["Carol"]  # what nss and the reads match, not "carol"


def test_a_group_listing_the_name_in_lower_case_is_seen_by_reads_and_listings_alike(
    directory: Directory, rt: Runtime
) -> None:
    """``uid: Dora``, listed as ``dora`` (HR's and iam's spelling, as grants wrote it before):
    a sweep and an offboarding's read see the same group."""
    admin = directory.slapd.admin()
    add_person(admin, "Dora")
    group = add_group(admin, "dora-unix", "posixGroup", ["dora"])
    held = Entitlement("group", group)
    reader = connector(directory)
    state = reader.read_account("dora")
    assert state is not None and held in state.entitlements
    assert held in {a.username: a for a in reader.iter_accounts()}["Dora"].entitlements
    assert offboard(rt, "dora", "resigned").status == "complete"
    assert member_uids(admin, group) == []
