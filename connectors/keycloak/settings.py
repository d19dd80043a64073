"""The Keycloak system's settings: one model, checked the same from a file or from code.

The admin signs in either as a service account (``client_id`` and
``client_secret``) or as an admin user (``username`` and ``password``,
through ``client_id``, admin-cli unless named); a bad setting never reaches
python-keycloak.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, JsonValue, StringConstraints, model_validator

from iam.documents import invalid
from iam.secrets import SecretSetting
from iam.settings import ConnectorSettings

_CREDENTIALS_HINT = (
    "give client_id and client_secret (a service account), or username and password (an admin user)"
)

ClientId = Annotated[str, StringConstraints(min_length=1)]


#: The two ways to sign in, as the schema says them (`_one_way_to_sign_in` checks the same).
_SIGN_IN_SCHEMA: dict[str, JsonValue] = {
    "dependentRequired": {"client_secret": ["client_id"]},
    "oneOf": [
        {
            "required": ["client_secret"],
            "not": {"anyOf": [{"required": ["username"]}, {"required": ["password"]}]},
        },
        {"required": ["username", "password"]},
    ],
}


class KeycloakSettings(ConnectorSettings):
    """One realm of a Keycloak server, administered through its Admin REST API."""

    model_config = {"json_schema_extra": _SIGN_IN_SCHEMA}

    server_url: str = Field(pattern="^https?://", description="e.g. https://sso.example.com/")
    realm: str = Field(min_length=1, description="the realm whose users are managed")
    auth_realm: str = Field(default="master", min_length=1, description="the realm the admin signs in to")
    client_id: str = Field(
        default="admin-cli",
        min_length=1,
        description="the client signed in through; needed with client_secret",
    )
    client_secret: SecretSetting | None = Field(default=None, description="a service account's secret")
    username: str | None = Field(default=None, min_length=1, description="an admin user (with password)")
    password: SecretSetting | None = None
    verify_tls: bool = True
    ca_file: str | None = Field(default=None, min_length=1)
    timeout: float = Field(default=10, gt=0)
    page_size: int = Field(default=100, ge=1, le=1000)
    managed_clients: list[ClientId] | None = Field(
        default=None,
        description="clientIds whose roles may be granted; revocation always covers every client",
        json_schema_extra={"uniqueItems": True},
    )

    @model_validator(mode="after")
    def _one_way_to_sign_in(self) -> KeycloakSettings:
        if self.client_secret is not None and "client_id" not in self.model_fields_set:
            raise invalid("client_id", "'client_id' is a dependency of 'client_secret'")
        service = self.client_secret is not None and self.username is None and self.password is None
        admin = self.username is not None and self.password is not None
        if not (service or admin):
            raise invalid(None, _CREDENTIALS_HINT)
        if self.managed_clients is not None and len(set(self.managed_clients)) < len(self.managed_clients):
            raise invalid("managed_clients", "a clientId is listed twice")
        return self
