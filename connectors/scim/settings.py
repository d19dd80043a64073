"""A SCIM 2.0 service's settings: where it is, how iam signs in, which attribute is the username.

iam signs in with a bearer token the application issued (``token``), or
with OAuth2 client credentials (``oauth``) from which it fetches a token.
Which protocol features it uses (PATCH, filtering, ETags) is not a setting:
it reads the service's ``ServiceProviderConfig`` and adapts.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from iam.documents import Document, invalid
from iam.secrets import SecretSetting
from iam.settings import ConnectorSettings

#: A SCIM attribute name (RFC 7643 §2.1: ATTRNAME), written into filters.
ATTRIBUTE_NAME = "^[A-Za-z][A-Za-z0-9_-]*$"


class OAuthClient(Document):
    """OAuth2 client credentials (RFC 6749 §4.4): iam asks ``token_url`` for a bearer token."""

    token_url: str = Field(pattern=r"^https?://\S+$", description="the authorization server's token endpoint")
    client_id: str = Field(min_length=1)
    client_secret: SecretSetting
    scope: str | None = Field(
        default=None, min_length=1, description="space-separated scopes, if it wants some"
    )


class ScimSettings(ConnectorSettings):
    """One application's SCIM 2.0 endpoint (RFC 7643/7644)."""

    url: str = Field(
        pattern=r"^https?://[^/@\s]+(/\S*)?$",
        description="the SCIM base URL, the one before /Users, e.g. https://app.example.com/scim/v2",
    )
    token: SecretSetting | None = Field(default=None, description="a bearer token the application issued")
    oauth: OAuthClient | None = Field(default=None, description="OAuth2 client credentials, instead of token")
    username_attribute: str = Field(
        default="userName",
        pattern=ATTRIBUTE_NAME,
        description="the User attribute holding iam's username (userName; externalId where the "
        "application keeps e-mail addresses in userName)",
    )
    verify_tls: bool = True
    ca_file: str | None = Field(default=None, min_length=1)
    timeout: float = Field(default=10, gt=0)
    page_size: int = Field(default=100, ge=1, le=1000, description="resources asked for per page")

    @model_validator(mode="after")
    def _one_way_to_sign_in(self) -> ScimSettings:
        if (self.token is None) == (self.oauth is None):
            raise invalid(None, "give token (a bearer token) or oauth (client credentials), not both")
        return self
