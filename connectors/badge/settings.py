"""Settings every badge connector shares (how people are matched, what statuses mean).

A vendor's settings model subclasses `BadgePolicy`, adds its connection
settings and names its default ``match_key`` and its person-name fields
(refused as a key). A configuration file and a connector built in code go
through the same model, so a bad setting never reaches the PACS.
"""

from __future__ import annotations

from typing import Annotated, ClassVar
from zoneinfo import ZoneInfo

from pydantic import Field, StringConstraints, model_validator

from iam.documents import TimeZone, invalid
from iam.settings import ConnectorSettings

#: A vendor field name: letters, digits, underscores (it is written into filters).
FIELD_NAME = "^[A-Za-z][A-Za-z0-9_]*$"

MATCH_KEY = (
    "the cardholder field holding the person's key (iam's username), e.g. an employee id; never a "
    "name: two people share names, and a wrong match locks out the wrong person"
)

Status = Annotated[str, StringConstraints(min_length=1)]


class BadgePolicy(ConnectorSettings):
    """The settings the vendor-neutral rules read; a vendor's model adds ``match_key`` and its connection."""

    #: The vendor's person-name fields, refused as ``match_key`` in any case.
    name_fields: ClassVar[frozenset[str]] = frozenset()

    match_key: str
    active_status: Status = "Active"
    terminated_status: Status = "Terminated"
    suspended_status: Status | None = Field(
        default=None,
        description="where the PACS has no person switch: the status `iam suspend` (any disable) sets on "
        "each active badge, and `iam restore` sets back to active_status; unset, a disable deactivates "
        "badges for good (set to terminated_status)",
    )
    lost_statuses: list[Status] = Field(
        default=["Lost", "Stolen"],
        description="statuses kept as they are on termination: the mark is evidence",
        json_schema_extra={"uniqueItems": True},
    )
    badge_type: str | None = Field(default=None, min_length=1, description="badge type of badges iam issues")
    timezone: TimeZone = Field(
        default=ZoneInfo("UTC"), description="the site's time zone: an HR end date ends at midnight there"
    )
    page_size: int = Field(default=100, ge=1, le=100)

    @model_validator(mode="after")
    def _match_by_a_key(self) -> BadgePolicy:
        if self.match_key.upper() in {n.upper() for n in self.name_fields}:
            raise invalid(
                "match_key",
                f"{self.match_key} is a name; match people by a unique key such as an employee id "
                "(two people can share a name, and a wrong match locks out the wrong person)",
            )
        if self.suspended_status and self.suspended_status.casefold() in {
            self.active_status.casefold(),
            self.terminated_status.casefold(),
        }:
            raise invalid("suspended_status", "must differ from active_status and terminated_status")
        if len(set(self.lost_statuses)) < len(self.lost_statuses):
            raise invalid("lost_statuses", "a status is listed twice")
        return self
