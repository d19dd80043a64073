"""The OIDC token endpoint and the admin-token check, as Keycloak answers them.

Grants: ``password`` (``admin-cli`` and any client allowed direct grants),
``client_credentials`` (a confidential client with a service account; no
refresh token, as Keycloak's default) and ``refresh_token``. A refresh token
issued in a second before the user's not-before time (set by the admin
logout) is refused as "Stale token", offline tokens included. Refusals use
Keycloak's texts, because python-keycloak decides on them: a refresh that
fails with "Token is not active" makes it fall back to a fresh grant.
"""

from __future__ import annotations

from typing import Any

from iam.lab.keycloak.admin import HttpError
from iam.lab.keycloak.state import Client, Realm, Store, Token, User


class OAuthError(Exception):
    """An OAuth error answer: ``{"error", "error_description"}``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.body = {"error": error, "error_description": description}


def _client(realm: Realm, form: dict[str, str]) -> Client:
    client = realm.client(form.get("client_id", ""))
    if client is None or client.bearer_only:
        raise OAuthError(401, "invalid_client", "Invalid client or Invalid client credentials")
    if client.secret is not None and form.get("client_secret") != client.secret:
        raise OAuthError(401, "unauthorized_client", "Invalid client or Invalid client credentials")
    return client


def _answer(
    store: Store, realm: Realm, user: User, client: Client, session: Any, refresh: str | None
) -> dict:
    body: dict[str, Any] = {
        "access_token": store.issue(realm, user, client, "access", session),
        "expires_in": int(realm.access_lifespan),
        "refresh_expires_in": 0,
        "token_type": "Bearer",
        "not-before-policy": 0,
        "scope": "openid profile email",
    }
    if refresh:
        kind = store.tokens[refresh].kind
        body.update(refresh_token=refresh, refresh_expires_in=0 if kind == "offline" else int(realm.sso_idle))
    if session is not None:
        body["session_state"] = session.id
    return body


def token(store: Store, realm: Realm, form: dict[str, str]) -> dict[str, Any]:
    """Answer one token request or raise `OAuthError`."""
    grant = form.get("grant_type", "")
    client = _client(realm, form)
    if grant == "password":
        user = realm.user_named(form.get("username", ""))
        if user is None or user.password is None or user.password != form.get("password"):
            raise OAuthError(401, "invalid_grant", "Invalid user credentials")
        if not user.enabled:
            raise OAuthError(400, "invalid_grant", "Account disabled")
        offline = "offline_access" in form.get("scope", "").split()
        session = store.open_session(realm, user, client, offline=offline)
        refresh = store.issue(realm, user, client, "offline" if offline else "refresh", session)
        return _answer(store, realm, user, client, session, refresh)
    if grant == "client_credentials":
        if client.service_account is None:
            raise OAuthError(400, "unauthorized_client", "Client not enabled to retrieve service account")
        return _answer(store, realm, realm.users[client.service_account], client, None, None)
    if grant == "refresh_token":
        old = store.tokens.get(form.get("refresh_token", ""))
        user, session = _check_refresh(store, realm, client, old)
        assert old is not None
        refresh = old_value = form["refresh_token"]
        if old.kind == "refresh":
            del store.tokens[old_value]  # a refresh token is exchanged for a new one
            refresh = store.issue(realm, user, client, "refresh", session)
        session.last_access = store.clock()
        return _answer(store, realm, user, client, session, refresh)
    raise OAuthError(400, "unsupported_grant_type", "Unsupported grant_type")


def _check_refresh(store: Store, realm: Realm, client: Client, old: Token | None) -> tuple[User, Any]:
    now = store.clock()
    if old is None or old.kind == "access" or old.realm != realm.name or old.expires <= now:
        raise OAuthError(400, "invalid_grant", "Token is not active")
    if old.client != client.id:
        raise OAuthError(
            400, "invalid_grant", "Invalid refresh token. Token client and authorized client don't match"
        )
    session = realm.sessions.get(old.session_id or "")
    if session is None or client.id not in session.clients:
        text = "Offline user session not found" if old.kind == "offline" else "Session not active"
        raise OAuthError(400, "invalid_grant", text)
    user = realm.users.get(old.user_id)
    if user is None or not user.enabled:
        raise OAuthError(400, "invalid_grant", "User disabled")
    if int(old.issued) < user.not_before:  # Keycloak compares whole seconds: iat < notBefore
        raise OAuthError(400, "invalid_grant", "Stale token")
    return user, session


def admin_subject(store: Store, header: str | None) -> tuple[Realm, Token]:
    """The realm and the token behind a bearer header, or 401 as Keycloak answers it."""
    value = header[7:] if header and header.startswith("Bearer ") else ""
    held = store.tokens.get(value)
    if held is None or held.kind != "access" or held.expires <= store.clock():
        raise HttpError(401, "HTTP 401 Unauthorized")
    realm = store.realms.get(held.realm)
    user = realm.users.get(held.user_id) if realm else None
    if realm is None or user is None or not user.enabled:
        raise HttpError(401, "HTTP 401 Unauthorized")
    if held.session_id is not None and held.session_id not in realm.sessions:
        raise HttpError(401, "HTTP 401 Unauthorized")  # the admin's session was ended
    return realm, held


def allowed(auth_realm: Realm, token: Token, target: Realm, needs: frozenset[str]) -> bool:
    """Master's ``admin`` role rules every realm; otherwise realm-management roles of the same realm.

    Judged by the roles the token was issued with, as Keycloak does: a change to the admin's
    roles counts from its next token on."""
    if auth_realm.name == "master" and auth_realm.roles["admin"].id in token.roles:
        return True
    if auth_realm is not target:
        return False
    return bool(auth_realm.admin_roles(token.roles) & needs)
