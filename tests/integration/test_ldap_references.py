"""Continuation references: a part of the tree below a search's base that another server holds.

slapd answers a subtree search over a ``referral`` entry with success, the
entries it holds itself, and a continuation reference (``searchResRef``) to
the other server, paged or not (checked on slapd 2.5: the connector sends no
ManageDsaIT control, with which the referral would come back as a plain entry
and the other server's part would vanish without a sign). The accounts and
groups there were not seen: the read is an `errors.IncompleteRead` naming the
reference, unless ``ignore_references`` names that part of the tree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ldap3
import pytest
from iam.connectors.ldap import LdapConnector

from iam import errors, runs
from iam.model import Entitlement
from iam.runtime import Runtime
from iam.secrets import Secret
from tests.conftest import Directory
from tests.support.slapd import ADMIN_PASSWORD, BASE_DN, Slapd, add_person

MOVED_GROUPS = f"ou=moved,ou=groups,{BASE_DN}"
MOVED_PEOPLE = f"ou=moved,ou=people,{BASE_DN}"


@dataclass
class Elsewhere:
    """The second server and what it holds that the first one refers to."""

    slapd: Slapd
    group: str  # a group there naming alice
    account: str  # an account there, carol

    def reference(self, dn: str) -> str:
        return f"{self.slapd.url}/{dn}"


@pytest.fixture
def elsewhere(tmp_path: Path, directory: Directory) -> Iterator[Elsewhere]:
    """A second slapd holding ``MOVED_GROUPS`` (vpn-admins, naming alice) and ``MOVED_PEOPLE`` (carol)."""
    other = Slapd(tmp_path / "other")
    other.start()
    conn = other.admin()
    conn.add(BASE_DN, ["dcObject", "organization"], {"dc": "example", "o": "Example"})
    for dn in (f"ou=groups,{BASE_DN}", f"ou=people,{BASE_DN}", MOVED_GROUPS, MOVED_PEOPLE):
        assert conn.add(dn, ["organizationalUnit"], {"ou": dn.split(",")[0][3:]}), conn.result
    group = f"cn=vpn-admins,{MOVED_GROUPS}"
    assert conn.add(group, ["groupOfNames"], {"cn": "vpn-admins", "member": [directory.alice]}), conn.result
    account = f"uid=carol,{MOVED_PEOPLE}"
    assert conn.add(account, ["inetOrgPerson"], {"uid": "carol", "cn": "carol", "sn": "carol"}), conn.result
    conn.unbind()
    yield Elsewhere(other, group, account)
    other.stop()


def refer(directory: Directory, elsewhere: Elsewhere, dn: str) -> str:
    """Make ``dn`` in the first directory a referral to the second; returns the reference's URL."""
    url = elsewhere.reference(dn)
    admin = directory.slapd.admin()
    assert admin.add(dn, ["referral", "extensibleObject"], {"ou": "moved", "ref": url}), admin.result
    admin.unbind()
    return url


def make(directory: Directory, **overrides: object) -> LdapConnector:
    settings = {**directory.settings, "bind_password": Secret(ADMIN_PASSWORD, "test"), **overrides}
    return LdapConnector("directory", settings)


def still_listed(elsewhere: Elsewhere, dn: str) -> list[str]:
    conn = elsewhere.slapd.admin()
    assert conn.search(elsewhere.group, "(objectClass=*)", ldap3.BASE, attributes=["member"]), conn.result
    members = [str(v) for v in conn.response[0]["attributes"]["member"]]
    conn.unbind()
    return [m for m in members if m.lower() == dn.lower()]


def test_offboarding_is_not_complete_while_a_group_behind_a_reference_lists_the_leaver(
    directory: Directory, elsewhere: Elsewhere, rt: Runtime
) -> None:
    url = refer(directory, elsewhere, MOVED_GROUPS)

    report = runs.offboard(rt, "alice", "resigned")

    assert still_listed(elsewhere, directory.alice)  # the other server was never asked to change
    assert report.status != "complete"
    (system,) = report.systems
    assert url in str(system.error), system


@pytest.mark.parametrize("page_size", [2, 500])
def test_reads_and_sweeps_refuse_a_reference_below_groups_dn(
    directory: Directory, elsewhere: Elsewhere, page_size: int
) -> None:
    """The one search from base_dn (`read_account`), the groups' own search and the bulk read alike."""
    url = refer(directory, elsewhere, MOVED_GROUPS)
    connector = make(directory, page_size=page_size)
    unpaged = lambda: connector.session.search(  # noqa: E731
        connector.groups_dn, "(objectClass=groupOfNames)", ["cn"], setting="groups_dn"
    )
    for read in (
        lambda: connector.read_account("alice"),
        lambda: connector._groups_of(directory.alice, "alice", ["alice"]),
        lambda: list(connector.iter_accounts()),
        unpaged,
    ):
        with pytest.raises(errors.IncompleteRead, match="continuation reference") as err:
            read()
        assert url in str(err.value) and "systems.directory.ignore_references" in str(err.value)


def test_an_account_behind_a_reference_is_not_read_as_no_account(
    directory: Directory, elsewhere: Elsewhere
) -> None:
    url = refer(directory, elsewhere, MOVED_PEOPLE)
    connector = make(directory)
    for read in (lambda: connector.read_account("carol"), lambda: list(connector.iter_accounts())):
        with pytest.raises(errors.IncompleteRead) as err:
            read()
        assert url in str(err.value) and "systems.directory.base_dn" in str(err.value)


def test_a_reference_named_in_ignore_references_is_passed_over_and_no_other(
    directory: Directory, elsewhere: Elsewhere
) -> None:
    refer(directory, elsewhere, MOVED_GROUPS)
    people = refer(directory, elsewhere, MOVED_PEOPLE)
    spelt_otherwise = "OU=Moved, OU=Groups, DC=example, DC=org"  # compared as the directory compares DNs
    connector = make(directory, ignore_references=[spelt_otherwise])

    held = connector._groups_of(directory.alice, "alice", ["alice"])  # only groups_dn's reference is met
    assert {dn for dn, _ in held} == {directory.groups[g] for g in ("eng", "solo", "ops", "unix")}
    with pytest.raises(errors.IncompleteRead) as err:
        connector.read_account("alice")  # from base_dn: ou=people's reference is met too
    assert people in str(err.value) and MOVED_GROUPS not in str(err.value).replace(people, "")

    both = make(directory, ignore_references=[spelt_otherwise, MOVED_PEOPLE])
    state = both.read_account("alice")
    assert state is not None and Entitlement("group", elsewhere.group) not in state.entitlements
    assert both.read_account("carol") is None  # what was chosen: carol's part is not read


def test_connectors_check_names_the_reference_that_blocks_reads(
    directory: Directory, elsewhere: Elsewhere
) -> None:
    add_person(directory.slapd.admin(), "dave")  # an account, so that check reads its classes too
    url = refer(directory, elsewhere, MOVED_PEOPLE)
    with pytest.raises(errors.IncompleteRead, match="continuation reference") as err:
        make(directory).check()
    assert url in str(err.value) and "parts of base_dn another server holds" in str(err.value)
    assert "bound to" in make(directory, ignore_references=[MOVED_PEOPLE]).check()
