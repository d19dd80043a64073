"""Keycloak realms, through python-keycloak's admin client."""

from connectors.keycloak.connector import KeycloakConnector

__all__ = ["KeycloakConnector"]
