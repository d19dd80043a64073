"""`iam` when the directory cannot be read in full: check fails naming the setting, a run ends partial.

"Could not look" is never "nothing there": with a search base that does not
exist, or groups the bind account may not see, ``connectors check`` exits
non-zero naming the setting and the fix, and ``offboard`` ends ``partial``
(exit 3) with the reason, while the person keeps every group (checked from
outside, as the rootdn). Against real slapds, through the CLI.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PASSWORD_ENV, Directory, iam_env, run_iam, seed_directory
from tests.support import schemas
from tests.support.slapd import BASE_DN, SERVICE_DN, SERVICE_PASSWORD, Slapd, add_service_account

PARTIAL, USAGE = 3, 2
#: Members hidden from the service account, which may read everything else.
HIDDEN_MEMBERS = (
    f'access to attrs=member,uniqueMember,memberUid by dn.exact="{SERVICE_DN}" none by * read\n'
    "access to * by * read"
)


def write_config(path: Path, directory: Directory, **overrides: Any) -> Path:
    system = {**directory.settings, "type": "ldap", "bind_password": {"env": PASSWORD_ENV}, "timeout": 2}
    system.update(overrides)
    path.write_text(
        yaml.safe_dump(
            {
                "store": "state/iam.db",
                "audit_log": "state/audit.jsonl",
                "retry": {"attempts": 2, "initial_wait": 0.01, "max_wait": 0.05},
                "systems": {"directory": system},
            }
        )
    )
    return path


def groups_of(slapd: Slapd, dn: str, uid: str) -> list[str]:
    """Every group naming the person, as the rootdn sees it (no ACL applies)."""
    conn = slapd.admin()
    conn.search(BASE_DN, f"(|(member={dn})(uniqueMember={dn})(memberUid={uid}))", attributes=["cn"])
    found = sorted(e.entry_dn for e in conn.entries)
    conn.unbind()
    return found


def check(config: Path, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    result = run_iam("--config", str(config), "connectors", "check", "--format", "json", env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)[0]


def offboard(config: Path, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    result = run_iam(
        "--config", str(config), "offboard", "alice", "--reason", "x", "--yes", "--format", "json", env=env
    )
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    schemas.validate(report, "run-report")
    return result.returncode, report


@pytest.mark.parametrize("setting", ["base_dn", "users_dn", "groups_dn", "leavers_dn"])
def test_check_fails_naming_a_setting_that_points_nowhere(
    tmp_path: Path, directory: Directory, setting: str
) -> None:
    config = write_config(tmp_path / "iam.yaml", directory, **{setting: f"ou=no-such-place,{BASE_DN}"})
    code, result = check(config)
    assert code == USAGE and result["ok"] is False
    assert f"ou=no-such-place,{BASE_DN} (systems.directory.{setting}) does not exist" in result["detail"]
    assert f"Set {setting} to an entry that exists" in result["detail"]


@pytest.mark.parametrize("setting", ["base_dn", "groups_dn"])
def test_offboard_is_partial_while_a_search_base_is_missing(
    tmp_path: Path, directory: Directory, setting: str
) -> None:
    config = write_config(tmp_path / "iam.yaml", directory, **{setting: f"ou=no-such-place,{BASE_DN}"})
    code, report = offboard(config)
    assert code == PARTIAL, report
    assert report["status"] == "partial"
    (system,) = report["systems"]
    assert f"systems.directory.{setting}) does not exist" in system["error"]
    assert len(groups_of(directory.slapd, directory.alice, "alice")) == 4, "she keeps every group"


@pytest.fixture
def hidden_members(tmp_path: Path) -> Iterator[Directory]:
    """A directory whose ACL hides group members from the account iam binds as."""
    server = Slapd(tmp_path / "slapd", database=HIDDEN_MEMBERS)
    server.start()
    found = seed_directory(server)
    add_service_account(server.admin())
    yield found
    server.stop()


def test_members_hidden_by_an_acl_fail_the_check_and_the_offboard(
    tmp_path: Path, hidden_members: Directory
) -> None:
    config = write_config(tmp_path / "iam.yaml", hidden_members, bind_dn=SERVICE_DN)
    env = iam_env({PASSWORD_ENV: SERVICE_PASSWORD})
    code, result = check(config, env)
    assert code == USAGE and result["ok"] is False
    assert "do not let cn=iam,dc=example,dc=org search their member attribute" in result["detail"]
    assert 'access to dn.subtree="ou=groups,dc=example,dc=org" attrs=member' in result["detail"]

    code, report = offboard(config, env)
    assert code == PARTIAL, report
    assert report["status"] == "partial"
    assert "search their member attribute" in report["systems"][0]["error"]
    assert len(groups_of(hidden_members.slapd, hidden_members.alice, "alice")) == 4
