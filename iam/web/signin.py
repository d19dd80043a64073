"""Who is this? Sign-in by LDAP bind, or through the company's identity provider (OpenID Connect).

Both end in a `WebUser` whose roles come from ``web.roles`` matched against
the person's groups (and, for OpenID Connect, the provider's roles). A bind
that fails for any reason is a refusal, never a sign-in.
"""

from __future__ import annotations

import ssl
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.dn import escape_rdn

from iam.web.session import WebUser
from iam.web.settings import LdapSignIn, OidcSettings, WebSettings, directory_group_keys, idp_group_keys


class SignInRefused(Exception):
    """Wrong username or password, or the directory would not say: the message is safe to show."""


def ldap_sign_in(web: WebSettings, settings: LdapSignIn, username: str, password: str) -> WebUser:
    """Bind as the person; read their own entry's groups with that bind."""
    if not username or not password:  # an empty password is an anonymous bind on many servers
        raise SignInRefused("give your username and password")
    dn = settings.user_dn.replace("{username}", escape_rdn(username))
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED if settings.verify_tls else ssl.CERT_NONE)
    server = ldap3.Server(settings.url, tls=tls, connect_timeout=10, get_info=ldap3.NONE)
    try:
        conn = ldap3.Connection(server, user=dn, password=password, receive_timeout=10, read_only=True)
        if settings.start_tls:
            conn.open()
            conn.start_tls()
        if not conn.bind():
            raise SignInRefused("wrong username or password")
        try:
            conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=[settings.groups_attribute, "cn"])
            entry = conn.response[0]["attributes"] if conn.response else {}
        finally:
            conn.unbind()
    except LDAPException:
        raise SignInRefused("the directory could not be reached; try again later") from None
    groups = directory_group_keys([str(g) for g in _values(entry.get(settings.groups_attribute))])
    name = next(iter(_values(entry.get("cn"))), username)
    return WebUser(username, str(name), web.roles_of(username, groups, frozenset()))


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def oidc_user(web: WebSettings, settings: OidcSettings, claims: dict[str, Any]) -> WebUser:
    """The person an ID token (with the provider's userinfo) names, with their console roles."""
    username = claims.get(settings.username_claim)
    if not isinstance(username, str) or not username:
        raise SignInRefused(f"the identity provider sent no {settings.username_claim}")
    groups = idp_group_keys([str(g) for g in _values(claims.get(settings.groups_claim))])
    roles = frozenset(
        str(r)
        for r in [
            *_values((claims.get("realm_access") or {}).get("roles")),
            *_values(((claims.get("resource_access") or {}).get(settings.client_id) or {}).get("roles")),
        ]
    )
    name = claims.get("name") or username
    return WebUser(username, str(name), web.roles_of(username, groups, roles))
