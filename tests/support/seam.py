"""Seam's fake of its API (``@seamapi/fake-seam-connect``, npm) for the tests, in its own Node.js process.

``scripts/test`` installs the package into a cache directory
(``$IAM_NPM_CACHE``); `FakeSeam` starts ``fake_seam.mjs`` (beside this
file) on a free loopback port, which seeds a workspace, an API key, one
access control system and its access groups, serves the few ``acs`` routes
the fake lacks from the fake's own data (see that file), and prints the
seed. It is stopped by its own pid. `SeamAdmin` is Seam's API with the
workspace's key, for seeding and for checking from outside the connector.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from iam.lab.waiting import wait_for

from tests.support.slapd import free_port

PACKAGE = "@seamapi/fake-seam-connect"
LAUNCHER = Path(__file__).with_name("fake_seam.mjs")


def package_dir() -> Path:
    cache = os.environ.get("IAM_NPM_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "iam-tests" / "npm"
    )
    return Path(cache) / "node_modules" / PACKAGE


def require_fake() -> Path:
    """The installed package; a failure in CI (scripts/test installs it), a skip elsewhere."""
    found = package_dir()
    if shutil.which("node") and (found / "package.json").is_file():
        return found
    message = f"{PACKAGE} is not installed in {found.parent.parent} (scripts/test installs it with npm)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass(frozen=True)
class Seed:
    url: str
    api_key: str
    other_workspace_api_key: str
    acs_system_id: str
    access_groups: dict[str, str]


class FakeSeam:
    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.seed: Seed | None = None

    def start(self, timeout: float = 60.0) -> Seed:
        package = require_fake()
        out = self.dir / "fake-seam.out"
        self.proc = subprocess.Popen(
            [shutil.which("node") or "node", str(LAUNCHER), str(package), str(self.port)],
            stdout=open(out, "wb"),  # noqa: SIM115 - the child holds it
            stderr=open(self.dir / "fake-seam.log", "ab"),  # noqa: SIM115
            stdin=subprocess.DEVNULL,
        )
        line = wait_for(lambda: self._seed_line(out), timeout, f"the Seam fake to serve on port {self.port}")
        self.seed = Seed(**json.loads(line))
        return self.seed

    def _seed_line(self, out: Path) -> str | None:
        assert self.proc
        if self.proc.poll() is not None:
            raise RuntimeError(f"the Seam fake exited: {(self.dir / 'fake-seam.log').read_text()[-2000:]}")
        text = out.read_text()
        return text.splitlines()[0] if text.endswith("\n") else None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def admin(self) -> SeamAdmin:
        assert self.seed
        return SeamAdmin(self.seed.url, self.seed.api_key, self.seed.acs_system_id)

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """What an iam.yaml says for this fake (the key inline: tests only)."""
        assert self.seed
        return {
            "url": self.seed.url,
            "api_key": self.seed.api_key,
            "acs_system_id": self.seed.acs_system_id,
            "timeout": 5,
            **overrides,
        }


@dataclass
class SeamAdmin:
    """Seam's API with the workspace's key: seeding, and looking from outside the connector."""

    url: str
    api_key: str
    acs_system_id: str

    def call(self, route: str, **body: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        response = httpx.post(self.url + route, json=body, headers=headers, timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def add_user(self, email: str, full_name: str = "Someone", groups: list[str] = ()) -> str:  # type: ignore[assignment]
        user = self.call(
            "/acs/users/create",
            acs_system_id=self.acs_system_id,
            full_name=full_name,
            email_address=email,
            acs_access_group_ids=list(groups),
        )["acs_user"]
        return str(user["acs_user_id"])

    def add_credential(self, user_id: str, card_number: str) -> str:
        made = self.call(
            "/acs/credentials/create", acs_user_id=user_id, access_method="card", card_number=card_number
        )
        return str(made["acs_credential"]["acs_credential_id"])

    def user(self, user_id: str) -> dict[str, Any]:
        return dict(self.call("/acs/users/get", acs_user_id=user_id)["acs_user"])

    def users(self) -> list[dict[str, Any]]:
        return list(self.call("/acs/users/list", acs_system_id=self.acs_system_id)["acs_users"])

    def groups_of(self, user_id: str) -> set[str]:
        found = self.call("/acs/access_groups/list", acs_user_id=user_id)["acs_access_groups"]
        return {str(g["name"]) for g in found}

    def credentials_of(self, user_id: str) -> list[str]:
        found = self.call("/acs/credentials/list", acs_user_id=user_id)["acs_credentials"]
        return [str(c["acs_credential_id"]) for c in found]

    def members(self, group_id: str) -> set[str]:
        """From the fake's own database (its test endpoint), not from the routes served in front of it."""
        state = httpx.get(self.url + "/_fake/database", timeout=10).json()
        (group,) = [g for g in state["acs_access_groups"] if g["acs_access_group_id"] == group_id]
        return set(group["_acs_user_ids"])
