"""The web console on a real slapd for its tests (HTTP and browser), and a Keycloak realm to sign in with.

`start_console` syncs a small company (ann manages bea and cal; mo manages
pat, whose display name is a script), gives the people passwords in the
directory, starts one campaign per manager and serves the console in this
process with a clock the test sets. `console_realm` creates a realm on the
real Keycloak with a confidential client for the console, a groups claim, and
the same people.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import ldap3
import yaml

from tests.conftest import PASSWORD_ENV, Directory
from tests.support.company import BASE_FEED, person, sync, write_feed
from tests.support.keycloak import AdminAccess
from tests.support.slapd import ADMIN_PASSWORD, BASE_DN

SESSION_SECRET = "console-session-secret-for-tests-0123456789"
CLIENT_SECRET = "console-client-Secret-for-tests"
HOSTILE = "<script>alert(1)</script>"
PASSWORDS = {"ann": "ann-Passw0rd!", "mo": "mo-Passw0rd!", "cal": "cal-Passw0rd!", "ops": "ops-Passw0rd!"}
#: Directory / identity-provider groups of the people who hold console roles besides reviewer.
GROUPS = {"cal": ["auditors"], "ops": ["it-ops"]}


@dataclass
class Console:
    server: Any
    clock: dict[str, datetime]
    campaigns: dict[str, str]  # manager -> campaign id
    directory: Directory

    @property
    def url(self) -> str:
        return str(self.server.url)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, follow_redirects=False)

    def audit(self) -> list[dict[str, Any]]:
        log = Path(self.server.rt.config.audit_log)
        return [json.loads(line) for line in log.read_text().splitlines()]


def web_section(directory: Directory, **extra: Any) -> dict[str, Any]:
    return {
        "ldap": {"url": directory.slapd.url, "user_dn": f"uid={{username}},ou=people,{BASE_DN}"},
        "session_secret": {"env": "IAM_TEST_SESSION"},
        "secure_cookies": False,  # the test server speaks plain http
        "roles": {"auditor": {"groups": ["auditors"]}, "operator": {"groups": ["it-ops"]}},
        **extra,
    }


@contextmanager
def start_console(
    company: Path, directory: Directory, tmp_path: Path, port: int = 0, **web: Any
) -> Iterator[Console]:
    from iam import certify
    from iam.config import load_config
    from iam.runtime import Runtime
    from iam.web.server import WebServer

    conn = directory.slapd.admin()
    for dn in (directory.alice, directory.bob):
        assert conn.delete(dn), conn.result
    rows = [
        *BASE_FEED,
        person("E5", "mo", "Sales", "Sales Manager"),
        person("E6", "pat", "Sales", manager="mo", given_name=HOSTILE),
        person("E7", "ops", "Engineering", "IT Operations"),
    ]
    result, _ = sync(company, write_feed(tmp_path / "feed.csv", rows))
    assert result.returncode == 0, result.stderr + result.stdout
    for uid, password in PASSWORDS.items():
        dn = f"uid={uid},ou=people,{BASE_DN}"
        assert conn.modify(dn, {"userPassword": [(ldap3.MODIFY_REPLACE, [password])]}), conn.result
    members: dict[str, list[str]] = {}
    for uid, groups in GROUPS.items():
        for group in groups:
            members.setdefault(group, []).append(f"uid={uid},ou=people,{BASE_DN}")
    for group, dns in members.items():
        assert conn.add(f"cn={group},ou=groups,{BASE_DN}", ["groupOfNames"], {"cn": group, "member": dns})
    conn.unbind()

    data = yaml.safe_load(company.read_text())
    data["web"] = web_section(directory, **web)
    company.write_text(yaml.safe_dump(data))
    environ = {
        PASSWORD_ENV: ADMIN_PASSWORD,
        "IAM_TEST_SESSION": SESSION_SECRET,
        "IAM_TEST_OIDC": CLIENT_SECRET,
    }
    config = load_config(company, environ=environ)
    clock = {"now": datetime(2026, 11, 22, 10, 0, tzinfo=UTC)}
    with Runtime(config) as rt:
        campaigns = {m: certify.export(rt, m, clock["now"]).id for m in ("ann", "mo")}
        server = WebServer(("127.0.0.1", port), rt, lambda: clock["now"])
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield Console(server, clock, campaigns, directory)
        finally:
            server.shutdown()
            server.server_close()


def console_realm(keycloak: AdminAccess, redirect: str) -> str:
    """A realm whose client ``iam-console`` redirects to ``redirect``; returns its issuer URL."""
    name = f"console-{uuid.uuid4().hex[:8]}"
    mapper = {
        "name": "groups",
        "protocol": "openid-connect",
        "protocolMapper": "oidc-group-membership-mapper",
        "config": {
            "claim.name": "groups",
            "full.path": "false",
            "id.token.claim": "true",
            "access.token.claim": "true",
            "userinfo.token.claim": "true",
        },
    }
    people = [
        {
            "username": uid,
            "enabled": True,
            "email": f"{uid}@example.org",
            "emailVerified": True,
            "firstName": uid.title(),
            "lastName": "Test",
            "credentials": [{"type": "password", "value": password, "temporary": False}],
            "groups": [f"/{g}" for g in GROUPS.get(uid, [])],
        }
        for uid, password in PASSWORDS.items()
    ]
    realm = {
        "realm": name,
        "enabled": True,
        "groups": [{"name": g} for g in sorted({g for gs in GROUPS.values() for g in gs})],
        "users": people,
        "clients": [
            {
                "clientId": "iam-console",
                "enabled": True,
                "publicClient": False,
                "secret": CLIENT_SECRET,
                "standardFlowEnabled": True,
                "directAccessGrantsEnabled": False,
                "redirectUris": [redirect],
                "attributes": {
                    "post.logout.redirect.uris": redirect.removesuffix("/auth/callback") + "/login"
                },
                "protocolMappers": [mapper],
            }
        ],
    }
    with keycloak.admin() as admin:
        answer = admin.post("", json=realm)
        assert answer.status_code == 201, answer.text
    return f"{keycloak.url}/realms/{name}"
