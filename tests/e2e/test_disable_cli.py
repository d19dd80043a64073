"""A disable the directory would not enforce is never reported as one: through the CLI, on a real slapd.

The slapd here has the ppolicy overlay and a default policy, but the policy
lacks ``pwdLockout: TRUE``: slapd then ignores ``pwdAccountLockedTime``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest
import yaml

from tests.conftest import PASSWORD_ENV, run_iam
from tests.support import schemas
from tests.support.slapd import (
    ADMIN_DN,
    BASE_DN,
    DEFAULT_POLICY,
    Slapd,
    add_group,
    add_person,
    seed_base,
    slapd_available,
)

FIX = f"set pwdLockout: TRUE on {DEFAULT_POLICY}"


@pytest.fixture
def weak_directory(tmp_path: Path) -> Iterator[tuple[Slapd, Path]]:
    """A slapd whose default password policy does not lock, alice in a group, and its iam.yaml."""
    if not slapd_available():
        pytest.skip("slapd is not installed (run scripts/test, which installs it)")
    server = Slapd(tmp_path / "slapd")
    server.start()
    conn = server.admin()
    seed_base(conn, lockout=False)
    alice = add_person(conn, "alice", "alice-Passw0rd")
    add_group(conn, "eng", "groupOfNames", [alice])
    conn.unbind()
    config = tmp_path / "iam.yaml"
    system = {
        "type": "ldap",
        "url": server.url,
        "start_tls": False,
        "base_dn": BASE_DN,
        "bind_dn": ADMIN_DN,
        "bind_password": {"env": PASSWORD_ENV},
        "users_dn": f"ou=people,{BASE_DN}",
        "groups_dn": f"ou=groups,{BASE_DN}",
        "leavers_dn": f"ou=leavers,{BASE_DN}",
        "timeout": 2,
    }
    config.write_text(
        yaml.safe_dump(
            {
                "store": "state/iam.db",
                "audit_log": "state/audit.jsonl",
                "retry": {"attempts": 2, "initial_wait": 0.01, "max_wait": 0.05},
                "systems": {"directory": system},
            }
        )
    )
    yield server, config
    server.stop()


def binds(server: Slapd, dn: str, password: str) -> bool:
    conn = ldap3.Connection(ldap3.Server("127.0.0.1", port=server.port, get_info=ldap3.NONE), dn, password)
    try:
        return bool(conn.bind())
    finally:
        conn.unbind()


def test_check_fails_naming_the_policy_to_fix(weak_directory) -> None:
    _, config = weak_directory
    result = run_iam("--config", str(config), "connectors", "check", "--format", "json")
    assert result.returncode != 0
    (check,) = json.loads(result.stdout)
    assert not check["ok"] and FIX in check["detail"]


def test_offboard_is_partial_names_the_fix_and_the_account_still_gets_in(weak_directory) -> None:
    server, config = weak_directory

    result = run_iam(
        "--config", str(config), "offboard", "alice", "--reason", "resigned", "--yes", "--format", "json"
    )

    assert result.returncode == 3, result.stdout + result.stderr
    report = json.loads(result.stdout)
    schemas.validate(report, "run-report")
    assert report["status"] == "partial"
    (directory,) = report["systems"]
    assert directory["result"] == "partial"
    assert [r for r in directory["remaining"] if FIX in r] == directory["remaining"] != []
    disable = [s for s in directory["steps"] if s["op"] == "disable"]
    assert len(disable) == 1 and disable[0]["status"] == "failed" and FIX in disable[0]["error"]
    # everything else was still done: groups gone, moved to the leavers
    done = {s["op"] for s in directory["steps"] if s["status"] == "done"}
    assert {"lock_password", "revoke", "archive"} <= done

    # from outside: the lock iam wrote is on the entry, and after a helpdesk reset she logs in
    leaver = f"uid=alice,ou=leavers,{BASE_DN}"
    admin = server.admin()
    admin.search(leaver, "(objectClass=*)", ldap3.BASE, attributes=["pwdAccountLockedTime"])
    assert admin.entries[0].pwdAccountLockedTime.values == ["000001010000Z"]
    assert admin.modify(leaver, {"userPassword": [(ldap3.MODIFY_REPLACE, ["helpdesk-Reset-1"])]})
    assert binds(server, leaver, "helpdesk-Reset-1")
    # and with the lock written back (a reset removes it), still: slapd ignores it under this policy
    assert admin.modify(leaver, {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, ["000001010000Z"])]})
    assert binds(server, leaver, "helpdesk-Reset-1")
    admin.unbind()


def test_after_the_policy_is_fixed_resume_completes(weak_directory) -> None:
    server, config = weak_directory
    first = run_iam("--config", str(config), "offboard", "alice", "--reason", "resigned", "--yes")
    assert first.returncode == 3, first.stdout + first.stderr
    admin = server.admin()
    assert admin.modify(DEFAULT_POLICY, {"pwdLockout": [(ldap3.MODIFY_REPLACE, ["TRUE"])]})
    admin.unbind()

    result = run_iam("--config", str(config), "resume", "--format", "json")

    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["status"] == "complete"
    check = run_iam("--config", str(config), "connectors", "check")
    assert check.returncode == 0, check.stdout + check.stderr
