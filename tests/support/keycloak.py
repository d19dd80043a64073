"""A real Keycloak for the tests: the pinned distribution, one server per test session.

``scripts/fetch-keycloak`` (run by ``scripts/test``) downloads
``org.keycloak:keycloak-quarkus-dist`` at the version in
``scripts/keycloak.version`` with Maven and unzips it into the cache
(``$IAM_TEST_CACHE``, default ``~/.cache/iam-test``), where it stays between
runs. `KeycloakServer` starts it in development mode (``kc.sh start-dev``) on
free loopback ports, with its H2 database in a temporary directory and the
bootstrap admin from the environment, waits until its health endpoint says
ready, and stops it by its own process group. `realms.py` gives each test a
realm of its own.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.slapd import free_port

REPO = Path(__file__).resolve().parents[2]
VERSION = (REPO / "scripts" / "keycloak.version").read_text().strip()
CACHE = Path(os.environ.get("IAM_TEST_CACHE") or Path.home() / ".cache" / "iam-test") / "keycloak"
HOME = CACHE / f"keycloak-{VERSION}"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "kc-admin-S3cret-for-tests"
#: Keep the JVM small: the machine has 2 cores and other servers run beside it.
HEAP = "-Xms128m -Xmx768m -XX:MaxMetaspaceSize=384m"


def missing() -> str | None:
    """Why a real Keycloak cannot start here, or None when it can."""
    if shutil.which("java") is None:
        return "no Java runtime (scripts/test installs openjdk-17-jre-headless)"
    if not (HOME / "bin" / "kc.sh").is_file():
        return f"Keycloak {VERSION} is not in {HOME} (run scripts/fetch-keycloak, or scripts/test)"
    return None


class AdminAccess:
    """Master's admin on a Keycloak (real, or the emulator) at ``url``."""

    def __init__(self, url: str, user: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> None:
        self.url = url
        self.admin_user = user
        self.admin_password = password

    def admin_token(self) -> str:
        """A fresh token of master's admin (master tokens live 60 s: take one per piece of work)."""
        form = {
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": self.admin_user,
            "password": self.admin_password,
        }
        answer = httpx.post(f"{self.url}/realms/master/protocol/openid-connect/token", data=form, timeout=30)
        answer.raise_for_status()
        return answer.json()["access_token"]

    def admin(self) -> httpx.Client:
        """An HTTP client on ``/admin/realms`` with master's admin token."""
        return httpx.Client(
            base_url=f"{self.url}/admin/realms",
            headers={"Authorization": f"Bearer {self.admin_token()}"},
            timeout=60,
        )


class KeycloakServer(AdminAccess):
    """``kc.sh start-dev`` on loopback; ``url`` is the base of the OIDC and admin endpoints."""

    def __init__(self, workdir: Path, home: Path = HOME) -> None:
        self.home = home
        self.dir = workdir
        self.port = free_port()
        self.management_port = free_port()
        super().__init__(f"http://127.0.0.1:{self.port}")
        self.log = workdir / "keycloak.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None
        self.version = VERSION

    def command(self) -> list[str]:
        return [
            str(self.home / "bin" / "kc.sh"),
            "start-dev",
            "--http-host=127.0.0.1",
            f"--http-port={self.port}",
            f"--http-management-port={self.management_port}",
            "--health-enabled=true",
            "--db=dev-file",
            f"--db-url=jdbc:h2:file:{self.dir / 'h2' / 'keycloakdb'};NON_KEYWORDS=VALUE",
        ]

    def start(self, timeout: float = 600.0) -> None:
        """Start and wait until ready; the first start of a version also rebuilds it (~25 s more)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USER,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "JAVA_OPTS_KC_HEAP": HEAP,
        }
        began = time.monotonic()
        # The rebuild writes into the shared distribution: one start at a time per machine.
        with open(CACHE / f"keycloak-{VERSION}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(
                    self.command(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    start_new_session=True,  # its own process group: kc.sh, then java
                )
            self._wait_ready(began + timeout)
        self.startup_seconds = time.monotonic() - began

    def _wait_ready(self, deadline: float) -> None:
        health = f"http://127.0.0.1:{self.management_port}/health/ready"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"Keycloak exited ({self.proc.returncode}): {self.tail()}")
            try:
                if httpx.get(health, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"Keycloak was not ready in time: {self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        """Stop by its own process group (kc.sh and the JVM it runs), never by name."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
