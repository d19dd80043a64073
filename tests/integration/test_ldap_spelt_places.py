"""``leavers_dn`` and ``archive_dn`` written one way, sent back by slapd another (``\\,`` and
``\\2C``, case, spaces): an account moved there is known to be there, on a real slapd.

Were it not, a finished leaver would be planned for the leavers area again (and the
move refused as "already exists"), a rehire's account would stay set aside, and an
account archived by a retention delete would not count as deleted.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from iam.connectors.ldap import LdapConnector
from ldap3.utils.dn import escape_rdn

from iam import contract
from iam.model import Outcome
from iam.secrets import Secret
from tests.conftest import Directory
from tests.support.slapd import ADMIN_PASSWORD, BASE_DN

#: The places as made, and as configured: other escapes, other case, spaces around the commas.
MADE = {"leavers_dn": "Leavers, former staff", "archive_dn": "Archive, kept; 7 years"}
CONFIGURED = {
    "leavers_dn": f"OU=Leavers\\, former staff, {BASE_DN.upper()}",
    "archive_dn": f"ou=Archive\\, kept\\; 7 years , {BASE_DN}",
}


@pytest.fixture
def connector(directory: Directory) -> Iterator[LdapConnector]:
    conn = directory.slapd.admin()
    for value in MADE.values():
        assert conn.add(f"ou={escape_rdn(value)},{BASE_DN}", ["organizationalUnit"], {"ou": value}), (
            conn.result
        )
    conn.unbind()
    for setting, value in MADE.items():  # what makes the test: slapd answers with another spelling
        assert directory.slapd.spelling(f"ou={escape_rdn(value)},{BASE_DN}") != CONFIGURED[setting]
    settings = {**directory.settings, **CONFIGURED, "bind_password": Secret(ADMIN_PASSWORD, "test")}
    made = LdapConnector("directory", settings)
    yield made
    made.close()


def terminate(connector: LdapConnector, username: str) -> list[contract.Op]:
    state = connector.read_account(username)
    assert state is not None
    steps = connector.termination_steps(state)
    for step in steps:
        contract.perform(connector, username, step)
    return [step.op for step in steps]


def test_a_leaver_moved_to_leavers_dn_is_not_planned_for_it_again(
    directory: Directory, connector: LdapConnector
) -> None:
    assert contract.Op.ARCHIVE in terminate(connector, "alice")
    state = connector.read_account("alice")
    assert state is not None and state.remaining_access() == []
    assert state.ref.endswith(directory.slapd.spelling(f"ou={escape_rdn(MADE['leavers_dn'])},{BASE_DN}"))
    assert not connector.needs_archive(state)
    assert terminate(connector, "alice") == []  # the second offboarding finds nothing left to do
    assert connector.archive("alice").outcome == Outcome.UNCHANGED


def test_a_rehire_in_leavers_dn_is_moved_back(connector: LdapConnector) -> None:
    terminate(connector, "alice")
    state = connector.read_account("alice")
    assert state is not None and connector.needs_restore(state)
    assert connector.restore("alice").outcome == Outcome.UPDATED
    back = connector.read_account("alice")
    assert back is not None and not connector.needs_restore(back)
    assert back.ref.lower().endswith(f"ou=people,{BASE_DN}")


def test_an_account_moved_to_archive_dn_counts_as_deleted(connector: LdapConnector) -> None:
    assert connector.delete_account("bob").outcome == Outcome.UPDATED
    state = connector.read_account("bob")
    assert state is not None and connector.counts_as_deleted(state)
    assert connector.delete_account("bob").outcome == Outcome.UNCHANGED
