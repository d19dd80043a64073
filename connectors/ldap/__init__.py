"""LDAP directories: OpenLDAP and Active Directory, through ldap3."""

from connectors.ldap.connector import LdapConnector

__all__ = ["LdapConnector"]
