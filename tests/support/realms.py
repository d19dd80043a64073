"""A realm of its own for each test on the real Keycloak, and the ways a test looks at it.

The realm is the lab's seed (`iam.lab.keycloak.seed`), imported in one
``POST /admin/realms``; `RealRealm` then drives and inspects it only through
Keycloak's own HTTP endpoints: people log in at the token endpoint, and the
admin API shows what is left.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from iam.lab.keycloak.seed import (
    CLIENT_ROLES,
    CLIENTS,
    GROUPS,
    IDENTITY_PROVIDERS,
    PEOPLE,
    REALM_ROLES,
    SWEEPER,
    SWEEPER_ROLES,
    SWEEPER_SECRET,
)

from tests.support.keycloak import AdminAccess

REDIRECT = "http://127.0.0.1/callback"
KEY_PROVIDER = "org.keycloak.keys.KeyProvider"


def _groups(paths: tuple[str, ...]) -> list[dict[str, Any]]:
    """Nested group representations holding every path (and its parents)."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for name in [p for p in path.split("/") if p]:
            node = node.setdefault(name, {})

    def reps(node: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"name": name, "subGroups": reps(children)} for name, children in node.items()]

    return reps(tree)


def _client(client_id: str, secret: str | None) -> dict[str, Any]:
    return {
        "clientId": client_id,
        "enabled": True,
        "publicClient": secret is None,
        **({"secret": secret} if secret else {}),
        "standardFlowEnabled": True,
        "directAccessGrantsEnabled": True,  # so that a test logs people in by password
        "redirectUris": [REDIRECT],
    }


def representation(name: str, people: bool = True) -> dict[str, Any]:
    """The lab seed as a ``RealmRepresentation`` Keycloak imports whole; without ``people``, only
    its service account (for a realm whose people come from LDAP)."""
    client_roles: dict[str, list[dict[str, str]]] = {}
    for client, role in CLIENT_ROLES:
        client_roles.setdefault(client, []).append({"name": role})
    users: list[dict[str, Any]] = [
        {
            "username": p.username,
            "enabled": True,
            "email": p.email,
            "emailVerified": True,
            "firstName": p.first_name,
            "lastName": p.last_name,
            "credentials": [{"type": "password", "value": p.password, "temporary": False}],
            # An imported user gets no default roles unless named, as in an export.
            "realmRoles": [f"default-roles-{name}", *p.realm_roles],
            "clientRoles": p.client_roles,
            "groups": list(p.groups),
            "federatedIdentities": [
                {"identityProvider": alias, "userId": f"{alias}-{external}", "userName": external}
                for alias, external in p.links.items()
            ],
        }
        for p in PEOPLE
        if people
    ]
    users.append(
        {
            "username": f"service-account-{SWEEPER}",
            "enabled": True,
            "serviceAccountClientId": SWEEPER,
            "clientRoles": {"realm-management": list(SWEEPER_ROLES)},
        }
    )
    sweeper = {
        "clientId": SWEEPER,
        "enabled": True,
        "publicClient": False,
        "secret": SWEEPER_SECRET,
        "serviceAccountsEnabled": True,
        "standardFlowEnabled": False,
        "directAccessGrantsEnabled": False,
    }
    return {
        "realm": name,
        "enabled": True,
        "clients": [sweeper, *(_client(c, s) for c, s in CLIENTS.items())],
        "roles": {"realm": [{"name": r} for r in REALM_ROLES], "client": client_roles},
        "groups": _groups(GROUPS),
        "identityProviders": [
            {
                "alias": alias,
                "providerId": "oidc",
                "enabled": True,
                "config": {
                    "authorizationUrl": f"http://127.0.0.1:1/{alias}/auth",
                    "tokenUrl": f"http://127.0.0.1:1/{alias}/token",
                    "clientId": "acme",
                    "clientSecret": "idp-secret",
                    "clientAuthMethod": "client_secret_post",
                },
            }
            for alias in IDENTITY_PROVIDERS
        ],
        "users": users,
    }


@dataclass(frozen=True)
class Tokens:
    """What one login at the token endpoint gave: the refresh token is offline with ``offline_access``."""

    access: str
    refresh: str
    session: str
    client: str


