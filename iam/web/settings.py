"""The ``web`` section of the configuration: how people sign in to the console and who may do what.

Pure pydantic, read by every command with the rest of the file; nothing of
the web stack is imported here.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

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

    groups: list[str] = Field(default=[], description="group names, paths (/staff/auditors) or DNs")
    roles: list[str] = Field(default=[], description="the identity provider's realm or client roles")
    users: list[str] = Field(default=[], description="usernames")

    def matches(self, username: str, groups: frozenset[str], roles: frozenset[str]) -> bool:
        return (
            username in self.users
            or bool(roles & set(self.roles))
            or bool(groups & {_group_key(g) for g in self.groups})
        )


def _group_key(name: str) -> str:
    """One spelling of a group: ``/staff/auditors``, ``auditors`` and ``cn=auditors,ou=...`` are one."""
    name = name.strip().lower()
    if "=" in name.split(",", 1)[0]:  # a DN: its first value
        return name.split(",", 1)[0].split("=", 1)[1].strip()
    return name.rstrip("/").rsplit("/", 1)[-1]


def group_keys(names: list[str]) -> frozenset[str]:
    """The groups a person is in, spelled as `RoleRule` compares them."""
    return frozenset(_group_key(n) for n in names if n.strip())


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
