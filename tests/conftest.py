"""Shared fixtures: a real slapd per test, a seeded directory, a real Keycloak per session
(a realm per test), the iam CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from iam.lab.lenel import FakeClock, LenelEmulator
from iam.lab.lenel.seed import Site, seed

from tests.support import keycloak
from tests.support.realms import RealRealm
from tests.support.slapd import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    BASE_DN,
    Slapd,
    add_group,
    add_person,
    seed_base,
    slapd_available,
)

PASSWORD_ENV = "IAM_TEST_LDAP_PASSWORD"


@pytest.fixture
def slapd(tmp_path: Path) -> Iterator[Slapd]:
    if not slapd_available():
        if os.environ.get("CI"):
            pytest.fail("slapd is not installed; the test command installs it (scripts/test)")
        pytest.skip("slapd is not installed (run scripts/test, which installs it)")
    server = Slapd(tmp_path / "slapd")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def keycloak_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[keycloak.KeycloakServer]:
    """One real Keycloak for the whole session, started on first use (about 25-40 s)."""
    why = keycloak.missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"cannot start Keycloak: {why}")
        pytest.skip(f"cannot start Keycloak: {why}")
    server = keycloak.KeycloakServer(tmp_path_factory.mktemp("keycloak"))
    server.start()
    pytestconfig.stash[KEYCLOAK_STARTUP] = (server.version, server.startup_seconds or 0.0)
    yield server
    server.stop()


KEYCLOAK_STARTUP = pytest.StashKey[tuple[str, float]]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Say how long the real Keycloak took to start, when one ran."""
    if KEYCLOAK_STARTUP in config.stash:
        version, seconds = config.stash[KEYCLOAK_STARTUP]
        terminalreporter.write_line(f"Keycloak {version} started in {seconds:.1f} s")


@pytest.fixture
def realm(keycloak_server: keycloak.KeycloakServer) -> RealRealm:
    """A realm of this test's own on the real Keycloak, imported from the lab's seed."""
    return RealRealm(keycloak_server).create()


@dataclass
class Directory:
    slapd: Slapd
    alice: str
    bob: str
    groups: dict[str, str]

    @property
    def settings(self) -> dict[str, object]:
        return {
            "url": self.slapd.url,
            "start_tls": False,
            "base_dn": BASE_DN,
            "bind_dn": ADMIN_DN,
            "users_dn": f"ou=people,{BASE_DN}",
            "groups_dn": f"ou=groups,{BASE_DN}",
            "leavers_dn": f"ou=leavers,{BASE_DN}",
            "timeout": 5,
        }


@pytest.fixture
def directory(slapd: Slapd) -> Directory:
    """alice is in groups of every kind (one where she is the only member); bob shares some."""
    return seed_directory(slapd)


def seed_directory(slapd: Slapd) -> Directory:
    """The `directory` fixture's people and groups, on any running slapd."""
    conn = slapd.admin()
    seed_base(conn)
    alice = add_person(conn, "alice", "alice-Passw0rd")
    bob = add_person(conn, "bob", "bob-Passw0rd")
    groups = {
        "eng": add_group(conn, "eng", "groupOfNames", [alice, bob]),
        "solo": add_group(conn, "solo", "groupOfNames", [alice]),
        "ops": add_group(conn, "ops", "groupOfUniqueNames", [alice, bob]),
        "unix": add_group(conn, "unix", "posixGroup", ["alice", "bob"]),
        "bob-only": add_group(conn, "bob-only", "groupOfNames", [bob]),
    }
    conn.unbind()
    return Directory(slapd, alice, bob, groups)


@pytest.fixture
def config_file(tmp_path: Path, directory: Directory) -> Path:
    """An iam.yaml for the test directory; the bind password comes from the environment."""
    path = tmp_path / "iam.yaml"
    system = dict(directory.settings)
    system["type"] = "ldap"
    system["bind_password"] = {"env": PASSWORD_ENV}
    system["timeout"] = 2
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


def iam_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IAM_")}
    env[PASSWORD_ENV] = ADMIN_PASSWORD
    env.update(extra or {})
    return env


def run_iam(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would: a separate process, no terminal."""
    return subprocess.run(
        [sys.executable, "-m", "iam", *args],
        capture_output=True,
        text=True,
        env=env or iam_env(),
        cwd=cwd,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def clock() -> FakeClock:
    """The badge tests' clock: 10:00 at the seeded site (UTC-5), moved by the tests."""
    return FakeClock(datetime(2025, 3, 3, 15, 0, tzinfo=UTC))


@pytest.fixture
def pacs(clock: FakeClock) -> Iterator[LenelEmulator]:
    """The OpenAccess emulator on a free loopback port, on the shared clock."""
    with LenelEmulator(clock) as emulator:
        yield emulator


@pytest.fixture
def site(pacs: LenelEmulator) -> Site:
    """The emulator seeded with the badge tests' site (`iam.lab.lenel.seed`)."""
    return seed(pacs)
