"""JSON representations as Keycloak 23 writes them.

Typed representations leave out empty values (Keycloak serializes with
``NON_NULL``); consents are the untyped maps ``UserResource.getConsents``
builds, ``additionalGrants`` included. Times are milliseconds, as Keycloak's.
"""

from __future__ import annotations

from typing import Any

from iam.lab.keycloak.state import Client, Group, Realm, Role, User, UserSession


def ms(seconds: float) -> int:
    return int(seconds * 1000)


def user(u: User, *, brief: bool = False) -> dict[str, Any]:
    rep: dict[str, Any] = {
        "id": u.id,
        "createdTimestamp": ms(u.created),
        "username": u.username,
        "enabled": u.enabled,
        "emailVerified": bool(u.email),
    }
    rep.update({k: v for k, v in (("firstName", u.first_name), ("lastName", u.last_name)) if v})
    if u.email:
        rep["email"] = u.email
    if brief:
        return rep
    if u.attributes:
        rep["attributes"] = {k: list(v) for k, v in u.attributes.items()}
    if u.service_account_of:
        rep["serviceAccountClientId"] = u.service_account_of
    rep.update(
        {
            "totp": False,
            "disableableCredentialTypes": [],
            "requiredActions": [],
            "notBefore": int(u.not_before),
            "access": {
                "manageGroupMembership": True,
                "view": True,
                "mapRoles": True,
                "impersonate": False,
                "manage": True,
            },
        }
    )
    return rep


def role(r: Role) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "composite": r.composite,
        "clientRole": r.client is not None,
        "containerId": r.container_id,
    }


def group(g: Group, realm: Realm) -> dict[str, Any]:
    rep: dict[str, Any] = {"id": g.id, "name": g.name, "path": g.path}
    if g.parent_id:
        rep["parentId"] = g.parent_id
    rep["subGroupCount"] = sum(1 for other in realm.groups.values() if other.parent_id == g.id)
    return rep


def session(s: UserSession, u: User) -> dict[str, Any]:
    return {
        "id": s.id,
        "username": u.username,
        "userId": u.id,
        "ipAddress": s.ip,
        "start": ms(s.start),
        "lastAccess": ms(s.last_access or s.start),
        "rememberMe": False,
        "clients": dict(s.clients),
    }


def realm(r: Realm) -> dict[str, Any]:
    """What an admin allowed to view the realm sees (the lifespans iam reports among them)."""
    return {
        "id": r.id,
        "realm": r.name,
        "enabled": True,
        "notBefore": 0,
        "accessTokenLifespan": int(r.access_lifespan),
        "ssoSessionIdleTimeout": int(r.sso_idle),
        "offlineSessionIdleTimeout": int(r.offline_idle),
    }


def client(c: Client) -> dict[str, Any]:
    rep = {
        "id": c.id,
        "clientId": c.client_id,
        "enabled": True,
        "bearerOnly": c.bearer_only,
        "publicClient": c.secret is None and not c.bearer_only,
        "serviceAccountsEnabled": c.service_account is not None,
        "protocol": "openid-connect",
    }
    if c.attributes:
        rep["attributes"] = dict(c.attributes)
    return rep


def mappings(u: User, realm: Realm) -> dict[str, Any]:
    """``MappingsRepresentation``: direct realm roles and client roles by clientId."""
    rep: dict[str, Any] = {}
    realm_roles = [role(r) for r in sorted(realm.roles.values(), key=lambda r: r.name) if r.id in u.roles]
    if realm_roles:
        rep["realmMappings"] = realm_roles
    by_client: dict[str, Any] = {}
    for c in sorted(realm.clients.values(), key=lambda c: c.client_id):
        held = [role(r) for r in sorted(c.roles.values(), key=lambda r: r.name) if r.id in u.roles]
        if held:
            by_client[c.client_id] = {"id": c.id, "client": c.client_id, "mappings": held}
    if by_client:
        rep["clientMappings"] = by_client
    return rep


def consents(u: User, realm: Realm) -> list[dict[str, Any]]:
    """Explicit consents first, then clients holding only an offline token."""
    offline = {cid for s in realm.sessions_of(u.id, offline=True) for cid in s.clients}
    grants = {cid: [{"client": cid, "key": "Offline Token"}] for cid in offline}
    out: list[dict[str, Any]] = []
    for cid, consent in u.consents.items():
        out.append(
            {
                "clientId": realm.clients[cid].client_id,
                "grantedClientScopes": list(consent.scopes),
                "createdDate": ms(consent.created),
                "lastUpdatedDate": ms(consent.created),
                "additionalGrants": grants.get(cid, []),
            }
        )
    for cid in sorted(offline - set(u.consents)):
        out.append(
            {
                "clientId": realm.clients[cid].client_id,
                "grantedClientScopes": [],
                "createdDate": None,
                "lastUpdatedDate": None,
                "additionalGrants": grants[cid],
            }
        )
    return out


def federated(u: User) -> list[dict[str, Any]]:
    return [
        {"identityProvider": alias, "userId": uid, "userName": name}
        for alias, (uid, name) in sorted(u.links.items())
    ]
