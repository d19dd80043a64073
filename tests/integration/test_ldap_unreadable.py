"""The LDAP connector when it cannot see everything: an error naming the setting, never "nothing there".

Real slapds with real access controls. The account iam binds as is an
ordinary entry (`SERVICE_DN`), because the rootdn ignores every ACL. What
slapd answers in each case is described in `connectors.ldap.visibility`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from iam.connectors.ldap import LdapConnector
from iam.connectors.ldap.connector import PROOF_SECONDS

from iam import errors
from iam.model import Entitlement, Outcome
from iam.secrets import Secret
from tests.conftest import Directory, seed_directory
from tests.support.slapd import (
    ADMIN_PASSWORD,
    BASE_DN,
    DEFAULT_POLICY,
    SERVICE_DN,
    SERVICE_PASSWORD,
    Slapd,
    add_group,
    add_service_account,
    seed_base,
)

GROUPS = f"ou=groups,{BASE_DN}"
EVERYONE_READS = "access to * by * read"
#: slapd.conf lines that hide part of the groups from the service account, and what the check says.
HIDING = {
    "the groups": (
        f'access to dn.children="{GROUPS}" by dn.exact="{SERVICE_DN}" none by * read\n{EVERYONE_READS}',
        "no group below .* is visible",
    ),
    "the groups OU": (
        f'access to dn.subtree="{GROUPS}" by dn.exact="{SERVICE_DN}" none by * read\n{EVERYONE_READS}',
        "does not exist, or cn=iam,dc=example,dc=org may not see it",
    ),
    "the members": (
        f'access to attrs=member,uniqueMember,memberUid by dn.exact="{SERVICE_DN}" none by * read\n'
        f"{EVERYONE_READS}",
        "do not let cn=iam,dc=example,dc=org search their member",
    ),
    "the members' values": (
        f'access to attrs=member,uniqueMember,memberUid by dn.exact="{SERVICE_DN}" search by * read\n'
        f"{EVERYONE_READS}",
        "may search but not read the member attribute",
    ),
}

Factory = Callable[[str], Directory]


@pytest.fixture
def directory_with(tmp_path: Path) -> Iterator[Factory]:
    """A seeded slapd with extra database lines (ACLs, limits), and the service account."""
    started: list[Slapd] = []

    def make(database: str) -> Directory:
        server = Slapd(tmp_path / f"slapd-{len(started)}", database=database)
        server.start()
        started.append(server)
        found = seed_directory(server)
        add_service_account(server.admin())
        return found

    yield make
    for server in started:
        server.stop()


def as_service(directory: Directory, **overrides: object) -> LdapConnector:
    settings = {
        **directory.settings,
        "bind_dn": SERVICE_DN,
        "bind_password": Secret(SERVICE_PASSWORD, "test"),
        # an ordinary account cannot read cn=config: it names the default policy the disable relies on
        "disable": {"method": "ppolicy", "policy_dn": DEFAULT_POLICY},
        **overrides,
    }
    return LdapConnector("directory", settings)


def as_admin(directory: Directory, **overrides: object) -> LdapConnector:
    settings = {**directory.settings, "bind_password": Secret(ADMIN_PASSWORD, "test"), **overrides}
    return LdapConnector("directory", settings)


# missing places --------------------------------------------------------------------------------


@pytest.mark.parametrize("setting", ["base_dn", "users_dn", "groups_dn", "leavers_dn"])
def test_a_missing_place_fails_the_check_naming_its_setting(directory: Directory, setting: str) -> None:
    connector = as_admin(directory, **{setting: f"ou=no-such-place,{BASE_DN}"})
    with pytest.raises(errors.IncompleteRead, match=rf"systems\.directory\.{setting}\) does not exist"):
        connector.check()


def test_a_missing_base_is_an_error_not_an_absent_account(directory: Directory) -> None:
    connector = as_admin(directory, base_dn="dc=example,dc=orgg")
    with pytest.raises(errors.IncompleteRead, match=r"systems\.directory\.base_dn"):
        connector.read_account("alice")
    with pytest.raises(errors.IncompleteRead, match=r"systems\.directory\.base_dn"):
        list(connector.iter_accounts())


def test_the_error_names_the_closest_entry_that_exists(directory: Directory) -> None:
    connector = as_admin(directory, groups_dn=f"ou=grops,{BASE_DN}")
    with pytest.raises(errors.IncompleteRead, match=f"the closest entry that exists is {BASE_DN}"):
        connector.read_account("alice")


def test_archiving_into_a_missing_leavers_ou_is_an_error_not_a_move(directory: Directory) -> None:
    connector = as_admin(directory, leavers_dn=f"ou=gone,{BASE_DN}")
    with pytest.raises(errors.IncompleteRead, match=r"systems\.directory\.leavers_dn"):
        connector.archive("alice")
    assert connector.read_account("alice").ref == directory.alice  # not moved, and not claimed to be


# access controls ---------------------------------------------------------------------------------


@pytest.mark.parametrize("hidden", sorted(HIDING))
def test_groups_hidden_by_an_acl_fail_the_check_and_every_read(directory_with: Factory, hidden: str) -> None:
    acl, complaint = HIDING[hidden]
    directory = directory_with(acl)
    connector = as_service(directory)
    with pytest.raises(errors.IncompleteRead, match=complaint):
        connector.check()
    with pytest.raises(errors.IncompleteRead):
        connector.read_account("alice")
    with pytest.raises(errors.IncompleteRead):
        list(connector.iter_accounts())
    assert len(as_admin(directory).read_account("alice").entitlements) == 4, "she is in four groups"


def test_groups_the_acl_will_not_even_disclose_are_permission_denied(directory_with: Factory) -> None:
    directory = directory_with(
        f'access to dn.subtree="{GROUPS}" by dn.exact="{SERVICE_DN}" disclose by * read\n{EVERYONE_READS}'
    )
    denied = r"may not read ou=groups.*systems\.directory\.groups_dn"
    with pytest.raises(errors.PermissionDenied, match=denied):
        as_service(directory).read_account("alice")


def test_a_bind_account_that_may_read_the_groups_passes(directory_with: Factory) -> None:
    directory = directory_with(
        f"access to attrs=userPassword by self write by anonymous auth by * none\n{EVERYONE_READS}"
    )
    connector = as_service(directory)
    assert "5 group(s)" in connector.check()
    assert len(connector.read_account("alice").entitlements) == 4
    assert {s.username for s in connector.iter_accounts()} >= {"alice", "bob"}


def test_an_account_whose_name_may_be_searched_but_not_read_fails_the_bulk_read(
    directory_with: Factory,
) -> None:
    """Every account matches (uid=*), yet no uid comes back: each would be left out of a sweep
    (an orphan never found). The listing raises instead; one account's read still finds alice."""
    directory = directory_with(
        f'access to attrs=uid by dn.exact="{SERVICE_DN}" search by * read\n{EVERYONE_READS}'
    )
    connector = as_service(directory)
    with pytest.raises(errors.IncompleteRead, match=r"uid=alice,.* has a uid, but it did not come back"):
        list(connector.iter_accounts())
    state = connector.read_account("alice")
    assert state is not None and len(state.entitlements) == 4


