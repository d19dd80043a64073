"""What a Keycloak termination cannot take back: access tokens already issued.

An access token is a signed JWT that an application may check on its own,
without asking Keycloak again, until it expires. Disabling the user, ending
sessions and revoking offline tokens stop every refresh and every new login,
not a token already in an application's hands. The window is the realm's
access token lifespan (``accessTokenLifespan``, 5 minutes by default), or a
client's own longer one (its ``access.token.lifespan`` attribute).
"""

from __future__ import annotations

from dataclasses import dataclass

from iam import errors

VIEW_REALM = "view-realm"
VIEW_CLIENTS = "view-clients"
CLIENT_LIFESPAN = "access.token.lifespan"


@dataclass(frozen=True)
class TokenWindow:
    """How long a token issued just before a termination may still be accepted."""

    realm: str
    realm_seconds: int
    #: The client whose own lifespan is longest, when longer than the realm's.
    longest_client: tuple[str, int] | None = None

    @property
    def seconds(self) -> int:
        return self.longest_client[1] if self.longest_client else self.realm_seconds

    def summary(self) -> str:
        """For ``connectors check``: the realm's lifespan and any longer client override."""
        text = f"access tokens live {self.realm_seconds} s (realm {self.realm}'s access token lifespan"
        if self.longest_client:
            text += f"; {self.longest_client[1]} s for client {self.longest_client[0]}"
        return text + "): a token issued before a termination stays valid that long"

    def caveat(self) -> str:
        """For a termination step: what it cannot reach."""
        longest = f" (client {self.longest_client[0]})" if self.longest_client else ""
        return f"access tokens already issued stay valid until they expire: up to {self.seconds} s{longest}"


def realm_lifespan(realm: str, realm_rep: dict, who: str) -> int:
    """The realm's access token lifespan. Keycloak answers an admin who may not view the realm
    with its name alone: that is "not allowed to see", never "the default"."""
    if "accessTokenLifespan" not in realm_rep:
        raise errors.PermissionDenied(
            f"read the access token lifespan: {who} needs the realm-management role {VIEW_REALM!r} "
            f"in realm {realm} (Keycloak showed the realm's name only)"
        )
    return int(realm_rep["accessTokenLifespan"])


def window(realm: str, realm_seconds: int, clients: list[dict]) -> TokenWindow:
    """The window from the realm's lifespan and its clients' representations."""
    overrides = []
    for client in clients:
        value = (client.get("attributes") or {}).get(CLIENT_LIFESPAN)
        try:
            seconds = int(value) if value not in (None, "") else 0
        except ValueError:
            continue  # not a number: Keycloak uses the realm's
        if seconds > realm_seconds:
            overrides.append((seconds, client["clientId"]))
    longest = max(overrides, default=None)
    return TokenWindow(realm, realm_seconds, (longest[1], longest[0]) if longest else None)


def unknown_caveat(exc: errors.PermissionDenied) -> str:
    """The caveat when the lifespans may not be read: the window is there all the same."""
    return (
        "access tokens already issued stay valid until they expire (the realm's access token lifespan; "
        f"iam could not read it: {exc})"
    )
