"""What every physical access control system (PACS) shares, and the driver boundary.

Cardholders hold badges; each badge has a status and an activation window;
access levels (doors and schedules) are assigned to badges. The connector's
rules (what "active" means, that a Lost mark is kept, that badges are never
deleted) are written once against these types; a driver only translates one
vendor's API into them, so a second vendor is one more driver module.

Two ways PACS vendors differ, which the rules follow (`BadgeDriver.traits`):
where access levels are held (on each badge, as OnGuard's access level
assignments; or on the person, as Seam's access groups), and whether the
PACS has a person-level switch and schedule (Seam's suspend and
``access_schedule``: then disabling suspends the person, and an HR end date
moves the person's schedule rather than each badge's dates).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class Site:
    """The PACS installation a driver talks to; named in `check()` and in evidence."""

    url: str
    product: str
    version: str


@dataclass(frozen=True)
class Cardholder:
    """The person as the PACS knows them; ``fields`` keeps the vendor's own field names."""

    id: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    first_name: str = ""
    last_name: str = ""
    #: Whether the person is switched off, where the PACS has such a switch (None where it has none).
    suspended: bool | None = None
    #: When the person's access schedule ends, where the PACS keeps one (None: no end).
    access_ends: datetime | None = None

    def value(self, name: str) -> str:
        """A field's value by name, whatever case the vendor answered it in."""
        for key, val in self.fields.items():
            if key.upper() == name.upper():
                return "" if val is None else str(val)
        return ""

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


@dataclass(frozen=True)
class Badge:
    """One card. ``key`` is the system's internal id (stable, never reused); ``number`` is on the card."""

    key: str
    number: str
    cardholder_id: str
    status: str
    activate: datetime | None = None
    deactivate: datetime | None = None


@dataclass(frozen=True)
class AccessLevel:
    """A set of doors with schedules; named in policy by ``name`` because ids differ per site."""

    id: str
    name: str


@dataclass(frozen=True)
class Assignment:
    """An access level held by one badge, or (``badge_key`` empty) by the cardholder ``cardholder_id``."""

    level: AccessLevel
    badge_key: str = ""
    cardholder_id: str = ""


@dataclass(frozen=True)
class NewCardholder:
    """What `create_account` asks a driver to create: the match field and the person's names."""

    key_field: str
    key_value: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""


@dataclass(frozen=True)
class NewBadge:
    """A badge to issue; ``deactivate`` carries a contractor's end date."""

    number: str
    badge_type: str
    status: str
    activate: datetime | None = None
    deactivate: datetime | None = None


@dataclass(frozen=True)
class Traits:
    """How a vendor models access (see the module docstring); the rules branch on these, never on a name."""

    #: Where access levels are held: on each "badge", or on the "cardholder".
    levels_on: Literal["badge", "cardholder"] = "badge"
    #: Whether the PACS suspends a person and schedules a person's access (`suspend`, `set_access_ends`).
    person_switch: bool = False


class BadgeDriver(Protocol):
    """One vendor's API, in the terms above. Drivers raise `iam.errors` types and never retry.

    A driver implements the per-badge level methods (`assignments_of`, `assign`, `unassign`) or the
    per-cardholder ones (`holder_assignments`, `assign_holder`, `unassign_holder`), as its
    ``traits.levels_on`` says, and `suspend` and `set_access_ends` when ``traits.person_switch``;
    the others raise `iam.errors.Unsupported`.
    """

    traits: Traits

    def site(self) -> Site:
        """Which product and version answers (may be called before authenticating)."""
        ...

    def status_names(self) -> list[str]:
        """Every badge status the site defines, by name."""
        ...

    def prove_readable(self) -> None:
        """Raise unless the user may list what reads look at (cardholders, badges, levels, assignments)."""
        ...

    def find_cardholders(self, field_name: str, value: str) -> list[Cardholder]:
        """Cardholders whose ``field_name`` equals ``value`` (every page of them)."""
        ...

    def iter_cardholders(self) -> Iterator[Cardholder]: ...

    def badges_of(self, cardholder: Cardholder) -> list[Badge]: ...

    def iter_badges(self) -> Iterator[Badge]: ...

    def assignments_of(self, badge: Badge) -> list[Assignment]: ...

    def iter_assignments(self) -> Iterator[Assignment]: ...

    def access_level(self, name: str) -> AccessLevel | None:
        """The level named ``name`` now (read fresh: levels are renamed and added)."""
        ...

    def assign(self, badge: Badge, level: AccessLevel) -> None: ...

    def unassign(self, badge: Badge, level: AccessLevel) -> None: ...

    def holder_assignments(self, cardholder: Cardholder) -> list[Assignment]:
        """The levels the person holds, where levels are held by the cardholder."""
        ...

    def assign_holder(self, cardholder: Cardholder, level: AccessLevel) -> None: ...

    def unassign_holder(self, cardholder: Cardholder, level: AccessLevel) -> None: ...

    def suspend(self, cardholder: Cardholder, suspended: bool) -> None:
        """Switch the person off (True) or on again (False), where the PACS has a person-level switch."""
        ...

    def set_access_ends(self, cardholder: Cardholder, ends: datetime) -> None:
        """End the person's access schedule at ``ends``, where the PACS keeps one."""
        ...

    def set_badge(self, badge: Badge, status: str, deactivate: datetime | None) -> None:
        """Give the badge a status (by name) and a deactivation time; never deletes it."""
        ...

    def create_cardholder(self, new: NewCardholder) -> Cardholder: ...

    def create_badge(self, cardholder: Cardholder, new: NewBadge) -> Badge: ...

    def close(self) -> None: ...
