"""The Admin REST routes the emulator serves, each named by its OpenAPI template.

A route's template is the path exactly as ``keycloak-admin-23.0.6.openapi.json``
spells it (relative to ``/admin/realms``); the matcher is derived from it, so
the contract test that looks each template up in the description also covers
what the server really answers. ``needs`` lists the realm-management roles of
which any one lets the call through (Keycloak's ``AdminPermissions`` checks,
simplified: fine-grained permissions are not modelled). As in Keycloak, the
user search and count need only ``query-users`` but leave out every user the
caller may not view: with ``query-users`` alone they answer [] and 0, not 403.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from iam.lab.keycloak import reps
from iam.lab.keycloak.state import ADMIN_ROLES, Realm, Role, Store, User

VIEW_USERS = frozenset({"view-users", "manage-users"})
QUERY_USERS = VIEW_USERS | {"query-users"}
MANAGE_USERS = frozenset({"manage-users"})
QUERY_GROUPS = VIEW_USERS | {"query-groups"}
VIEW_REALM = frozenset({"view-realm", "manage-realm"})
VIEW_CLIENTS = frozenset({"view-clients", "manage-clients"})
QUERY_CLIENTS = VIEW_CLIENTS | {"query-clients"}
ANY_ADMIN = frozenset(ADMIN_ROLES)

Reply = tuple[int, Any]  # status, JSON body (None: no body)


@dataclass
class Exchange:
    """One request and its answer, kept so tests can count calls and check them against the description."""

    method: str
    path: str
    template: str | None  # the admin route that served it, None for the token endpoint
    query: dict[str, str]
    status: int
    request: Any
    response: Any
    headers: dict[str, str]


class HttpError(Exception):
    """A refusal answered as Keycloak does: ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Call:
    store: Store
    realm: Realm
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    sees_users: bool = True  # may view every user of the realm (view-users or manage-users)
    views_realm: bool = True  # may view the realm's settings (view-realm or manage-realm)

    def user(self) -> User:
        found = self.realm.users.get(self.params["id"])
        if found is None:
            raise HttpError(404, "User not found")
        return found

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() == "true"

    def page(self, items: list[Any], default_max: int = 100) -> list[Any]:
        first = max(int(self.query.get("first", 0)), 0)
        count = int(self.query.get("max", default_max))
        return items[first:] if count < 0 else items[first : first + count]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    needs: frozenset[str]
    handler: Callable[[Call], Reply]
    greedy: str | None = None  # a parameter declared ``{path: .*}`` in Keycloak's JAX-RS code

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        def param(m: re.Match[str]) -> str:
            name = m.group(1)
            return f"(?P<{name.replace('-', '_')}>{'.+' if name == self.greedy else '[^/]+'})"

        return re.compile("^" + re.sub(r"\{([^}]+)\}", param, self.template) + "$")

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters (still percent-encoded), or None when this route does not serve it."""
        found = self.pattern.match(path) if method == self.method else None
        if found is None:
            return None
        return {name.replace("_", "-"): value for name, value in found.groupdict().items()}


# users ----------------------------------------------------------------------------------------------


def _search(call: Call) -> list[User]:
    """``GET /users`` filtering: service accounts never show, as in Keycloak."""
    found = [u for u in call.realm.users.values() if u.service_account_of is None]
    exact = call.flag("exact")
    if "search" in call.query:
        term = call.query["search"].strip("*").lower()
        found = [u for u in found if any(term in v.lower() for v in (u.username, u.email, u.first_name))]
    for key, attr in (("username", "username"), ("email", "email"), ("firstName", "first_name")):
        if key in call.query:
            want = call.query[key].lower()
            found = [u for u in found if (getattr(u, attr) == want if exact else want in getattr(u, attr))]
    if "enabled" in call.query:
        found = [u for u in found if u.enabled == call.flag("enabled")]
    return sorted(found, key=lambda u: u.username)


def list_users(call: Call) -> Reply:
    brief = call.flag("briefRepresentation")
    found = _search(call) if call.sees_users else []  # Keycloak filters out whom the caller may not view
    return 200, [reps.user(u, brief=brief) for u in call.page(found)]


def count_users(call: Call) -> Reply:
    return 200, len(_search(call)) if call.sees_users else 0


def brute_force_status(call: Call) -> Reply:
    """Keycloak checks view-users realm-wide when the id names no user, and for that user otherwise."""
    return 200, {
        "disabled": False,
        "numFailures": 0,
        "numTemporaryLockouts": 0,
        "lastFailure": 0,
        "lastIPFailure": "n/a",
        "failedLoginNotBefore": 0,
    }


def get_user(call: Call) -> Reply:
    return 200, reps.user(call.user())


def put_user(call: Call) -> Reply:
    user, body = call.user(), call.body
    if not isinstance(body, dict):
        raise HttpError(400, "unknown_error")
    if "username" in body and str(body["username"]).lower() != user.username:
        raise HttpError(400, "error-user-attribute-read-only")
    for key, attr in (("enabled", "enabled"), ("email", "email"), ("firstName", "first_name")):
        if key in body:
            setattr(user, attr, body[key])
    if "lastName" in body:
        user.last_name = body["lastName"]
    if "attributes" in body:
        user.attributes = dict(body["attributes"] or {})
    return 204, None


def delete_user(call: Call) -> Reply:
    call.store.remove_user(call.realm, call.user())
    return 204, None


# role mappings --------------------------------------------------------------------------------------


def _named_roles(call: Call, container: dict[str, Role]) -> list[Role]:
    """Roles named in the body; Keycloak wants name *and* id to match."""
    if call.body is None:
        return list(container.values())  # Keycloak: no body deletes every mapping
    if not isinstance(call.body, list):
        raise HttpError(400, "invalid_request")
    roles = []
    for rep in call.body:
        found = container.get(rep.get("name", "")) if isinstance(rep, dict) else None
        if found is None or found.id != rep.get("id"):
            raise HttpError(404, "Role not found")
        roles.append(found)
    return roles


def _client_roles(call: Call) -> dict[str, Role]:
    client = call.realm.clients.get(call.params["client"])
    if client is None:
        raise HttpError(404, "Client not found")
    return client.roles


def all_mappings(call: Call) -> Reply:
    return 200, reps.mappings(call.user(), call.realm)


def realm_mappings(call: Call) -> Reply:
    user = call.user()
    held = sorted((r for r in call.realm.roles.values() if r.id in user.roles), key=lambda r: r.name)
    return 200, [reps.role(r) for r in held]


def client_mappings(call: Call) -> Reply:
    user, roles = call.user(), _client_roles(call)
    return 200, [reps.role(r) for r in sorted(roles.values(), key=lambda r: r.name) if r.id in user.roles]


def _change_roles(call: Call, container: dict[str, Role], add: bool) -> Reply:
    user = call.user()
    for found in _named_roles(call, container):
        (user.roles.add if add else user.roles.discard)(found.id)
    return 204, None


def add_realm_mappings(call: Call) -> Reply:
    return _change_roles(call, call.realm.roles, add=True)


def delete_realm_mappings(call: Call) -> Reply:
    return _change_roles(call, call.realm.roles, add=False)


def add_client_mappings(call: Call) -> Reply:
    return _change_roles(call, _client_roles(call), add=True)


def delete_client_mappings(call: Call) -> Reply:
    return _change_roles(call, _client_roles(call), add=False)


# groups ---------------------------------------------------------------------------------------------


def user_groups(call: Call) -> Reply:
    user = call.user()
    held = sorted((call.realm.groups[g] for g in user.groups), key=lambda g: g.path)
    return 200, [reps.group(g, call.realm) for g in call.page(held)]


def _group(call: Call, key: str = "groupId") -> str:
    if call.params[key] not in call.realm.groups:
        raise HttpError(404, "Group not found")
    return call.params[key]


def join_group(call: Call) -> Reply:
    user = call.user()
    user.groups.add(_group(call))
    return 204, None


def leave_group(call: Call) -> Reply:
    user = call.user()
    user.groups.discard(_group(call))
    return 204, None


def _hierarchy(realm: Realm, group_id: str) -> dict[str, Any]:
    rep = reps.group(realm.groups[group_id], realm)
    children = sorted((g for g in realm.groups.values() if g.parent_id == group_id), key=lambda g: g.name)
    rep["subGroups"] = [_hierarchy(realm, c.id) for c in children]
    return rep


def group_by_path(call: Call) -> Reply:
    found = call.realm.group_at("/" + call.params["path"].lstrip("/"))
    if found is None:
        raise HttpError(404, "Group path does not exist")
    return 200, _hierarchy(call.realm, found.id)


def _children(call: Call, parent: str | None) -> Reply:
    """Keycloak 23 lists one level and counts the rest (``subGroupCount``)."""
    level = sorted((g for g in call.realm.groups.values() if g.parent_id == parent), key=lambda g: g.name)
    return 200, [reps.group(g, call.realm) for g in call.page(level)]


def list_groups(call: Call) -> Reply:
    return _children(call, None)


def group_children(call: Call) -> Reply:
    return _children(call, _group(call, "id"))


# sessions, consents, federated identities -------------------------------------------------------------


def user_sessions(call: Call) -> Reply:
    user = call.user()
    return 200, [reps.session(s, user) for s in call.realm.sessions_of(user.id, offline=False)]


def offline_sessions(call: Call) -> Reply:
    user = call.user()
    if call.params["clientUuid"] not in call.realm.clients:
        raise HttpError(404, "Client not found")
    found = [
        s for s in call.realm.sessions_of(user.id, offline=True) if call.params["clientUuid"] in s.clients
    ]
    return 200, [reps.session(s, user) for s in found]


def logout(call: Call) -> Reply:
    """Ends online sessions and sets the user's not-before time (whole seconds), as Keycloak does:
    offline sessions stay listed, but no token issued before that second refreshes any more."""
    user = call.user()
    user.not_before = int(call.store.clock())
    for session in call.realm.sessions_of(user.id, offline=False):
        if session.id not in call.store.outlive_logout:
            call.store.end_session(call.realm, session.id)
    return 204, None


def delete_session(call: Call) -> Reply:
    found = call.realm.sessions.get(call.params["session"])
    if found is None or found.offline:
        raise HttpError(404, "Sesssion not found")  # sic: Keycloak's spelling
    call.store.end_session(call.realm, found.id)
    return 204, None


def list_consents(call: Call) -> Reply:
    return 200, reps.consents(call.user(), call.realm)


def revoke_consent(call: Call) -> Reply:
    """The consent and the client's offline tokens; 404 when neither was there."""
    user = call.user()
    client = call.realm.client(call.params["client"])
    if client is None:
        raise HttpError(404, "Client not found")
    consent = user.consents.pop(client.id, None) is not None
    offline = call.store.leave_client(call.realm, user, client, offline=True)
    if consent:
        call.store.leave_client(call.realm, user, client, offline=False)  # backchannel logout from client
    if not (consent or offline):
        raise HttpError(404, "Consent nor offline token not found")
    return 204, None


