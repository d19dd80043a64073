"""Re-check before acting, with the plan's read reused (issue 14): a termination's LDAP steps act on
the entry the plan just read instead of searching again, so what changed in between is caught by the
read-back, and the run never claims complete unless the directory shows it.

The change is made from outside, between the plan and the first step (the confirmation is that moment).
"""

from __future__ import annotations

from collections.abc import Callable

import ldap3

from iam import runs
from iam.plan import Plan
from iam.runtime import Runtime
from tests.conftest import Directory
from tests.support.slapd import BASE_DN, add_group


def between(change: Callable[[], None]) -> Callable[[Plan], bool]:
    """A confirmation that changes the directory after the plan was read, then says yes."""

    def confirm(plan: Plan) -> bool:
        change()
        return True

    return confirm


def alice_now(directory: Directory) -> tuple[str, dict[str, list[str]]]:
    conn = directory.slapd.admin()
    conn.search(BASE_DN, "(uid=alice)", attributes=["userPassword", "pwdAccountLockedTime", "memberOf"])
    entry = conn.entries[0]
    found = entry.entry_dn, {k.lower(): [str(v) for v in entry[k].values] for k in entry.entry_attributes}
    conn.unbind()
    return found


def test_a_group_added_after_the_plan_is_removed_or_the_run_is_not_complete(
    directory: Directory, rt: Runtime
) -> None:
    def add_to_new_group() -> None:
        conn = directory.slapd.admin()
        add_group(conn, "late", "groupOfNames", [directory.alice])
        conn.unbind()

    report = runs.offboard(rt, "alice", "left", confirm=between(add_to_new_group))
    _, attrs = alice_now(directory)
    if report.status == "complete":
        assert attrs.get("memberof", []) == []
    else:
        assert report.status == "partial"


def test_an_entry_moved_after_the_plan_is_still_locked_or_the_run_is_not_complete(
    directory: Directory, rt: Runtime
) -> None:
    """The reused entry's DN is gone: its steps find no object; the read-back finds alice where she went."""

    def move_alice() -> None:
        conn = directory.slapd.admin()
        assert conn.modify_dn(directory.alice, "uid=alice", new_superior=f"ou=leavers,{BASE_DN}"), conn.result
        conn.unbind()

    report = runs.offboard(rt, "alice", "left", confirm=between(move_alice))
    dn, attrs = alice_now(directory)
    assert dn.startswith("uid=alice,ou=leavers,")
    locked = all(v.startswith("{CRYPT}!") for v in attrs.get("userpassword", [])) and attrs.get(
        "pwdaccountlockedtime"
    )
    if report.status == "complete":
        assert locked and attrs.get("memberof", []) == []
    else:
        assert report.status == "partial"


def test_a_password_set_again_after_the_plan_is_locked_by_the_step(directory: Directory, rt: Runtime) -> None:
    """The step writes whatever the entry held: a password changed after the plan ends locked all the same."""

    def set_password() -> None:
        conn = directory.slapd.admin()
        change = {"userPassword": [(ldap3.MODIFY_REPLACE, ["fresh-Passw0rd"])]}
        assert conn.modify(directory.alice, change), conn.result
        conn.unbind()

    report = runs.offboard(rt, "alice", "left", confirm=between(set_password))
    _, attrs = alice_now(directory)
    assert report.status == "complete"
    assert all(v.startswith("{CRYPT}!") for v in attrs["userpassword"])
