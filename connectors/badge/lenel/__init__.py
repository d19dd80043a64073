"""Lenel OnGuard through its OpenAccess REST API (7.5): the first badge driver."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from iam.connectors.badge.connector import BadgeConnector
from iam.connectors.badge.lenel.driver import NAME_FIELDS, LenelDriver
from iam.connectors.badge.lenel.session import OpenAccessSession
from iam.connectors.badge.settings import FIELD_NAME, MATCH_KEY, BadgePolicy
from pydantic import Field

from iam.secrets import SecretSetting
from iam.settings import validate_settings


class LenelSettings(BadgePolicy):
    """One OnGuard site's OpenAccess API, and how its cardholders are matched."""

    name_fields: ClassVar[frozenset[str]] = frozenset(NAME_FIELDS)

    url: str = Field(
        pattern=r"^https?://[^/@\s]+(/\S*)?$",
        description="the API root, e.g. https://onguard.example.com:8080/api/access/onguard/openaccess",
    )
    application_id: SecretSetting
    username: str = Field(min_length=1, description="an OnGuard user allowed to edit badges")
    password: SecretSetting
    directory_id: str | None = Field(
        default=None, min_length=1, description="login directory; internal if absent"
    )
    verify_tls: bool = True
    ca_file: str | None = Field(default=None, min_length=1)
    timeout: float = Field(default=10, gt=0)
    match_key: str = Field(default="SSNO", pattern=FIELD_NAME, description=MATCH_KEY)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LenelBadgeConnector(BadgeConnector):
    """One OnGuard site; ``now`` (a clock) and ``transport`` (httpx's) are for tests and embedding."""

    settings_model = LenelSettings
    settings: LenelSettings

    def __init__(
        self,
        name: str,
        settings: Mapping[str, Any] | LenelSettings,
        *,
        now: Callable[[], datetime] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        s = validate_settings(name, LenelSettings, settings)
        driver = LenelDriver(OpenAccessSession(name, s, transport), s.page_size)
        super().__init__(name, s, driver, s, now or _utc_now)


__all__ = ["LenelBadgeConnector", "LenelSettings"]
