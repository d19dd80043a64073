"""LDAP directories: OpenLDAP and Active Directory, through ldap3."""

from iam.connectors.ldap.connector import LdapConnector

__all__ = ["LdapConnector"]
