"""The demo's simulated systems beyond the directory.

The emulators are test doubles and live in ``tests/emulators``; from a
source checkout (as `scripts/demo` runs) the demo borrows them so the story
shows SSO sessions being ended. Installed without the checkout, the demo
runs on the directory alone and says so.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iam.contract import Connector
from iam.secrets import Secret

CHECKOUT = Path(__file__).resolve().parents[1]
REALM = "example"
SSO_SECRET = "demo-sso-client-" + "secret"


@dataclass
class DemoSystems:
    connectors: dict[str, Connector] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sso: Any = None  # the Keycloak emulator, to log Ada in


def _emulators_importable() -> bool:
    if (CHECKOUT / "tests" / "emulators" / "keycloak").is_dir() and str(CHECKOUT) not in sys.path:
        sys.path.append(str(CHECKOUT))
    try:
        import tests.emulators.keycloak.server  # noqa: F401
    except ImportError:
        return False
    return True


def start_sso(stack: ExitStack, systems: DemoSystems) -> None:
    """A Keycloak realm in the emulator, with Ada federated from the directory."""
    if not _emulators_importable():
        systems.notes.append("SSO: the Keycloak emulator (tests/emulators) is not installed; directory only")
        return
    from connectors.keycloak import KeycloakConnector
    from tests.emulators.keycloak.server import KeycloakEmulator

    kc = stack.enter_context(KeycloakEmulator())
    kc.add_realm(REALM)
    kc.add_client(
        REALM,
        "iam",
        secret=SSO_SECRET,
        service_account=True,
        admin_roles=("view-users", "manage-users", "view-realm", "view-clients"),
    )
    kc.add_client(REALM, "mail")
    kc.add_realm_role(REALM, "employee")
    for path in ("/engineering", "/finance"):
        kc.add_group(REALM, path)
    kc.add_user(REALM, "ada", password="ada-sso-" + "pw", email="ada@example.org")
    settings = {
        "server_url": kc.url,
        "realm": REALM,
        "auth_realm": REALM,
        "client_id": "iam",
        "client_secret": Secret(SSO_SECRET, "demo"),
        "timeout": 5,
    }
    systems.connectors["sso"] = KeycloakConnector("sso", settings)
    systems.types["sso"] = "keycloak"
    systems.sso = kc
    systems.notes.append(f"SSO: Keycloak Admin API emulator at {kc.url} (realm {REALM})")


def log_in(systems: DemoSystems, username: str) -> str | None:
    """Ada opens her mail through SSO: a live session and an offline token."""
    if systems.sso is None:
        return None
    login = systems.sso.login(REALM, username, "mail", offline=True, consent=["email"])
    return f"{username} logged in to mail via SSO: session {login.session_id[:8]}…, offline token held"
