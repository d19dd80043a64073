"""The demo's simulated systems beyond the directory.

The emulators are test doubles and live in ``tests/emulators``; from a
source checkout (as `scripts/demo` runs) the demo borrows them so the story
shows SSO sessions being ended. Installed without the checkout, the demo
runs on the directory alone and says so.
"""

from __future__ import annotations

import subprocess
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
    pacs: Any = None  # the badge system emulator, to swipe Ada's card
    vpn: Any = None  # the real OpenVPN server, to connect Ada's client


def _emulators_importable() -> bool:
    if (CHECKOUT / "tests" / "emulators").is_dir() and str(CHECKOUT) not in sys.path:
        sys.path.append(str(CHECKOUT))
    try:
        import tests.emulators.keycloak.server
        import tests.emulators.lenel.server  # noqa: F401
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


CARD = 7001
DOOR = "hq-main-entrance"
PACS_PASSWORD = "demo-pacs-" + "password"


def start_pacs(stack: ExitStack, systems: DemoSystems) -> None:
    """A Lenel OnGuard site in the emulator: one entrance, Ada's badge issued at the badging office."""
    if not _emulators_importable():
        systems.notes.append("badges: the OpenAccess emulator (tests/emulators) is not installed; skipped")
        return
    from datetime import UTC, datetime

    from connectors.badge import LenelBadgeConnector
    from tests.emulators.lenel.server import APPLICATION_ID, LenelEmulator

    pacs = stack.enter_context(LenelEmulator(clock=lambda: datetime.now(UTC)))
    pacs.add_user("svc-iam", PACS_PASSWORD)
    pacs.add_access_level("HQ Main Entrance", [DOOR])
    pacs.add_access_level("Finance Floor", ["finance-floor"])
    person = pacs.add_cardholder("Lovelace", "Ada", SSNO="ada")
    pacs.add_badge(person, CARD)
    settings = {
        "url": pacs.url,
        "application_id": APPLICATION_ID,
        "username": "svc-iam",
        "password": Secret(PACS_PASSWORD, "demo"),
        "timeout": 5,
    }
    systems.connectors["badges"] = LenelBadgeConnector("badges", settings)
    systems.types["badges"] = "lenel"
    systems.pacs = pacs
    systems.notes.append(f"badges: Lenel OpenAccess emulator at {pacs.url}, with a door reader at {DOOR}")


def swipe(systems: DemoSystems) -> str | None:
    """Ada presents her card at the main entrance."""
    if systems.pacs is None:
        return None
    return f"card {CARD} at {DOOR}: {systems.pacs.swipe(CARD, DOOR).upper()}"


def start_vpn(stack: ExitStack, systems: DemoSystems, workdir: Path) -> None:
    """A real OpenVPN server on a fresh PKI; the joiner's profile is the one iam writes."""
    from connectors.vpn import OpenVpnConnector
    from iam.demo_vpn import DemoVpn, Unavailable

    try:
        vpn = DemoVpn(stack)
        vpn.start()
    except (Unavailable, OSError, subprocess.SubprocessError, TimeoutError) as exc:
        systems.notes.append(f"VPN: skipped, {exc}")
        return
    connector = OpenVpnConnector("vpn", vpn.settings(workdir / "vpn-profiles"))
    systems.connectors["vpn"] = connector
    systems.types["vpn"] = "openvpn"
    systems.vpn = (vpn, connector)
    systems.notes.append(f"VPN: OpenVPN server in {vpn.where}, PKI made on the spot at {vpn.pki}")


def vpn_connect(systems: DemoSystems, username: str, workdir: Path) -> str | None:
    """Ada imports the profile iam wrote for her and connects."""
    from iam.demo_vpn import Unavailable

    if systems.vpn is None:
        return None
    vpn, connector = systems.vpn
    profile = workdir / "vpn-profiles" / f"{username}.ovpn"

    def tunnel() -> str | None:
        state = connector.read_account(username)
        return state.sessions[0].detail if state and state.sessions else None

    mode = oct(profile.stat().st_mode & 0o777)
    try:
        tunnel_up = vpn.connect(profile, tunnel)
    except (Unavailable, OSError, subprocess.SubprocessError, TimeoutError) as exc:
        vpn.client = None
        return f"{username}'s VPN client could NOT connect with {profile.name}: {exc}"
    return f"{username} connected to the VPN with {profile.name} (written by iam, mode {mode}): {tunnel_up}"


def vpn_refused(systems: DemoSystems, username: str) -> str | None:
    """After offboarding, Ada's client keeps trying; the server must refuse her certificate."""
    if systems.vpn is None:
        return None
    vpn, _ = systems.vpn
    if vpn.client is None:
        return None  # never connected: nothing to show
    if vpn.reconnect_refused(username):
        return f"{username}'s VPN client tried to reconnect: REFUSED (certificate revoked)"
    return f"{username}'s VPN client reconnect was NOT refused"
