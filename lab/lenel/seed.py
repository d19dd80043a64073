"""A small OnGuard site for tests: an iam user, doors and levels, people with badges.

People are keyed by employee id in ``SSNO``. Two of them share a name on
purpose (matching must never use names).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from iam.lab.lenel.server import APPLICATION_ID, LenelEmulator

from iam.secrets import Secret

USER = "svc-iam"
PASSWORD = "Pacs-Passw0rd-91c2"  # long enough to be registered and scrubbed as a secret

LEVELS = {
    "Lobby": ["lobby"],
    "Lab": ["lab"],
    "Server Room": ["server-room"],
    "Finance": ["finance"],
}


@dataclass
class Site:
    """Keys of what `seed` created, for assertions on the emulator's side."""

    jane: int  # cardholder E1001: one active badge (card 5001) with Lobby and Lab
    jane_badge: int
    twin: int  # cardholder E1002, another person also named Jane Doe: card 5002 with Lobby
    twin_badge: int


def seed(pacs: LenelEmulator) -> Site:
    pacs.add_user(USER, PASSWORD)
    for name, doors in LEVELS.items():
        pacs.add_access_level(name, doors)
    jane = pacs.add_cardholder("Doe", "Jane", SSNO="E1001", EMAIL="jane.doe@example.com")
    jane_badge = pacs.add_badge(jane, 5001)
    pacs.assign(jane_badge, "Lobby")
    pacs.assign(jane_badge, "Lab")
    twin = pacs.add_cardholder("Doe", "Jane", SSNO="E1002")  # same name, another person
    twin_badge = pacs.add_badge(twin, 5002)
    pacs.assign(twin_badge, "Lobby")
    return Site(jane, jane_badge, twin, twin_badge)


def settings(pacs: LenelEmulator, **overrides: Any) -> dict[str, Any]:
    """Connector settings for the emulator; the password as the core hands it over, a `Secret`."""
    return {
        "url": pacs.url,
        "application_id": APPLICATION_ID,
        "username": USER,
        "password": Secret(PASSWORD, "test"),
        "timeout": 5,
        **overrides,
    }


def closed_port() -> int:
    """A loopback port nothing listens on (bound, read, released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