class RealRealm:
    """One realm on the real server, created for one test (or, with ``name``, the emulator's realm)."""

    def __init__(self, server: AdminAccess, name: str | None = None) -> None:
        self.server = server
        self.name = name or f"acme-{uuid.uuid4().hex[:8]}"
        self.url = server.url

    def create(self, people: bool = True) -> RealRealm:
        with self.server.admin() as admin:
            answer = admin.post("", json=representation(self.name, people))
            assert answer.status_code == 201, answer.text
        return self

    def settings(self, **overrides: object) -> dict[str, object]:
        """Connector settings for the sweeper service account (secret as a plain string: wrap it)."""
        return {
            "server_url": self.url,
            "realm": self.name,
            "auth_realm": self.name,
            "client_id": SWEEPER,
            "timeout": 30,
            **overrides,
        }

    # the token endpoint, as an application uses it ----------------------------------------------

    def token(self, **form: str) -> httpx.Response:
        secret = CLIENTS.get(form.get("client_id", ""))
        if secret:
            form = {"client_secret": secret, **form}
        return httpx.post(
            f"{self.url}/realms/{self.name}/protocol/openid-connect/token", data=form, timeout=30
        )

    def login(
        self, username: str, client: str = "app", *, offline: bool = False, password: str | None = None
    ) -> Tokens:
        """A password login; with ``offline`` the refresh token is an offline token."""
        password = password or next(p.password for p in PEOPLE if p.username == username)
        scope = "openid offline_access" if offline else "openid"
        answer = self.token(
            grant_type="password", client_id=client, username=username, password=password, scope=scope
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return Tokens(body["access_token"], body["refresh_token"], body.get("session_state", ""), client)

    def password_login(self, username: str, password: str, client: str = "app") -> httpx.Response:
        return self.token(grant_type="password", client_id=client, username=username, password=password)

    def refresh(self, tokens: Tokens) -> httpx.Response:
        return self.token(grant_type="refresh_token", client_id=tokens.client, refresh_token=tokens.refresh)

    # the admin API, as an auditor looks ------------------------------------------------------------

    def get(self, path: str, **params: object) -> Any:
        with self.server.admin() as admin:
            answer = admin.get(f"/{self.name}{path}", params=params)
            answer.raise_for_status()
            return answer.json()

    def user(self, username: str) -> dict[str, Any]:
        (found,) = self.get("/users", username=username, exact="true")
        return found

    def client_uuid(self, client_id: str) -> str:
        (found,) = self.get("/clients", clientId=client_id)
        return found["id"]

    def sessions(self, username: str) -> list[dict[str, Any]]:
        return self.get(f"/users/{self.user(username)['id']}/sessions")

    def offline_sessions(self, username: str) -> list[dict[str, Any]]:
        """Offline sessions through every client of the realm."""
        uid = self.user(username)["id"]
        found = []
        for client in self.get("/clients"):
            found += self.get(f"/users/{uid}/offline-sessions/{client['id']}")
        return found

    def role_mappings(self, username: str) -> dict[str, Any]:
        return self.get(f"/users/{self.user(username)['id']}/role-mappings")

    def groups(self, username: str) -> list[str]:
        return [g["path"] for g in self.get(f"/users/{self.user(username)['id']}/groups")]

    def consents(self, username: str) -> list[dict[str, Any]]:
        return self.get(f"/users/{self.user(username)['id']}/consents")

    def links(self, username: str) -> list[dict[str, Any]]:
        return self.get(f"/users/{self.user(username)['id']}/federated-identity")

    # changes an administrator makes behind iam's back ----------------------------------------------

    def set_admin_roles(self, username: str, roles: list[str]) -> None:
        """Make ``roles`` the user's realm-management roles (takes effect on the next call)."""
        uid, rm = self.user(username)["id"], self.client_uuid("realm-management")
        with self.server.admin() as admin:
            path = f"/{self.name}/users/{uid}/role-mappings/clients/{rm}"
            held = admin.get(path).json()
            if held:
                admin.request("DELETE", path, json=held).raise_for_status()
            wanted = [r for r in admin.get(f"/{self.name}/clients/{rm}/roles").json() if r["name"] in roles]
            if wanted:
                admin.post(path, json=wanted).raise_for_status()

    def add_user(self, username: str, **fields: object) -> str:
        rep = {"username": username, "enabled": True, **fields}
        with self.server.admin() as admin:
            answer = admin.post(f"/{self.name}/users", json=rep)
            assert answer.status_code == 201, answer.text
            return answer.headers["Location"].rsplit("/", 1)[1]

    def update(self, path: str, rep: dict[str, Any]) -> None:
        with self.server.admin() as admin:
            admin.put(f"/{self.name}{path}", json=rep).raise_for_status()

    def set_client_attribute(self, client_id: str, name: str, value: str) -> None:
        uuid_ = self.client_uuid(client_id)
        rep = self.get(f"/clients/{uuid_}")
        rep.setdefault("attributes", {})[name] = value
        self.update(f"/clients/{uuid_}", rep)

    def rotate_keys(self) -> None:
        """Replace the realm's signing key: every token signed so far is refused (401), as an
        expired one is, without waiting for time to pass."""
        realm_id = self.get("")["id"]
        old = [k for k in self.get("/components", type=KEY_PROVIDER) if k["providerId"] == "rsa-generated"]
        with self.server.admin() as admin:
            new = {
                "name": f"rsa-{uuid.uuid4().hex[:6]}",
                "providerId": "rsa-generated",
                "providerType": KEY_PROVIDER,
                "parentId": realm_id,
                "config": {"priority": ["1000"], "algorithm": ["RS256"]},
            }
            admin.post(f"/{self.name}/components", json=new).raise_for_status()
            for key in old:
                admin.delete(f"/{self.name}/components/{key['id']}").raise_for_status()

    def federate(self, url: str, users_dn: str, bind_dn: str, bind_password: str, edit_mode: str) -> str:
        """Keycloak's LDAP user federation pointed at ``url`` (users imported, no periodic sync);
        returns the component's id. The profile check on login is turned off: the test directory's
        people have no e-mail, which Keycloak 24+ would otherwise ask for before any login."""
        config = {
            "enabled": "true",
            "priority": "0",
            "editMode": edit_mode,
            "vendor": "other",
            "connectionUrl": url,
            "usersDn": users_dn,
            "bindDn": bind_dn,
            "bindCredential": bind_password,
            "authType": "simple",
            "usernameLDAPAttribute": "uid",
            "rdnLDAPAttribute": "uid",
            "uuidLDAPAttribute": "entryUUID",
            "userObjectClasses": "inetOrgPerson, posixAccount",
            "searchScope": "1",
            "importEnabled": "true",
            "syncRegistrations": "false",
            "fullSyncPeriod": "-1",
            "changedSyncPeriod": "-1",
            "cachePolicy": "NO_CACHE",
            "pagination": "false",
            "connectionPooling": "false",
        }
        component = {
            "name": "ldap",
            "providerId": "ldap",
            "providerType": "org.keycloak.storage.UserStorageProvider",
            "parentId": self.get("")["id"],
            "config": {k: [v] for k, v in config.items()},
        }
        profile_check = {
            "alias": "VERIFY_PROFILE",
            "name": "Verify Profile",
            "providerId": "VERIFY_PROFILE",
            "enabled": False,
            "defaultAction": False,
            "priority": 90,
            "config": {},
        }
        with self.server.admin() as admin:
            admin.put(f"/{self.name}/authentication/required-actions/VERIFY_PROFILE", json=profile_check)
            answer = admin.post(f"/{self.name}/components", json=component)
            assert answer.status_code == 201, answer.text
            return answer.headers["Location"].rsplit("/", 1)[1]

    def sync(self, component: str, action: str = "triggerFullSync") -> dict[str, Any]:
        """Keycloak's sync from LDAP (``triggerFullSync`` or ``triggerChangedUsersSync``), as its
        periodic sync or an administrator's button runs it."""
        with self.server.admin() as admin:
            answer = admin.post(f"/{self.name}/user-storage/{component}/sync", params={"action": action})
            answer.raise_for_status()
            return answer.json()

    def add_client(self, client_id: str, secret: str, roles: list[str]) -> None:
        """A confidential client whose service account holds ``roles`` of realm-management."""
        rep = {
            "clientId": client_id,
            "secret": secret,
            "publicClient": False,
            "serviceAccountsEnabled": True,
            "standardFlowEnabled": False,
        }
        with self.server.admin() as admin:
            admin.post(f"/{self.name}/clients", json=rep).raise_for_status()
        self.set_admin_roles(f"service-account-{client_id}", roles)