def list_links(call: Call) -> Reply:
    return 200, reps.federated(call.user())


def delete_link(call: Call) -> Reply:
    if call.user().links.pop(call.params["provider"], None) is None:
        raise HttpError(404, "Link not found")
    return 204, None


# the realm, clients and roles -----------------------------------------------------------------------


def get_realm(call: Call) -> Reply:
    """Keycloak answers any admin of the realm, but only its name to one who may not view the realm."""
    return 200, reps.realm(call.realm) if call.views_realm else {"realm": call.realm.name}


def list_clients(call: Call) -> Reply:
    found = sorted(call.realm.clients.values(), key=lambda c: c.client_id)
    if "clientId" in call.query:
        want = call.query["clientId"]
        match = (lambda c: want.lower() in c.client_id.lower()) if call.flag("search") else None
        found = [c for c in found if (match(c) if match else c.client_id == want)]
    return 200, [reps.client(c) for c in call.page(found)]


def _one_role(container: dict[str, Role], name: str) -> Reply:
    if name not in container:
        raise HttpError(404, "Could not find role")
    return 200, reps.role(container[name])


def list_client_roles(call: Call) -> Reply:
    roles = sorted(_client_roles_by_id(call).values(), key=lambda r: r.name)
    return 200, [reps.role(r) for r in call.page(roles)]


