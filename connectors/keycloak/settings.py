"""The Keycloak system's settings: their JSON Schema and the check the connector repeats.

The core validates a configuration file against `SETTINGS_SCHEMA` before it
resolves secrets; the connector checks again when built directly (tests, the
demo), with secrets masked, so a bad setting never reaches python-keycloak.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema

from iam.secrets import SECRET_SCHEMA
from iam.settings import validate_settings

SECRET_KEYS = ("client_secret", "password")

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["server_url", "realm"],
    "properties": {
        "server_url": {
            "type": "string",
            "pattern": "^https?://",
            "description": "e.g. https://sso.example.com/",
        },
        "realm": {"type": "string", "minLength": 1, "description": "the realm whose users are managed"},
        "auth_realm": {"type": "string", "minLength": 1, "default": "master"},
        "client_id": {"type": "string", "minLength": 1, "description": "default admin-cli with username"},
        "client_secret": SECRET_SCHEMA,
        "username": {"type": "string", "minLength": 1},
        "password": SECRET_SCHEMA,
        "verify_tls": {"type": "boolean", "default": True},
        "ca_file": {"type": "string", "minLength": 1},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "default": 10},
        "page_size": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
        "managed_clients": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "uniqueItems": True,
            "description": "clientIds whose roles may be granted; revocation always covers every client",
        },
    },
    "dependentRequired": {"client_secret": ["client_id"]},
    "oneOf": [
        {
            "required": ["client_id", "client_secret"],
            "not": {"anyOf": [{"required": ["username"]}, {"required": ["password"]}]},
        },
        {"required": ["username", "password"]},
    ],
}

_CREDENTIALS_HINT = (
    "give client_id and client_secret (a service account), or username and password (an admin user)"
)


def validated(system: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings with plain-string secrets wrapped in `Secret`; `ConfigError` if invalid."""

    def explain(err: jsonschema.ValidationError, where: str) -> str:
        return _CREDENTIALS_HINT if err.validator == "oneOf" and not where else err.message

    return validate_settings(system, settings, SETTINGS_SCHEMA, explain)
