"""Lenel OnGuard through its OpenAccess REST API (7.5): the first badge driver."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from iam.connectors.badge.connector import BadgeConnector
from iam.connectors.badge.lenel.driver import NAME_FIELDS, LenelDriver
from iam.connectors.badge.lenel.session import OpenAccessSession
from iam.connectors.badge.settings import POLICY_PROPERTIES, BadgePolicy, validated

from iam.secrets import SECRET_SCHEMA

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["url", "application_id", "username", "password"],
    "properties": {
        "url": {
            "type": "string",
            "pattern": r"^https?://[^/@\s]+(/\S*)?$",
            "description": "the API root, e.g. https://onguard.example.com:8080/api/access/onguard/openaccess",
        },
        "application_id": SECRET_SCHEMA,
        "username": {
            "type": "string",
            "minLength": 1,
            "description": "an OnGuard user allowed to edit badges",
        },
        "password": SECRET_SCHEMA,
        "directory_id": {
            "type": "string",
            "minLength": 1,
            "description": "login directory; internal if absent",
        },
        "verify_tls": {"type": "boolean", "default": True},
        "ca_file": {"type": "string", "minLength": 1},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "default": 10},
        **POLICY_PROPERTIES,
        "match_key": {**POLICY_PROPERTIES["match_key"], "default": "SSNO"},
    },
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LenelBadgeConnector(BadgeConnector):
    """One OnGuard site; ``now`` (a clock) and ``transport`` (httpx's) are for tests and embedding."""

    settings_schema: ClassVar[Mapping[str, Any]] = SETTINGS_SCHEMA

    def __init__(
        self,
        name: str,
        settings: Mapping[str, Any],
        *,
        now: Callable[[], datetime] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        s = validated(
            name,
            settings,
            SETTINGS_SCHEMA,
            name_fields=NAME_FIELDS,
        )
        policy = BadgePolicy.from_settings(s, default_match_key="SSNO")
        driver = LenelDriver(OpenAccessSession(name, s, transport), policy.page_size)
        super().__init__(name, s, driver, policy, now or _utc_now)


__all__ = ["SETTINGS_SCHEMA", "LenelBadgeConnector"]
