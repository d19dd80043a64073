"""An account under ``archive_dn`` counts as deleted only while it grants nothing.

A retention delete with ``archive_dn`` moves the entry there, and the read
that finds it there counts it as gone. Counted so whatever it still held, an
offboarding of someone whose entry sat in the archive with its lock not
enforced (a password policy without ``pwdLockout``) read back "no account"
and ended complete.
"""

from __future__ import annotations

from pathlib import Path

import ldap3
import pytest
from iam.connectors.ldap import LdapConnector

from iam import runs
from iam.config import Config, RetryPolicy, SystemConfig
from iam.runtime import Runtime
from iam.secrets import Secret
from tests.conftest import Directory
from tests.support.slapd import ADMIN_PASSWORD, BASE_DN

ARCHIVE = f"ou=archive,{BASE_DN}"


def runtime(directory: Directory, tmp_path: Path, **settings: object) -> Runtime:
    merged = {**directory.settings, "bind_password": Secret(ADMIN_PASSWORD, "t"), **settings}
    config = Config(
        path=None,
        store=str(tmp_path / "iam.db"),
        audit_log=str(tmp_path / "audit.jsonl"),
        retry=RetryPolicy(attempts=1, initial_wait=0.01, max_wait=0.01),
        systems=(SystemConfig("directory", "ldap", merged),),
    )
    return Runtime(config, connectors={"directory": LdapConnector("directory", merged)})


@pytest.fixture
def bob_archived_unlockable(directory: Directory) -> None:
    """bob's entry in the archive, under a password policy that does not enforce a lock."""
    admin = directory.slapd.admin()
    assert admin.add(ARCHIVE, ["organizationalUnit"], {"ou": "archive"}), admin.result
    nolock = f"cn=nolock,ou=policies,{BASE_DN}"
    attrs = {"cn": "nolock", "sn": "p", "pwdAttribute": "userPassword"}
    assert admin.add(nolock, ["person", "pwdPolicy"], attrs), admin.result
    assert admin.modify_dn(directory.bob, "uid=bob", new_superior=ARCHIVE), admin.result
    bob = f"uid=bob,{ARCHIVE}"
    assert admin.modify(bob, {"pwdPolicySubentry": [(ldap3.MODIFY_REPLACE, [nolock])]}), admin.result


@pytest.mark.parametrize("archive_dn", [None, ARCHIVE], ids=["no archive_dn", "archive_dn"])
def test_an_archived_account_still_open_is_not_a_finished_termination(
    directory: Directory, tmp_path: Path, bob_archived_unlockable: None, archive_dn: str | None
) -> None:
    with runtime(directory, tmp_path, leavers_dn=None, archive_dn=archive_dn) as rt:
        report = runs.offboard(rt, "bob", "resigned")
    (system,) = report.systems
    assert report.status == "partial", report
    assert any("lock is not enforced" in left for left in system.remaining), system.remaining
