"""The nouns every part of iam shares: accounts, entitlements, results, plans."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    """What an operation did. "Already revoked" is `unchanged`, never an error."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    ABSENT = "absent"


@dataclass(frozen=True)
class Result:
    """The typed answer of one connector operation."""

    outcome: Outcome
    detail: str = ""

    @property
    def changed(self) -> bool:
        return self.outcome in (Outcome.CREATED, Outcome.UPDATED)


@dataclass(frozen=True, order=True)
class Entitlement:
    """A right held in one system: a group, a role, an access level, VPN access."""

    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class Credential:
    """Something that proves identity: a certificate, a badge, an offline token."""

    kind: str
    id: str
    active: bool = True
    detail: str = ""


@dataclass(frozen=True)
class Session:
    """A live login or tunnel that must be cut on termination."""

    id: str
    detail: str = ""


@dataclass(frozen=True)
class AccountState:
    """What one system holds for one person, as read from that system."""

    system: str
    username: str
    ref: str
    enabled: bool
    entitlements: frozenset[Entitlement] = frozenset()
    sessions: tuple[Session, ...] = ()
    credentials: tuple[Credential, ...] = ()
    password_usable: bool | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def remaining_access(self) -> list[str]:
        """Every way this account can still get in; empty means none."""
        left: list[str] = []
        if self.enabled:
            left.append("account is enabled")
        left += [f"holds {e}" for e in sorted(self.entitlements)]
        left += [f"live session {s.id}" for s in self.sessions]
        left += [f"active {c.kind} {c.id}" for c in self.credentials if c.active]
        return left

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "username": self.username,
            "ref": self.ref,
            "enabled": self.enabled,
            "entitlements": [str(e) for e in sorted(self.entitlements)],
            "sessions": [s.id for s in self.sessions],
            "credentials": [{"kind": c.kind, "id": c.id, "active": c.active} for c in self.credentials],
        }


@dataclass(frozen=True)
class DesiredAccount:
    """What policy says one person should hold in one system."""

    entitlements: frozenset[Entitlement] = frozenset()
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Identity:
    """A person as HR knows them; only username is needed to offboard."""

    username: str
    given_name: str = ""
    family_name: str = ""
    email: str = ""
    department: str = ""
    title: str = ""
    kind: str = "employee"
    status: str = "active"

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.given_name, self.family_name) if p) or self.username

    def attributes(self) -> dict[str, str]:
        return {
            "given_name": self.given_name,
            "family_name": self.family_name,
            "display_name": self.display_name,
            "email": self.email,
            "department": self.department,
            "title": self.title,
        }
