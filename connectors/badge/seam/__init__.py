"""Cloud access control through Seam (Brivo, Salto KS, Avigilon Alta, PTI...): the second badge driver."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from iam.connectors.badge.connector import BadgeConnector
from iam.connectors.badge.seam.driver import NAME_FIELDS, SeamDriver
from iam.connectors.badge.seam.session import SeamSession
from iam.connectors.badge.settings import FIELD_NAME, MATCH_KEY, BadgePolicy
from pydantic import Field, model_validator

from iam.documents import invalid
from iam.secrets import SecretSetting
from iam.settings import validate_settings


class SeamSettings(BadgePolicy):
    """One access control system of a Seam workspace, and how its users are matched."""

    name_fields: ClassVar[frozenset[str]] = frozenset(NAME_FIELDS)

    url: str = Field(
        default="https://connect.getseam.com",
        pattern=r"^https?://[^/@\s]+(/\S*)?$",
        description="Seam's API root",
    )
    api_key: SecretSetting = Field(description="an API key of the workspace holding the access system")
    acs_system_id: str = Field(
        min_length=1,
        description="the access control system (a Brivo account, a Salto site...) whose users iam manages",
    )
    match_key: str = Field(default="email_address", pattern=FIELD_NAME, description=MATCH_KEY)
    email_domain: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$",
        description="with match_key email_address: username jdoe is matched as jdoe@<email_domain>",
    )
    badge_type: str | None = Field(
        default="card", min_length=1, description="the access method of credentials iam issues (card, code)"
    )
    verify_tls: bool = True
    ca_file: str | None = Field(default=None, min_length=1)
    timeout: float = Field(default=10, gt=0)

    @model_validator(mode="after")
    def _domain_needs_email(self) -> SeamSettings:
        if self.email_domain and self.match_key != "email_address":
            raise invalid("email_domain", "email_domain applies only with match_key: email_address")
        return self


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SeamBadgeConnector(BadgeConnector):
    """One Seam access system; ``now`` (a clock) and ``transport`` (httpx's) are for tests and embedding."""

    settings_model = SeamSettings
    settings: SeamSettings

    def __init__(
        self,
        name: str,
        settings: Mapping[str, Any] | SeamSettings,
        *,
        now: Callable[[], datetime] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        s = validate_settings(name, SeamSettings, settings)
        driver = SeamDriver(SeamSession(name, s, transport), s)
        super().__init__(name, s, driver, s, now or _utc_now)

    def check(self) -> str:
        site = self.driver.site()
        self.driver.prove_readable()
        domain = f" (username@{self.settings.email_domain})" if self.settings.email_domain else ""
        return (
            f"{site.product} {site.version!r} at {site.url}: people matched by "
            f"{self.policy.match_key}{domain}; leavers suspended, their credentials removed "
            "and their access groups left"
        )

    def key_value(self, username: str) -> str:
        domain = self.settings.email_domain
        return f"{username}@{domain}" if domain and "@" not in username else username

    def username_of(self, value: str) -> str:
        domain = self.settings.email_domain
        suffix = f"@{domain}".casefold()
        return value[: -len(suffix)] if domain and value.casefold().endswith(suffix) else value


__all__ = ["SeamBadgeConnector", "SeamSettings"]
