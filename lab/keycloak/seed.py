"""A realistic realm for the Keycloak tests: ``acme``, its clients, roles, groups and people.

- ``iam-sweeper``: the confidential client iam uses, whose service account holds
  view-users, manage-users, view-realm and view-clients of realm-management;
- ``app`` (public) and ``portal`` (confidential) with client roles, and a
  SAML-style client whose clientId holds a ``/``;
- alice holds a bit of everything; bob shares some of it; master's admin user
  administers every realm.
"""

from __future__ import annotations

import socket

from iam.lab.keycloak.server import KeycloakEmulator

REALM = "acme"
SWEEPER = "iam-sweeper"
SWEEPER_SECRET = "sweeper-S3cret-4b1e9f"
ADMIN_PASSWORD = "admin-Passw0rd-9c2d71"
SWEEPER_ROLES = ("view-users", "manage-users", "view-realm", "view-clients")
WIKI = "https://wiki.acme.example/saml"


def seed(kc: KeycloakEmulator) -> None:
    kc.add_realm(REALM)
    kc.add_client(REALM, SWEEPER, secret=SWEEPER_SECRET, service_account=True, admin_roles=SWEEPER_ROLES)
    kc.add_client(REALM, "app")
    kc.add_client(REALM, "portal", secret="portal-secret-x")
    kc.add_client(REALM, WIKI)
    for role in ("employee", "finance", "auditor", "Order Viewer"):
        kc.add_realm_role(REALM, role)
    for client, role in (("app", "viewer"), ("app", "editor"), ("portal", "admin"), (WIKI, "reader")):
        kc.add_client_role(REALM, client, role)
    for path in ("/staff/eng", "/contractors"):
        kc.add_group(REALM, path)
    kc.add_identity_provider(REALM, "google")
    kc.add_identity_provider(REALM, "github")
    kc.add_user(
        REALM,
        "alice",
        password="alice-Passw0rd",
        email="alice@acme.example",
        realm_roles=["employee"],
        client_roles={"app": ["viewer"], "portal": ["admin"]},
        groups=["/staff/eng"],
        links={"google": "alice@gmail.example"},
    )
    kc.add_user(REALM, "bob", password="bob-Passw0rd", realm_roles=["employee", "finance"], groups=["/staff"])


def settings(kc: KeycloakEmulator, **overrides: object) -> dict[str, object]:
    """Connector settings for the sweeper service account (secret as a plain string: wrap it)."""
    return {
        "server_url": kc.url,
        "realm": REALM,
        "auth_realm": REALM,
        "client_id": SWEEPER,
        "timeout": 5,
        **overrides,
    }


def closed_port() -> int:
    """A loopback port nothing listens on (bound, read, released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
