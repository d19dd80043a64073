"""The ``web`` section of the configuration: how people sign in to the console and who may do what.

Pure pydantic, read by every command with the rest of the file; nothing of
the web stack is imported here.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from iam import dn
from iam.documents import Document, invalid
from iam.secrets import SecretSetting, UnavailableSecret


class OidcSettings(Document):
    """Sign-in through the company's identity provider (OpenID Connect, authorization code flow)."""

    issuer: str = Field(
        pattern="^https?://", description="the provider's issuer URL (its discovery document is read from it)"
    )
    client_id: str = Field(min_length=1)
    client_secret: SecretSetting = Field(description="the confidential client's secret")
    scopes: list[str] = Field(default=["openid", "profile", "email"], min_length=1)
    username_claim: str = Field(
        default="preferred_username", description="the ID token claim that holds the username iam knows"
    )
    groups_claim: str = Field(
        default="groups", description="the claim listing the person's groups (Keycloak: a group mapper)"
    )
    verify_tls: bool = Field(default=True, description="false only for a test provider with a private CA")


class LdapSignIn(Document):
    """Sign-in by LDAP bind, for sites without single sign-on."""

    url: str = Field(pattern="^ldaps?://", description="ldaps://host:636 (or ldap:// with start_tls)")
    user_dn: str = Field(
        pattern=r"\{username\}",
        description="the bind DN, with {username} where the (escaped) username goes: "
        '"uid={username},ou=people,dc=example,dc=org"',
    )
    start_tls: bool = False
    verify_tls: bool = Field(default=True, description="false only for a test server with a private CA")
    groups_attribute: str = Field(default="memberOf", description="the entry's attribute listing its groups")


class RoleRule(Document):
    """Who holds a role: any one of these groups, identity-provider roles or usernames."""

    groups: list[str] = Field(
        default=[],
        description="a DN (that directory group only), a /path (that identity-provider group "
        "only) or a bare name (any group of that name, wherever it is)",
    )
    roles: list[str] = Field(default=[], description="the identity provider's realm or client roles")
    users: list[str] = Field(default=[], description="usernames")

    @model_validator(mode="after")
    def _groups_named(self) -> Self:
        for name in self.groups:
            if not _well_formed(name.strip()):
                raise invalid("groups", f"{name!r} names no group: give a name, a /path or a DN")
        return self

    def matches(self, username: str, groups: frozenset[str], roles: frozenset[str]) -> bool:
        return (
            username in self.users
            or bool(roles & set(self.roles))
            or bool(groups & {_rule_key(g) for g in self.groups})
        )


# A group is compared by one key of the kind its rule is: a DN rule by the whole DN (canonical,
# as the directory compares DNs), a path rule by the whole path, a bare name by the group's own
# name. Cutting a rule to its first value made any namesake elsewhere in the tree match it.


def _is_dn(name: str) -> bool:
    return "=" in name.split(",", 1)[0]


def _well_formed(name: str) -> bool:
    """Whether a rule names a group: no empty path segment, no RDN without attribute or value."""
    if name.startswith("/"):
        segments = name.rstrip("/").split("/")[1:]
        return bool(segments) and all(segments)
    if _is_dn(name):
        avas = [rdn.partition("=") for rdn in dn.rdns(name)]
        return all(attr.strip() and value.strip() for attr, _, value in avas)
    return bool(name)


def _path(name: str) -> str:
    return name.strip().rstrip("/").lower()


def _rule_key(name: str) -> str:
    name = name.strip()
    if name.startswith("/"):
        return "path:" + _path(name)
    if _is_dn(name):
        return "dn:" + dn.norm(name)
    return "name:" + name.lower()


def directory_group_keys(dns: list[str]) -> frozenset[str]:
    """The groups the directory lists for a person (DNs), as `RoleRule` compares them: whole,
    and by their own name (the first RDN's value) for rules given as a bare name."""
    keys: set[str] = set()
    for value in (v.strip() for v in dns):
        if _is_dn(value):
            keys |= {"dn:" + dn.norm(value), "name:" + dn.first_ava(value)[1].lower()}
        elif value:
            keys.add("name:" + value.lower())
    return frozenset(keys)


def idp_group_keys(names: list[str]) -> frozenset[str]:
    """The groups an identity provider's claim lists (``/a/b`` paths or bare names, never DNs:
    a group's name there is free text), as `RoleRule` compares them."""
    keys: set[str] = set()
    for value in (v.strip() for v in names):
        if value.startswith("/") and _path(value):
            keys |= {"path:" + _path(value), "name:" + _path(value).rsplit("/", 1)[-1]}
        elif value:
            keys.add("name:" + value.lower())
    return frozenset(keys)


class WebRoles(Document):
    """The console's roles. ``reviewer`` with no rule: everyone signed in (each sees only their own)."""

    reviewer: RoleRule = RoleRule()
    auditor: RoleRule = RoleRule()
    operator: RoleRule = RoleRule()


class WebSettings(Document):
    """The web console of `iam serve`."""

    oidc: OidcSettings | None = None
    ldap: LdapSignIn | None = None
    roles: WebRoles = WebRoles()
    session_secret: SecretSetting = Field(description="signs the session cookie: 32 random bytes or more")
    idle_minutes: int = Field(default=30, ge=1, le=24 * 60, description="sign a person out after this")
    public_url: str | None = Field(
        default=None,
        pattern="^https?://",
        description="the console's address as browsers see it (behind a proxy): the sign-in callback is "
        "built on it",
    )
    secure_cookies: bool = Field(
        default=True, description="false only for a console reached over plain http (development, tests)"
    )

    @model_validator(mode="after")
    def _a_way_in(self) -> Self:
        if self.oidc is None and self.ldap is None:
            raise ValueError("give web.oidc (single sign-on) or web.ldap (bind), or both")
        # A read-only command (`runs`, `audit verify`...) is given no secret: the console is not
        # started there, and `iam serve` resolves this one (naming file, line and key) before it is.
        if not isinstance(self.session_secret, UnavailableSecret) and len(self.session_secret.reveal()) < 32:
            raise invalid("session_secret", "must be at least 32 characters")
        return self

    def roles_of(self, username: str, groups: frozenset[str], roles: frozenset[str]) -> frozenset[str]:
        """The console roles a signed-in person holds."""
        held = {
            name
            for name, rule in (("auditor", self.roles.auditor), ("operator", self.roles.operator))
            if rule.matches(username, groups, roles)
        }
        reviewer = self.roles.reviewer
        if not (reviewer.groups or reviewer.roles or reviewer.users) or reviewer.matches(
            username, groups, roles
        ):
            held.add("reviewer")
        return frozenset(held)
