"""Keycloak realms, through python-keycloak's admin client."""

from iam.connectors.keycloak.connector import KeycloakConnector

__all__ = ["KeycloakConnector"]
