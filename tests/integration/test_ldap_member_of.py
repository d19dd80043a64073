"""Where the directory keeps ``memberOf`` (the overlay), it still does not name every group: a
posixGroup lists its members by ``memberUid``, which the overlay never reflects. Whatever way the
connector finds a leaver's groups (issue 14: ``memberOf`` instead of a group search, where that is
complete), a posixGroup membership must still be found, removed, and proven gone.
"""

from __future__ import annotations

from iam import runs
from iam.runtime import Runtime
from tests.conftest import Directory
from tests.support.slapd import BASE_DN


def _member_of(directory: Directory, uid: str) -> set[str]:
    conn = directory.slapd.admin()
    conn.search(BASE_DN, f"(uid={uid})", attributes=["memberOf"])
    found = {str(v).lower() for v in conn.entries[0]["memberOf"].values}
    conn.unbind()
    return found


def _memberuids(directory: Directory, group: str) -> set[str]:
    conn = directory.slapd.admin()
    conn.search(group, "(objectClass=*)", "BASE", attributes=["memberUid"])
    found = {str(v) for v in conn.entries[0]["memberUid"].values}
    conn.unbind()
    return found


def test_a_posix_group_membership_is_found_and_removed_when_member_of_exists(
    directory: Directory, rt: Runtime
) -> None:
    unix = directory.groups["unix"]
    member_of = _member_of(directory, "alice")
    assert directory.groups["eng"].lower() in member_of  # the overlay is there...
    assert unix.lower() not in member_of  # ...and blind to memberUid
    assert "alice" in _memberuids(directory, unix)

    report = runs.offboard(rt, "alice", "resigned")

    assert report.status == "complete"
    assert "alice" not in _memberuids(directory, unix)
    assert _memberuids(directory, unix) == {"bob"}
    assert _member_of(directory, "alice") == set()
