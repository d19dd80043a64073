"""A real SCIM 2.0 server for the tests: ``scim2-server`` (PyPI) in its own process, on a free loopback port.

Two profiles of the same server: ``full`` announces (and serves) PATCH,
filtering and ETags; ``strict`` announces none of them and refuses them
with 501, so a connector that does not adapt fails there. Seeding and
looking from outside go through the server's own SCIM API (`ScimAdmin`),
never through the connector under test.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from iam.lab.waiting import wait_for

from tests.support.slapd import free_port

TOKEN = "scim-test-token-6d1f0c"  # the test server's own token, on loopback only
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"

PROFILES: dict[str, dict[str, Any]] = {
    "full": {
        "patch": {"supported": True},
        "bulk": {"supported": True, "maxOperations": 100, "maxPayloadSize": 1048576},
        "filter": {"supported": True, "maxResults": 1000},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
    },
    "strict": {
        "patch": {"supported": False},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": False, "maxResults": 1000},  # also caps unfiltered pages
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
    },
}


class ScimServer:
    """Start and stop one scim2-server (stopped by its own pid); its resources live in its memory."""

    def __init__(self, workdir: Path, profile: str = "full", token: str = TOKEN) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.profile = profile
        self.token = token
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v2"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        config = self.dir / "service-provider-config.json"
        spc = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            **PROFILES[self.profile],
        }
        config.write_text(json.dumps(spc))
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scim2_server.testserver.cli",
                "--hostname",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--bearer-token",
                self.token,
                "--service-provider-config",
                str(config),
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "scim2-server.log", "ab"),  # noqa: SIM115
        )
        wait_for(self._accepting, timeout, f"scim2-server to accept connections on {self.url}", interval=0.05)

    def _accepting(self) -> bool:
        assert self.proc
        if self.proc.poll() is not None:
            raise RuntimeError(f"scim2-server exited: {(self.dir / 'scim2-server.log').read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """What an iam.yaml says for this server (the token inline: tests only)."""
        return {"url": self.url, "token": self.token, "timeout": 5, **overrides}

    def admin(self) -> ScimAdmin:
        return ScimAdmin(self.url, self.token)


@dataclass
class ScimAdmin:
    """The server's own API, for seeding and for checking from outside the connector."""

    url: str
    token: str = TOKEN

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/scim+json"}
        response = httpx.request(method, self.url + path, json=body, headers=headers, timeout=10)
        response.raise_for_status()
        return response.json() if response.content else {}

    def add_user(self, username: str, *, active: bool = True, **more: Any) -> str:
        body = {"schemas": [USER_SCHEMA], "userName": username, "active": active, **more}
        return str(self._call("POST", "/Users", body)["id"])

    def add_group(self, name: str, members: list[str] = ()) -> str:  # type: ignore[assignment]
        body = {"schemas": [GROUP_SCHEMA], "displayName": name, "members": [{"value": m} for m in members]}
        return str(self._call("POST", "/Groups", body)["id"])

    def user(self, uid: str) -> dict[str, Any]:
        return self._call("GET", f"/Users/{uid}")

    def group(self, gid: str) -> dict[str, Any]:
        return self._call("GET", f"/Groups/{gid}")

    def members(self, gid: str) -> set[str]:
        return {str(m["value"]) for m in self.group(gid).get("members") or []}

    def users(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/Users?count=1000").get("Resources") or [])

    def replace_user(self, uid: str, **changes: Any) -> None:
        """A change made by someone else (a PUT with the server's own API)."""
        current = self.user(uid)
        body = {k: v for k, v in current.items() if k not in ("meta", "groups")}
        self._call("PUT", f"/Users/{uid}", {**body, **changes})