def test_a_user_attribute_named_by_an_alias_fails_the_bulk_read_naming_the_setting(
    directory: Directory,
) -> None:
    """``userid`` is uid's other name: slapd answers ``uid``, which a listing by ``userid`` never sees."""
    with pytest.raises(
        errors.IncompleteRead, match=r"systems\.directory\.user_attribute names it by another"
    ):
        list(as_admin(directory, user_attribute="userid").iter_accounts())


# nothing there, proven ------------------------------------------------------------------------------


def test_an_empty_groups_ou_is_no_groups_yet(slapd: Slapd) -> None:
    seed_base(slapd.admin())
    settings = {
        "url": slapd.url,
        "start_tls": False,
        "base_dn": BASE_DN,
        "groups_dn": GROUPS,
        "bind_dn": f"cn=admin,{BASE_DN}",
        "bind_password": Secret(ADMIN_PASSWORD, "test"),
    }
    assert "no groups below" in LdapConnector("directory", settings).check()


def test_groups_without_members_are_proven_empty_not_hidden(directory: Directory) -> None:
    conn = directory.slapd.admin()
    add_group(conn, "new-unix", "posixGroup", [])
    connector = as_admin(directory)
    assert "6 group(s)" in connector.check()
    assert {s.username for s in connector.iter_accounts()} >= {"alice", "bob"}


# limits ----------------------------------------------------------------------------------------------


def test_a_size_limit_is_an_incomplete_read_naming_page_size(directory_with: Factory) -> None:
    directory = directory_with(f'limits dn.exact="{SERVICE_DN}" size=3\n{EVERYONE_READS}')
    with pytest.raises(errors.IncompleteRead, match=r"cut short by a server limit.*page_size") as err:
        list(as_service(directory).iter_accounts())
    assert not err.value.retryable


def test_a_page_larger_than_the_server_allows_is_not_retried(directory_with: Factory) -> None:
    directory = directory_with(f'limits dn.exact="{SERVICE_DN}" size.pr=2\n{EVERYONE_READS}')
    with pytest.raises(errors.IncompleteRead, match="illegal pagedResults page size") as err:
        list(as_service(directory, page_size=5).iter_accounts())
    assert not err.value.retryable
    assert {s.username for s in as_service(directory, page_size=2).iter_accounts()} >= {"alice", "bob"}


def test_grant_of_a_group_that_does_not_exist_is_invalid(directory: Directory) -> None:
    connector = as_admin(directory)
    with pytest.raises(errors.InvalidAttribute, match="does not exist"):
        connector.grant("alice", Entitlement("group", f"cn=nope,{GROUPS}"))
    assert connector.grant("bob", Entitlement("group", directory.groups["solo"])).outcome == Outcome.UPDATED


def test_groups_hidden_after_the_proof_are_caught_once_it_is_old(directory_with: Factory) -> None:
    """``iam serve`` keeps one connector for days: the proof that every group is visible ages out."""
    secret = f"ou=secret,{GROUPS}"
    directory = directory_with(
        f'access to dn.subtree="{secret}" attrs=member by dn.exact="{SERVICE_DN}" none by * read\n'
        f"{EVERYONE_READS}"
    )
    admin = directory.slapd.admin()
    assert admin.add(secret, ["organizationalUnit"], {"ou": "secret"}), admin.result
    connector = as_service(directory)
    now = [1000.0]
    connector.clock = lambda: now[0]
    assert len(connector.read_account("alice").entitlements) == 4  # proven: nothing hidden yet

    group = f"cn=treasury,{secret}"
    assert admin.add(group, ["groupOfNames"], {"cn": "treasury", "member": [directory.alice]}), admin.result
    now[0] += PROOF_SECONDS

    with pytest.raises(errors.IncompleteRead, match="search their member"):
        connector.read_account("alice")
