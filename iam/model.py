"""The nouns every part of iam shares: accounts, entitlements, results, plans."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime
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
    #: When the account last logged in, where the system records it (dormancy reviews).
    last_login: datetime | None = None
    #: When the account was created, where the system records it.
    created: datetime | None = None
    #: Why a disable written to the account does not count (the system would not
    #: enforce it) and what to fix; such an account stays ``enabled``.
    disable_ineffective: str = ""

    def remaining_access(self) -> list[str]:
        """Every way this account can still get in; empty means none."""
        left: list[str] = []
        if self.enabled:
            left.append(
                f"account is enabled: {self.disable_ineffective}"
                if self.disable_ineffective
                else "account is enabled"
            )
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
    """What policy says one person should hold in one system.

    ``account`` False means the person should hold nothing there: an existing
    account keeps existing (history) but loses every entitlement, and none
    is created.
    """

    entitlements: frozenset[Entitlement] = frozenset()
    attributes: Mapping[str, Any] = field(default_factory=dict)
    account: bool = True


#: The HR attributes whose change makes a person a mover (an end date moved
#: is one too: systems holding a copy of it, like badges, must follow).
#: Identity fields held as dates (ISO strings in HR records and the store).
DATE_FIELDS = ("start_date", "end_date", "policy_ack_date")
MOVER_FIELDS = ("department", "title", "manager", "site", "kind", "end_date", "policy_ack_version")


_FIELD_NAMES: dict[type, frozenset[str]] = {}


def _field_names(cls: type) -> frozenset[str]:
    """A dataclass's field names, asked once (a sweep builds an `Identity` per person)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = frozenset(f.name for f in fields(cls))
    return names


@dataclass(frozen=True, slots=True)  # slots: a sweep holds one per person
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
    hr_id: str = ""
    manager: str = ""
    site: str = ""
    owner: str = ""
    start_date: date | None = None
    end_date: date | None = None
    #: The policy version the person acknowledged, and when (``policy_ack`` in HR's record).
    policy_ack_version: str = ""
    policy_ack_date: date | None = None

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.given_name, self.family_name) if p) or self.username

    @property
    def third_party(self) -> bool:
        return self.kind in ("contractor", "vendor")

    def attributes(self) -> dict[str, str]:
        """What connectors may copy onto an account and keep following (``manager`` is a username)."""
        return {
            "given_name": self.given_name,
            "family_name": self.family_name,
            "display_name": self.display_name,
            "email": self.email,
            "department": self.department,
            "title": self.title,
            "manager": self.manager,
            "end_date": self.end_date.isoformat() if self.end_date else "",
        }

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in DATE_FIELDS:
            data[key] = data[key].isoformat() if data[key] else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Identity:
        known = _field_names(cls)
        values = {k: v for k, v in data.items() if k in known and v is not None}
        for key in ("start_date", "end_date", "policy_ack_date"):
            if isinstance(values.get(key), str):
                values[key] = date.fromisoformat(values[key]) if values[key] else None
        return cls(**values)

    def changed_fields(self, other: Identity) -> list[str]:
        """The mover-relevant attributes that differ from ``other``."""
        return [f for f in MOVER_FIELDS if getattr(self, f) != getattr(other, f)]
