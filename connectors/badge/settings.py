"""Settings every badge connector shares (how people are matched, what statuses mean), and their check.

A vendor's settings schema adds its connection properties to `POLICY_PROPERTIES`.
The core validates a configuration file against that schema before it
resolves secrets; the connector checks again when built directly (tests,
scripts), with secrets masked, so a bad setting never reaches the PACS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from iam.errors import ConfigError
from iam.settings import validate_settings

#: A vendor field name: letters, digits, underscores (it is written into filters).
FIELD_NAME = "^[A-Za-z][A-Za-z0-9_]*$"

POLICY_PROPERTIES: dict[str, Any] = {
    "match_key": {
        "type": "string",
        "pattern": FIELD_NAME,
        "description": "the cardholder field holding the person's key (iam's username), e.g. an "
        "employee id; never a name: two people share names, and a wrong match locks out the wrong person",
    },
    "active_status": {"type": "string", "minLength": 1, "default": "Active"},
    "terminated_status": {"type": "string", "minLength": 1, "default": "Terminated"},
    "lost_statuses": {
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "uniqueItems": True,
        "default": ["Lost", "Stolen"],
        "description": "statuses kept as they are on termination: the mark is evidence",
    },
    "badge_type": {"type": "string", "minLength": 1, "description": "badge type of badges iam issues"},
    "timezone": {
        "type": "string",
        "minLength": 1,
        "default": "UTC",
        "description": "the site's time zone: an HR end date ends at midnight there",
    },
    "page_size": {"type": "integer", "minimum": 1, "maximum": 100, "default": 100},
}


@dataclass(frozen=True)
class BadgePolicy:
    """The settings the vendor-neutral rules read, with defaults applied."""

    match_key: str
    active_status: str = "Active"
    terminated_status: str = "Terminated"
    lost_statuses: tuple[str, ...] = ("Lost", "Stolen")
    badge_type: str | None = None
    timezone: tzinfo = UTC
    page_size: int = 100

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], default_match_key: str) -> BadgePolicy:
        return cls(
            match_key=settings.get("match_key", default_match_key),
            active_status=settings.get("active_status", "Active"),
            terminated_status=settings.get("terminated_status", "Terminated"),
            lost_statuses=tuple(settings.get("lost_statuses", ("Lost", "Stolen"))),
            badge_type=settings.get("badge_type"),
            timezone=ZoneInfo(settings.get("timezone", "UTC")),
            page_size=settings.get("page_size", 100),
        )


def validated(
    system: str,
    settings: Mapping[str, Any],
    schema: Mapping[str, Any],
    *,
    name_fields: Iterable[str],
) -> dict[str, Any]:
    """The settings with plain-string secrets (those typed `SECRET_SCHEMA`) wrapped; `ConfigError` if invalid.

    ``name_fields`` are the vendor's person-name fields, refused as ``match_key``
    in any case (JSON Schema's ``enum`` cannot say "case-insensitively").
    """
    out = validate_settings(system, settings, schema)
    key = str(out.get("match_key", ""))
    if key.upper() in {n.upper() for n in name_fields}:
        raise ConfigError(
            f"systems.{system}.match_key: {key} is a name; match people by a unique key such as an "
            "employee id (two people can share a name, and a wrong match locks out the wrong person)"
        )
    try:
        ZoneInfo(out.get("timezone", "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"systems.{system}.timezone: unknown time zone {out['timezone']!r}") from None
    return out
