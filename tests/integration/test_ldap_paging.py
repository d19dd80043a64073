"""Paged LDAP searches against a real slapd: every page, in the server's order, streamed, never cut short.

`LdapSession` pages with ldap3's own paged search. ldap3's generator hands
out each page last entry first and, on a page the server refused (a size
limit reached half-way), simply stops as if the search were done; these
tests hold the session to the server's order and to an error instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import ldap3
import pytest
from iam.connectors.ldap import LdapConnector
from iam.connectors.ldap.session import LdapSession
from iam.connectors.ldap.settings import LdapSettings

from iam import errors
from iam.secrets import Secret
from iam.settings import validate_settings
from tests.conftest import Directory, seed_directory
from tests.support.slapd import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    BASE_DN,
    SERVICE_DN,
    SERVICE_PASSWORD,
    Slapd,
    add_service_account,
    free_port,
)

GROUPS = f"ou=groups,{BASE_DN}"
ANY_GROUP = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))"
#: The `directory` fixture's five groups, two per page: three pages.
PAGE_SIZE = 2
PAGES = 3


def connections(
    slapd: Slapd, opened: list[ldap3.Connection], bind_dn: str, password: str
) -> Callable[[], ldap3.Connection]:
    """A connection factory whose real connections count the operations they send (ldap3's usage)."""

    def factory() -> ldap3.Connection:
        server = ldap3.Server("127.0.0.1", port=slapd.port, get_info=ldap3.NONE)
        conn = ldap3.Connection(
            server, bind_dn, password, auto_bind=True, receive_timeout=5, collect_usage=True
        )
        opened.append(conn)
        return conn

    return factory


def _settings(raw: dict[str, object]) -> LdapSettings:
    return validate_settings("directory", LdapSettings, raw)


def session_for(directory: Directory, opened: list[ldap3.Connection]) -> LdapSession:
    settings = {**directory.settings, "bind_password": Secret(ADMIN_PASSWORD, "test")}
    return LdapSession(
        "directory", _settings(settings), connections(directory.slapd, opened, ADMIN_DN, ADMIN_PASSWORD)
    )


def list_groups(session: LdapSession, page_size: int = PAGE_SIZE) -> Iterator[dict[str, object]]:
    return session.iter_search(GROUPS, ANY_GROUP, ["cn"], setting="groups_dn", page_size=page_size)


def test_a_paged_search_sees_every_page_in_the_servers_order(directory: Directory) -> None:
    opened: list[ldap3.Connection] = []
    session = session_for(directory, opened)
    unpaged = [e["dn"] for e in session.search(GROUPS, ANY_GROUP, ["cn"], setting="groups_dn")]
    before = opened[0].usage.search_operations

    paged = [e["dn"] for e in session.search(GROUPS, ANY_GROUP, ["cn"], setting="groups_dn", page_size=2)]

    assert paged == unpaged
    assert sorted(paged) == sorted(directory.groups.values())
    assert opened[0].usage.search_operations - before == PAGES


def test_a_bulk_read_streams_before_the_last_page_is_asked_for(directory: Directory) -> None:
    opened: list[ldap3.Connection] = []
    entries = list_groups(session_for(directory, opened))

    first = next(entries)

    assert opened[0].usage.search_operations < PAGES
    assert [first["dn"], *(e["dn"] for e in entries)] == [
        e["dn"] for e in session_for(directory, []).search(GROUPS, ANY_GROUP, ["cn"], setting="groups_dn")
    ]


def test_a_streaming_reader_may_use_the_session_between_entries(directory: Directory) -> None:
    """Another call between two entries (one that fails, here) is not taken for a page's result."""
    session = session_for(directory, [])
    seen = []
    for entry in list_groups(session):
        seen.append(entry["dn"])
        assert session.read_entry(f"cn=no-such-group,{GROUPS}", ["cn"], "read a gone group") is None
    assert sorted(seen) == sorted(directory.groups.values())


def test_a_read_left_half_way_leaves_the_connection_as_it_was(directory: Directory) -> None:
    """ldap3 turns referral chasing off for a paged search and restores it only when run to the end;
    the session keeps it off for good (a referral's server would be sent the bind password)."""
    session = LdapSession(
        "directory", _settings({**directory.settings, "bind_password": Secret(ADMIN_PASSWORD, "t")}), None
    )
    entries = list_groups(session)
    next(entries)
    entries.close()

    assert session._conn is not None and session._conn.auto_referrals is False
    assert len(session.search(GROUPS, ANY_GROUP, ["cn"], setting="groups_dn", page_size=2)) == 5


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Directory]:
    """The service account may see three entries per search: the groups' second page goes over it."""
    server = Slapd(
        tmp_path / "slapd", database=f'limits dn.exact="{SERVICE_DN}" size=3\naccess to * by * read'
    )
    server.start()
    found = seed_directory(server)
    add_service_account(server.admin())
    yield found
    server.stop()


def test_a_size_limit_that_cuts_a_paged_search_half_way_raises(limited: Directory) -> None:
    settings = {**limited.settings, "bind_dn": SERVICE_DN, "bind_password": Secret(SERVICE_PASSWORD, "test")}
    session = LdapSession("directory", _settings(settings), None)
    for read in (
        lambda: session.search(GROUPS, ANY_GROUP, ["cn"], setting="groups_dn", page_size=2),
        lambda: list(list_groups(session)),
    ):
        with pytest.raises(errors.IncompleteRead, match=r"systems\.directory\.groups_dn.*cut short") as err:
            read()
        assert "sizeLimitExceeded (LDAP 4)" in str(err.value)
        assert not err.value.retryable


def test_a_bulk_read_cut_by_a_size_limit_on_a_later_page_is_an_error(limited: Directory) -> None:
    settings = {
        **limited.settings,
        "bind_dn": SERVICE_DN,
        "bind_password": Secret(SERVICE_PASSWORD, "test"),
        "page_size": PAGE_SIZE,
        "disable": {"method": "ppolicy", "policy_dn": f"cn=default,ou=policies,{BASE_DN}"},
    }
    with pytest.raises(errors.IncompleteRead, match="cut short by a server limit"):
        list(LdapConnector("directory", settings).iter_accounts())


def test_a_paged_read_of_a_place_another_server_holds_is_an_error_not_followed(directory: Directory) -> None:
    """A referral names another server: its pages could not be judged here, and it is not asked."""
    moved = f"ou=moved-groups,{BASE_DN}"
    elsewhere = f"ldap://127.0.0.1:{free_port()}/{moved}"  # nothing listens: following it fails to connect
    admin = directory.slapd.admin()
    referral = {"ou": "moved-groups", "ref": elsewhere}
    assert admin.add(moved, ["referral", "extensibleObject"], referral), admin.result
    session = LdapSession(
        "directory", _settings({**directory.settings, "bind_password": Secret(ADMIN_PASSWORD, "t")}), None
    )

    for page_size in (PAGE_SIZE, 0):  # paged or not, the referral is an error and is never followed
        with pytest.raises(errors.IncompleteRead, match=r"referral \(LDAP 10\)") as err:
            session.search(moved, ANY_GROUP, ["cn"], setting="groups_dn", page_size=page_size)
        assert elsewhere in str(err.value) and "systems.directory.groups_dn" in str(err.value)
