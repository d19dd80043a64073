"""`iam offboard` end to end against a real slapd, checked from outside."""

from __future__ import annotations

import json
from pathlib import Path

import ldap3
import yaml

from tests.conftest import Directory, iam_env, run_iam
from tests.support import schemas
from tests.support.slapd import BASE_DN, Slapd


def outside_view(slapd: Slapd, uid: str) -> dict[str, object]:
    """What a separate LDAP client sees: the entry and every group naming it."""
    conn = slapd.admin()
    conn.search(BASE_DN, f"(uid={uid})", attributes=["pwdAccountLockedTime", "userPassword"])
    entry = conn.entries[0]
    dn = entry.entry_dn
    conn.search(BASE_DN, f"(|(member={dn})(uniqueMember={dn})(memberUid={uid}))", attributes=["cn"])
    groups = sorted(e.entry_dn for e in conn.entries)
    conn.unbind()
    return {"dn": dn, "locked": list(entry.pwdAccountLockedTime.values), "groups": groups}


def can_bind(slapd: Slapd, dn: str, password: str) -> bool:
    conn = ldap3.Connection(ldap3.Server("127.0.0.1", port=slapd.port), dn, password)
    return bool(conn.bind())


def test_leaver_is_locked_and_loses_every_group(directory: Directory, config_file: Path) -> None:
    assert can_bind(directory.slapd, directory.alice, "alice-Passw0rd")
    before = outside_view(directory.slapd, "alice")
    assert len(before["groups"]) == 4

    result = run_iam(
        "--config", str(config_file), "offboard", "alice", "--reason", "resigned", "--yes", "--format", "json"
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    schemas.validate(report, "run-report")
    assert report["status"] == "complete"
    after = outside_view(directory.slapd, "alice")
    assert after["groups"] == []
    assert after["locked"] == ["000001010000Z"]
    assert after["dn"].endswith(f"ou=leavers,{BASE_DN}")
    assert not can_bind(directory.slapd, after["dn"], "alice-Passw0rd")
    # bob was in the same groups and keeps them all
    assert len(outside_view(directory.slapd, "bob")["groups"]) == 4


def test_dry_run_changes_nothing_and_is_audited(directory: Directory, config_file: Path) -> None:
    before = outside_view(directory.slapd, "alice")

    result = run_iam(
        "--config", str(config_file), "offboard", "alice", "--reason", "test", "--dry-run", "--format", "json"
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "planned"
    planned = [s["op"] for s in report["systems"][0]["steps"]]
    assert planned.count("revoke") == 4 and "disable" in planned
    assert outside_view(directory.slapd, "alice") == before
    audit = (config_file.parent / "state/audit.jsonl").read_text()
    assert '"event":"run.dry_run"' in audit


def test_second_offboard_succeeds_and_changes_nothing(directory: Directory, config_file: Path) -> None:
    first = run_iam("--config", str(config_file), "offboard", "alice", "--reason", "resigned", "--yes")
    assert first.returncode == 0, first.stderr

    second = run_iam(
        "--config", str(config_file), "offboard", "alice", "--reason", "resigned", "--yes", "--format", "json"
    )

    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert report["status"] == "complete"
    assert report["systems"][0]["steps"] == []


def test_unknown_user_has_no_account_anywhere(directory: Directory, config_file: Path) -> None:
    result = run_iam(
        "--config", str(config_file), "offboard", "nobody", "--reason", "x", "--yes", "--format", "json"
    )
    assert result.returncode == 2, result.stderr  # found nowhere: not a termination
    report = json.loads(result.stdout)
    assert report["status"] == "not_found"
    assert report["systems"][0]["result"] == "no_account"


def test_filter_injection_username_matches_nobody(directory: Directory, config_file: Path) -> None:
    result = run_iam("--config", str(config_file), "offboard", "a*)(uid=*", "--reason", "x", "--yes")
    assert result.returncode == 2
    assert "invalid username" in result.stderr
    assert outside_view(directory.slapd, "alice")["locked"] == []


def test_malformed_config_names_file_line_and_key(tmp_path: Path, config_file: Path) -> None:
    data = yaml.safe_load(config_file.read_text())
    data["systems"]["directory"]["page_sise"] = 10
    config_file.write_text(yaml.safe_dump(data))

    result = run_iam("--config", str(config_file), "status", "alice")

    assert result.returncode == 2
    assert str(config_file) in result.stderr
    assert "systems.directory" in result.stderr and "page_sise" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run_iam("--config", str(tmp_path / "nope.yaml"), "status", "alice")
    assert result.returncode == 2
    assert "not found" in result.stderr


def test_missing_secret_variable_is_named(config_file: Path) -> None:
    env = iam_env()
    env.pop("IAM_TEST_LDAP_PASSWORD")
    result = run_iam("--config", str(config_file), "status", "alice", env=env)
    assert result.returncode == 2
    assert "IAM_TEST_LDAP_PASSWORD" in result.stderr


def test_server_down_is_partial_with_a_clear_message(directory: Directory, config_file: Path) -> None:
    directory.slapd.stop()
    result = run_iam(
        "--config", str(config_file), "offboard", "alice", "--reason", "x", "--yes", "--format", "json"
    )
    assert result.returncode == 3
    system = json.loads(result.stdout)["systems"][0]
    assert "cannot connect" in system["error"]
    assert system["result"] in ("error", "unverified")


def test_wrong_bind_password_is_reported_without_the_password(
    directory: Directory, config_file: Path
) -> None:
    wrong = "Wr0ng-but-secret-value"
    env = iam_env({"IAM_TEST_LDAP_PASSWORD": wrong})

    check = run_iam("--config", str(config_file), "connectors", "check", "--format", "json", env=env)
    offboard = run_iam(
        "--config",
        str(config_file),
        "offboard",
        "alice",
        "--reason",
        "x",
        "--yes",
        "--format",
        "json",
        env=env,
    )

    assert check.returncode == 2
    checked = json.loads(check.stdout)
    schemas.validate(checked, "connectors-check")
    assert checked[0]["error_type"] == "AuthenticationFailed"
    assert "invalid credentials" in checked[0]["detail"]
    assert offboard.returncode == 3
    assert "invalid credentials" in json.loads(offboard.stdout)["systems"][0]["error"]
    for output in (check.stdout, check.stderr, offboard.stdout, offboard.stderr):
        assert wrong not in output
    assert outside_view(directory.slapd, "alice")["locked"] == []


def test_no_confirmation_without_a_terminal_changes_nothing(directory: Directory, config_file: Path) -> None:
    result = run_iam("--config", str(config_file), "offboard", "alice", "--reason", "x")
    assert result.returncode == 2
    assert "--yes" in result.stderr
    assert outside_view(directory.slapd, "alice")["locked"] == []


def test_status_lists_groups(directory: Directory, config_file: Path) -> None:
    result = run_iam("--config", str(config_file), "status", "alice", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    schemas.validate(data, "status")
    access = data["systems"][0]["access"]
    assert "account is enabled" in access
    assert sum(a.startswith("holds group:") for a in access) == 4