def _client_roles_by_id(call: Call) -> dict[str, Role]:
    client = call.realm.clients.get(call.params["id"])
    if client is None:
        raise HttpError(404, "Could not find client")
    return client.roles


def get_client_role(call: Call) -> Reply:
    return _one_role(_client_roles_by_id(call), call.params["role-name"])


def list_realm_roles(call: Call) -> Reply:
    return 200, [reps.role(r) for r in call.page(sorted(call.realm.roles.values(), key=lambda r: r.name))]


def get_realm_role(call: Call) -> Reply:
    return _one_role(call.realm.roles, call.params["role-name"])


U = "/{realm}/users/{id}"
ROUTES: tuple[Route, ...] = (
    Route("GET", "/{realm}/users", QUERY_USERS, list_users),
    Route("GET", "/{realm}/users/count", QUERY_USERS, count_users),
    Route("GET", U, VIEW_USERS, get_user),
    Route("PUT", U, MANAGE_USERS, put_user),
    Route("DELETE", U, MANAGE_USERS, delete_user),
    Route("GET", U + "/role-mappings", VIEW_USERS, all_mappings),
    Route("GET", U + "/role-mappings/realm", VIEW_USERS, realm_mappings),
    Route("POST", U + "/role-mappings/realm", MANAGE_USERS, add_realm_mappings),
    Route("DELETE", U + "/role-mappings/realm", MANAGE_USERS, delete_realm_mappings),
    Route("GET", U + "/role-mappings/clients/{client}", VIEW_USERS, client_mappings),
    Route("POST", U + "/role-mappings/clients/{client}", MANAGE_USERS, add_client_mappings),
    Route("DELETE", U + "/role-mappings/clients/{client}", MANAGE_USERS, delete_client_mappings),
    Route("GET", U + "/groups", VIEW_USERS, user_groups),
    Route("PUT", U + "/groups/{groupId}", MANAGE_USERS, join_group),
    Route("DELETE", U + "/groups/{groupId}", MANAGE_USERS, leave_group),
    Route("GET", U + "/sessions", VIEW_USERS, user_sessions),
    Route("GET", U + "/offline-sessions/{clientUuid}", VIEW_USERS, offline_sessions),
    Route("POST", U + "/logout", MANAGE_USERS, logout),
    Route("GET", U + "/consents", VIEW_USERS, list_consents),
    Route("DELETE", U + "/consents/{client}", MANAGE_USERS, revoke_consent),
    Route("GET", U + "/federated-identity", VIEW_USERS, list_links),
    Route("DELETE", U + "/federated-identity/{provider}", MANAGE_USERS, delete_link),
    Route("DELETE", "/{realm}/sessions/{session}", MANAGE_USERS, delete_session),
    Route("GET", "/{realm}/attack-detection/brute-force/users/{userId}", VIEW_USERS, brute_force_status),
    Route("GET", "/{realm}", ANY_ADMIN, get_realm),
    Route("GET", "/{realm}/clients", QUERY_CLIENTS, list_clients),
    Route("GET", "/{realm}/clients/{id}/roles", VIEW_CLIENTS, list_client_roles),
    Route("GET", "/{realm}/clients/{id}/roles/{role-name}", VIEW_CLIENTS, get_client_role),
    Route("GET", "/{realm}/roles", VIEW_REALM, list_realm_roles),
    Route("GET", "/{realm}/roles/{role-name}", VIEW_REALM, get_realm_role),
    Route("GET", "/{realm}/groups", QUERY_GROUPS, list_groups),
    Route("GET", "/{realm}/groups/{id}/children", VIEW_USERS, group_children),
    Route("GET", "/{realm}/group-by-path/{path}", VIEW_USERS, group_by_path, greedy="path"),
)
