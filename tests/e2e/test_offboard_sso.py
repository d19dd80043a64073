"""`iam offboard` across a real slapd and a real Keycloak, through the CLI.

What is left is checked from outside, as an attacker holding the leaver's
password and tokens would try: Keycloak's own token endpoint (log in,
refresh, refresh each offline token) and its admin API (sessions, role
mappings, groups).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from iam.lab.keycloak.seed import SWEEPER, SWEEPER_SECRET

from tests.conftest import Directory, iam_env, run_iam
from tests.support.realms import RealRealm, Tokens
from tests.support.slapd import add_person


@pytest.fixture
def both(config_file: Path, realm: RealRealm) -> Path:
    data = yaml.safe_load(config_file.read_text())
    data["systems"]["sso"] = {
        "type": "keycloak",
        **realm.settings(),
        "client_secret": {"env": "IAM_TEST_KC_SECRET"},
    }
    config_file.write_text(yaml.safe_dump(data))
    return config_file


ENV = {"IAM_TEST_KC_SECRET": SWEEPER_SECRET}


def offboard(config: Path, user: str):
    result = run_iam(
        "--config",
        str(config),
        "offboard",
        user,
        "--reason",
        "left",
        "--yes",
        "--format",
        "json",
        env=iam_env(ENV),
    )
    return result, json.loads(result.stdout) if result.stdout.strip() else None


def refreshes(realm: RealRealm, tokens: Tokens) -> bool:
    return realm.refresh(tokens).status_code == 200


def test_after_offboarding_the_leaver_cannot_log_in_refresh_or_use_any_offline_token(
    both: Path, realm: RealRealm, directory: Directory
) -> None:
    online = realm.login("alice", "portal")
    offline = [realm.login("alice", "app", offline=True), realm.login("alice", "portal", offline=True)]
    bobs = [realm.login("bob", "app", offline=True), realm.login("bob", "portal")]
    bob_roles, bob_groups = realm.role_mappings("bob"), realm.groups("bob")
    assert all(refreshes(realm, t) for t in [online, *offline, *bobs])

    result, report = offboard(both, "alice")

    assert result.returncode == 0, result.stderr + result.stdout
    by = {s["system"]: s for s in report["systems"]}
    assert by["directory"]["result"] == "complete" and by["sso"]["result"] == "complete"
    disable = next(s for s in by["sso"]["steps"] if s["op"] == "disable")
    assert "access tokens already issued stay valid until they expire: up to 300 s" in disable["description"]
    # from outside, through Keycloak's own endpoints
    assert realm.password_login("alice", "alice-Passw0rd").status_code == 400
    assert not refreshes(realm, online), "the refresh token is refused"
    assert not any(refreshes(realm, t) for t in offline), "every offline token is refused"
    assert realm.sessions("alice") == [] and realm.offline_sessions("alice") == []
    assert realm.role_mappings("alice") == {} and realm.groups("alice") == []
    # another user of the same realm is untouched
    assert all(refreshes(realm, t) for t in bobs)
    assert realm.role_mappings("bob") == bob_roles and realm.groups("bob") == bob_groups
    assert realm.password_login("bob", "bob-Passw0rd").status_code == 200
    status = run_iam("--config", str(both), "status", "alice", "--format", "json", env=iam_env(ENV))
    assert {s["system"]: s["result"] for s in json.loads(status.stdout)["systems"]} == {
        "directory": "no_access",
        "sso": "no_access",
    }


def test_a_person_missing_from_sso_is_still_offboarded_from_the_directory(
    both: Path, directory: Directory
) -> None:
    conn = directory.slapd.admin()
    add_person(conn, "carol")
    conn.unbind()
    result, report = offboard(both, "carol")
    assert result.returncode == 0, result.stderr
    by = {s["system"]: s["result"] for s in report["systems"]}
    assert by == {"directory": "complete", "sso": "no_account"}


def test_a_service_account_without_manage_users_is_a_clear_partial_naming_the_role(
    both: Path, realm: RealRealm, directory: Directory
) -> None:
    realm.set_admin_roles(f"service-account-{SWEEPER}", ["view-users", "view-realm", "view-clients"])
    result, report = offboard(both, "alice")
    assert result.returncode == 3
    sso = next(s for s in report["systems"] if s["system"] == "sso")
    assert "needs the realm-management role 'manage-users'" in sso["error"]
    assert sso["remaining"] and realm.user("alice")["enabled"]
    directory_result = next(s for s in report["systems"] if s["system"] == "directory")
    assert directory_result["result"] == "complete"
    assert SWEEPER_SECRET not in result.stdout + result.stderr


def test_a_sweep_finds_a_leaver_still_holding_sso_access(
    both: Path, realm: RealRealm, directory: Directory
) -> None:
    data = yaml.safe_load(both.read_text())
    data["policy"] = str(both.parent / "policy.yaml")
    (both.parent / "policy.yaml").write_text(yaml.safe_dump({"roles": {"none": {"entitlements": {}}}}))
    both.write_text(yaml.safe_dump(data))
    result = run_iam("--config", str(both), "offboard", "bob", "--reason", "left", "--yes", env=iam_env(ENV))
    assert result.returncode == 0, result.stderr
    bob = realm.user("bob")
    realm.update(f"/users/{bob['id']}", {**bob, "enabled": True})  # re-enabled behind iam's back
    realm.login("bob", "portal")

    sweep = run_iam("--config", str(both), "review", "sweep", "--format", "json", env=iam_env(ENV))

    assert sweep.returncode == 4, sweep.stderr
    findings = {(f["type"], f["system"], f["account"]) for f in json.loads(sweep.stdout)["findings"]}
    assert ("leaver_with_access", "sso", "bob") in findings
    assert ("leaver_with_access", "directory", "bob") not in findings
