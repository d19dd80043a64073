"""SaaS applications through SCIM 2.0 (RFC 7643/7644): one connector for any compliant service."""

from iam.connectors.scim.connector import ScimConnector
from iam.connectors.scim.settings import OAuthClient, ScimSettings

__all__ = ["OAuthClient", "ScimConnector", "ScimSettings"]
