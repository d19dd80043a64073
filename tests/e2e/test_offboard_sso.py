"""`iam offboard` across a real slapd and the Keycloak emulator, through the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from iam.lab.keycloak.seed import REALM, SWEEPER, SWEEPER_SECRET, seed, settings
from iam.lab.keycloak.server import KeycloakEmulator

from tests.conftest import Directory, iam_env, run_iam
from tests.support.slapd import add_person


@pytest.fixture
def kc() -> Iterator[KeycloakEmulator]:
    with KeycloakEmulator() as emulator:
        seed(emulator)
        yield emulator


@pytest.fixture
def both(config_file: Path, kc: KeycloakEmulator) -> Path:
    data = yaml.safe_load(config_file.read_text())
    sso = {k: v for k, v in settings(kc).items()}
    data["systems"]["sso"] = {"type": "keycloak", **sso, "client_secret": {"env": "IAM_TEST_KC_SECRET"}}
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


def test_leaver_loses_directory_and_sso_access_with_sessions(
    both: Path, kc: KeycloakEmulator, directory: Directory
) -> None:
    login = kc.login(REALM, "alice", "app", offline=True, consent=["profile"])
    result, report = offboard(both, "alice")
    assert result.returncode == 0, result.stderr + result.stdout
    by = {s["system"]: s for s in report["systems"]}
    assert by["directory"]["result"] == "complete" and by["sso"]["result"] == "complete"
    user = kc.user(REALM, "alice")
    assert not user.enabled
    live = set(kc.realm(REALM).sessions)
    assert login.session_id not in live and login.offline_session_id not in live
    assert not user.consents and not user.groups
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


def test_missing_admin_role_is_a_clear_partial_and_names_the_role(
    both: Path, kc: KeycloakEmulator, directory: Directory
) -> None:
    kc.set_admin_roles(REALM, f"service-account-{SWEEPER}", ["view-users", "view-realm", "view-clients"])
    result, report = offboard(both, "alice")
    assert result.returncode == 3
    sso = next(s for s in report["systems"] if s["system"] == "sso")
    assert "manage-users" in sso["error"]
    assert sso["remaining"] and kc.user(REALM, "alice").enabled
    directory_result = next(s for s in report["systems"] if s["system"] == "directory")
    assert directory_result["result"] == "complete"
    assert SWEEPER_SECRET not in result.stdout + result.stderr


def test_a_sweep_finds_a_leaver_still_holding_sso_access(
    both: Path, kc: KeycloakEmulator, directory: Directory
) -> None:
    data = yaml.safe_load(both.read_text())
    data["policy"] = str(both.parent / "policy.yaml")
    (both.parent / "policy.yaml").write_text(yaml.safe_dump({"roles": {"none": {"entitlements": {}}}}))
    both.write_text(yaml.safe_dump(data))
    result = run_iam("--config", str(both), "offboard", "bob", "--reason", "left", "--yes", env=iam_env(ENV))
    assert result.returncode == 0, result.stderr
    kc.user(REALM, "bob").enabled = True  # someone re-enabled bob in Keycloak behind our back
    kc.login(REALM, "bob", "app")

    sweep = run_iam("--config", str(both), "review", "sweep", "--format", "json", env=iam_env(ENV))

    assert sweep.returncode == 4, sweep.stderr
    findings = {(f["type"], f["system"], f["account"]) for f in json.loads(sweep.stdout)["findings"]}
    assert ("leaver_with_access", "sso", "bob") in findings
    assert ("leaver_with_access", "directory", "bob") not in findings
