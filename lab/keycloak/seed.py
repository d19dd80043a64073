"""A realistic realm for the Keycloak tests: ``acme``, its clients, roles, groups and people.

- ``iam-sweeper``: the confidential client iam uses, whose service account holds
  view-users, manage-users, view-realm and view-clients of realm-management;
- ``app`` (public) and ``portal`` (confidential) with client roles, both
  allowed to log people in by password (so a test can), and a SAML-style
  client whose clientId holds a ``/``;
- alice holds a bit of everything; bob shares some of it; master's admin user
  administers every realm.

The realm is declared once, as data (`CLIENTS`, `PEOPLE`...): `seed` puts it
into the emulator, and the tests' real Keycloak imports the same declaration,
so a differential test compares like with like.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from iam.lab.keycloak.server import KeycloakEmulator

REALM = "acme"
SWEEPER = "iam-sweeper"
SWEEPER_SECRET = "sweeper-S3cret-4b1e9f"
ADMIN_PASSWORD = "admin-Passw0rd-9c2d71"
SWEEPER_ROLES = ("view-users", "manage-users", "view-realm", "view-clients")
WIKI = "https://wiki.acme.example/saml"
PORTAL_SECRET = "portal-secret-x"

#: clientId -> secret (None: a public client), besides the sweeper.
CLIENTS: dict[str, str | None] = {"app": None, "portal": PORTAL_SECRET, WIKI: None}
REALM_ROLES = ("employee", "finance", "auditor", "Order Viewer")
CLIENT_ROLES = (("app", "viewer"), ("app", "editor"), ("portal", "admin"), (WIKI, "reader"))
GROUPS = ("/staff/eng", "/contractors")
IDENTITY_PROVIDERS = ("google", "github")


@dataclass(frozen=True)
class Person:
    """One user of the realm and the access given to them directly."""

    username: str
    password: str
    email: str
    first_name: str
    last_name: str
    realm_roles: tuple[str, ...] = ()
    client_roles: dict[str, list[str]] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    links: dict[str, str] = field(default_factory=dict)  # identity provider alias -> external name


PEOPLE = (
    Person(
        "alice",
        "alice-Passw0rd",
        "alice@acme.example",
        "Alice",
        "Liddell",
        realm_roles=("employee",),
        client_roles={"app": ["viewer"], "portal": ["admin"]},
        groups=("/staff/eng",),
        links={"google": "alice@gmail.example"},
    ),
    Person(
        "bob",
        "bob-Passw0rd",
        "bob@acme.example",
        "Bob",
        "Builder",
        realm_roles=("employee", "finance"),
        groups=("/staff",),
    ),
)


def seed(kc: KeycloakEmulator) -> None:
    kc.add_realm(REALM)
    kc.add_client(REALM, SWEEPER, secret=SWEEPER_SECRET, service_account=True, admin_roles=SWEEPER_ROLES)
    for client_id, secret in CLIENTS.items():
        kc.add_client(REALM, client_id, secret=secret)
    for role in REALM_ROLES:
        kc.add_realm_role(REALM, role)
    for client, role in CLIENT_ROLES:
        kc.add_client_role(REALM, client, role)
    for path in GROUPS:
        kc.add_group(REALM, path)
    for alias in IDENTITY_PROVIDERS:
        kc.add_identity_provider(REALM, alias)
    for p in PEOPLE:
        kc.add_user(
            REALM,
            p.username,
            password=p.password,
            email=p.email,
            first_name=p.first_name,
            last_name=p.last_name,
            realm_roles=p.realm_roles,
            client_roles=p.client_roles,
            groups=p.groups,
            links=p.links,
        )


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
