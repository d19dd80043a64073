"""The demo's systems beyond the directory: the lab's Keycloak and OpenAccess
emulators (shipped with iam, so an installed iam shows SSO sessions ending and
a door refusing the leaver's card) and a real OpenVPN server where the machine
can run one."""

from __future__ import annotations

import subprocess
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iam.contract import Connector
from iam.secrets import Secret

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
    #: Each system's settings as a configuration file would hold them (`iam lab up` writes them).
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)


def start_sso(stack: ExitStack, systems: DemoSystems) -> None:
    """A Keycloak realm in the emulator, with Ada federated from the directory."""
    from iam.connectors.keycloak import KeycloakConnector
    from iam.lab.keycloak.server import KeycloakEmulator

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
    systems.settings["sso"] = settings
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
    from datetime import UTC, datetime

    from iam.connectors.badge import LenelBadgeConnector
    from iam.lab.lenel.server import APPLICATION_ID, LenelEmulator

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
        "suspended_status": "Suspended",  # so a suspension (an incident) can be lifted
    }
    systems.connectors["badges"] = LenelBadgeConnector("badges", settings)
    systems.types["badges"] = "lenel"
    systems.settings["badges"] = settings
    systems.pacs = pacs
    systems.notes.append(f"badges: Lenel OpenAccess emulator at {pacs.url}, with a door reader at {DOOR}")


def swipe(systems: DemoSystems) -> str | None:
    """Ada presents her card at the main entrance."""
    if systems.pacs is None:
        return None
    return f"card {CARD} at {DOOR}: {systems.pacs.swipe(CARD, DOOR).upper()}"


def start_vpn(stack: ExitStack, systems: DemoSystems, workdir: Path) -> None:
    """A real OpenVPN server on a fresh PKI; the joiner's profile is the one iam writes."""
    from iam.connectors.vpn import OpenVpnConnector
    from iam.lab.openvpn import DemoVpn, Unavailable

    try:
        vpn = DemoVpn(stack)
        vpn.start()
    except (Unavailable, OSError, subprocess.SubprocessError, TimeoutError) as exc:
        systems.notes.append(f"VPN: skipped, {exc}")
        return
    settings = vpn.settings(workdir / "vpn-profiles")
    connector = OpenVpnConnector("vpn", settings)
    systems.connectors["vpn"] = connector
    systems.types["vpn"] = "openvpn"
    systems.settings["vpn"] = dict(settings)
    systems.vpn = (vpn, connector)
    systems.notes.append(f"VPN: OpenVPN server in {vpn.where}, PKI made on the spot at {vpn.pki}")


def vpn_connect(systems: DemoSystems, username: str, workdir: Path) -> str | None:
    """Ada imports the profile iam wrote for her and connects."""
    from iam.lab.openvpn import Unavailable

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
