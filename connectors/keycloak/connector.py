"""The Keycloak connector: a realm's users, their roles, groups, sessions and grants.

Entitlements are direct mappings: ``realm-role:<name>``,
``client-role:<clientId>/<role>`` and ``group:<path>``. Credentials are what
lets a person back in without a password: ``consent:<clientId>`` (a consent
or an offline token; Keycloak lists clients holding only an offline token
among the consents) and ``idp:<alias>`` (a federated-identity link).
Termination disables, cuts every way back in and strips every mapping, in
the order of `termination_steps`. Names in URL paths are percent-encoded
(python-keycloak formats them in raw).

"No such user" is trusted only from an admin that may view every user:
Keycloak leaves out of a search (and its count) each user the admin may not
view, so an admin holding ``query-users`` alone finds nobody and is told no
error. `_sees_every_user` proves the right each time such an answer is to be
believed (a search finding nobody, a listing's last page), with the token
that got it: ``iam serve`` keeps one connector for its life, and a right
proven at its start says nothing of an account trimmed since.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

from iam.connectors.keycloak import lifespan
from iam.connectors.keycloak.session import KeycloakSession
from iam.connectors.keycloak.settings import KeycloakSettings
from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakDeleteError, raise_error_from_response

from iam import contract, errors
from iam.model import AccountState, Credential, Entitlement, Outcome, Result, Session

# The realm-management role each kind of call needs, named when Keycloak answers 403.
VIEW_USERS = "view-users"
MANAGE_USERS = "manage-users"
VIEW_REALM = "view-realm"
VIEW_CLIENTS = "view-clients"

REALM_ROLE, CLIENT_ROLE, GROUP = "realm-role", "client-role", "group"
CONSENT, IDP = "consent", "idp"
_NO_ACCOUNT = Result(Outcome.ABSENT, "no account")
#: An id no Keycloak user has: its brute-force status is answered only to an admin who may view every user.
_NO_USER_ID = "iam-probe-no-such-user"
T = TypeVar("T")


def _seg(name: str) -> str:
    return quote(name, safe="")


class KeycloakConnector(
    contract.Connector,
    contract.Readable,
    contract.Entitling,
    contract.Disableable,
    contract.SessionRevocable,
    contract.CredentialRevocable,
    contract.Terminable,
    contract.Deletable,
):
    """One Keycloak realm, administered through python-keycloak."""

    settings_model = KeycloakSettings
    settings: KeycloakSettings

    def __init__(self, name: str, settings: Mapping[str, Any] | KeycloakSettings) -> None:
        super().__init__(name, settings)
        s = self.settings
        self.realm = s.realm
        self.page_size = s.page_size
        self.managed_clients = frozenset(s.managed_clients) if s.managed_clients is not None else None
        self.api = KeycloakSession(name, s)

    def check(self) -> str:
        count = self._in_realm("count users", lambda kc: kc.users_count())
        self._sees_every_user()
        try:
            window = self.token_window().summary()
        except errors.PermissionDenied as exc:
            window = lifespan.unknown_caveat(exc)
        return (
            f"{self.api.who} (realm {self.api.auth_realm}) administers realm {self.realm} "
            f"at {self.api.server_url}: {count} users; {window}"
        )

    def token_window(self) -> lifespan.TokenWindow:
        """How long an access token issued before a termination stays valid (no step can shorten it)."""
        what = "read the access token lifespans"
        realm = self._fetch(
            what,
            VIEW_REALM,
            lambda kc: kc.get_realm(self.realm),
            errors.PermanentError(f"{what}: realm {self.realm} does not exist at {self.api.server_url}"),
        )
        seconds = lifespan.realm_lifespan(self.realm, realm, self.api.who)
        with self.api.call(what, VIEW_CLIENTS) as kc:
            clients = kc.get_clients()
        return lifespan.window(self.realm, seconds, clients)

    def _token_caveat(self) -> str:
        try:
            return self.token_window().caveat()
        except errors.PermissionDenied as exc:
            return lifespan.unknown_caveat(exc)

    def close(self) -> None:
        self.api.close()

    # reading ------------------------------------------------------------------------------------

    def _fetch(
        self, what: str, needs: str, fetch: Callable[[KeycloakAdmin], T], missing: errors.PermanentError
    ) -> T:
        """One read whose 404 means ``missing`` (a permanent error), never "no account"."""
        try:
            with self.api.call(what, needs) as kc:
                return fetch(kc)
        except errors.NoSuchObject:
            raise missing from None

    def _in_realm(self, what: str, fetch: Callable[[KeycloakAdmin], T]) -> T:
        """A realm-level read: a 404 there means the realm is missing, which no step may take for absent."""
        where = f"{what}: realm {self.realm} does not exist at {self.api.server_url} (check `realm`)"
        return self._fetch(what, VIEW_USERS, fetch, errors.PermanentError(where))

    def _sees_every_user(self) -> None:
        """Prove that a user search leaves nobody out; raise otherwise.

        Keycloak answers an unknown id's brute-force status only to an admin
        allowed to view every user of the realm (``view-users`` or
        ``manage-users``), the same right its user search needs to list everyone.
        Never remembered: one cheap call, made only when an answer found nobody (more).
        """
        try:
            self._in_realm(
                "prove every user is visible", lambda kc: kc.get_bruteforce_detection_status(_NO_USER_ID)
            )
        except errors.PermissionDenied as exc:
            raise errors.PermissionDenied(
                f"{exc}. Without it Keycloak leaves every user {self.api.who} may not view out of a "
                "search, so 'no such user' cannot be told from 'not allowed to see'"
            ) from None

    def _find(self, username: str) -> dict[str, Any] | None:
        """The user by exact username (Keycloak stores them lower-case); None only if provably absent."""
        query = {"username": username, "exact": "true", "first": 0, "max": 2}
        found = self._in_realm(f"look up {username}", lambda kc: kc.get_users(query))
        matches = [u for u in found if u.get("username", "").lower() == username.lower()]
        if len(matches) > 1:
            raise errors.AmbiguousAccount(f"{len(matches)} users in realm {self.realm} are named {username}")
        if not matches:
            self._sees_every_user()
        return matches[0] if matches else None

    def read_account(self, username: str) -> AccountState | None:
        user = self._find(username)
        if user is None:
            return None
        try:
            return self._state(user)
        except errors.NoSuchObject:
            self._vanished(user)
            return None

    def _vanished(self, user: Mapping[str, Any]) -> None:
        """A 404 while reading a listed user: fine if the user was deleted meanwhile, an error if not."""
        if self._find(user["username"]) is None:
            return
        raise errors.IncompleteRead(
            f"read {user['username']}: realm {self.realm} answered 404 for part of a user that exists; "
            "their access could not be read in full"
        )

    def iter_accounts(self) -> Iterator[AccountState]:
        first = 0
        while True:
            query = {"first": first, "max": self.page_size}

            def listed(kc: Any, q: dict[str, int] = query) -> list[dict[str, Any]]:
                users: list[dict[str, Any]] = kc.get_users(q)
                return users

            page = self._in_realm(f"list users from {first}", listed)
            for user in page:
                try:
                    yield self._state(user)
                except errors.NoSuchObject:
                    self._vanished(user)
            if len(page) < self.page_size:
                self._sees_every_user()  # "nobody more" is believed only from an admin who sees all
                return
            first += len(page)

    def _state(self, user: Mapping[str, Any]) -> AccountState:
        uid, name = user["id"], user["username"]
        with self.api.call(f"read {name}", VIEW_USERS) as kc:
            mappings = kc.get_all_roles_of_user(uid)
            groups = kc.get_user_groups(uid, brief_representation=True)
            sessions = kc.get_sessions(uid)
            consents = kc.user_consents(uid)
            links = kc.get_user_social_logins(uid)
        entitlements = {Entitlement(REALM_ROLE, r["name"]) for r in mappings.get("realmMappings") or []}
        for client_id, held in (mappings.get("clientMappings") or {}).items():
            entitlements |= {Entitlement(CLIENT_ROLE, f"{client_id}/{r['name']}") for r in held["mappings"]}
        entitlements |= {Entitlement(GROUP, g["path"]) for g in groups}
        # Keycloak lists offline-token clients from a hash set: sorted, a plan reads the same every time.
        credentials = [_consent(c) for c in sorted(consents, key=lambda c: c["clientId"])]
        credentials += [
            Credential(
                "federated-identity", f"{IDP}:{link['identityProvider']}", detail=link.get("userName", "")
            )
            for link in sorted(links, key=lambda link: link["identityProvider"])
        ]
        return AccountState(
            system=self.name,
            username=name,
            ref=uid,
            enabled=bool(user.get("enabled")),
            entitlements=frozenset(entitlements),
            sessions=tuple(Session(s["id"], _session_detail(s)) for s in sessions),
            credentials=tuple(credentials),
            attributes={k: user[k] for k in ("email", "firstName", "lastName") if user.get(k)},
            created=_time(user.get("createdTimestamp")),
            last_login=_time(max((s.get("lastAccess") or 0 for s in sessions), default=None)),
        )

    # entitlements -------------------------------------------------------------------------------

    def grant(self, username: str, entitlement: Entitlement) -> Result:
        user = self._find(username)
        if user is None:
            return _NO_ACCOUNT
        uid, kind, value = user["id"], entitlement.kind, entitlement.value
        what = f"grant {entitlement} to {username}"
        if kind == REALM_ROLE:
            with self.api.call(what, VIEW_USERS) as kc:
                if any(r["name"] == value for r in kc.get_realm_roles_of_user(uid)):
                    return Result(Outcome.UNCHANGED, str(entitlement))
            role = self._lookup(
                what, VIEW_REALM, lambda kc: kc.get_realm_role(_seg(value)), "realm role", value
            )
            with self.api.call(what, MANAGE_USERS) as kc:
                kc.assign_realm_roles(uid, [role])
        elif kind == CLIENT_ROLE:
            client_id, role_name = _split_client_role(value)
            if self.managed_clients is not None and client_id not in self.managed_clients:
                raise errors.Unsupported(
                    f"{what}: client {client_id} is not in managed_clients of {self.name}; "
                    "add it there to let iam grant its roles"
                )
            with self.api.call(what, VIEW_CLIENTS) as kc:
                client_uuid = kc.get_client_id(client_id)
            if client_uuid is None:
                raise errors.InvalidAttribute(f"{what}: realm {self.realm} has no client {client_id}")
            with self.api.call(what, VIEW_USERS) as kc:
                if any(r["name"] == role_name for r in kc.get_client_roles_of_user(uid, client_uuid)):
                    return Result(Outcome.UNCHANGED, str(entitlement))
            role = self._lookup(
                what, VIEW_CLIENTS, lambda kc: kc.get_client_role(client_uuid, _seg(role_name)), "role", value
            )
            with self.api.call(what, MANAGE_USERS) as kc:
                kc.assign_client_role(uid, client_uuid, [role])
        elif kind == GROUP:
            with self.api.call(what, VIEW_USERS) as kc:
                if any(g["path"] == value for g in kc.get_user_groups(uid, brief_representation=True)):
                    return Result(Outcome.UNCHANGED, str(entitlement))
            group = self._lookup(
                what, VIEW_USERS, lambda kc: kc.get_group_by_path(quote(value, safe="/")), "group", value
            )
            if "id" not in group:  # some python-keycloak versions (5.5 among them) return the 404 body
                raise errors.InvalidAttribute(f"{what}: realm {self.realm} has no group {value}")
            with self.api.call(what, MANAGE_USERS) as kc:
                kc.group_user_add(uid, group["id"])
        else:
            raise _unknown_kind(entitlement)
        return Result(Outcome.UPDATED, str(entitlement))

    def _lookup(self, what: str, needs: str, fetch: Callable[[KeycloakAdmin], T], noun: str, value: str) -> T:
        return self._fetch(
            what, needs, fetch, errors.InvalidAttribute(f"{what}: realm {self.realm} has no {noun} {value}")
        )

    def revoke(self, username: str, entitlement: Entitlement) -> Result:
        user = self._find(username)
        if user is None:
            return _NO_ACCOUNT
        uid, kind, value = user["id"], entitlement.kind, entitlement.value
        what = f"revoke {entitlement} from {username}"
        unchanged = Result(Outcome.UNCHANGED, str(entitlement))
        try:
            if kind == REALM_ROLE:
                with self.api.call(what, VIEW_USERS) as kc:
                    held = [r for r in kc.get_realm_roles_of_user(uid) if r["name"] == value]
                if not held:
                    return unchanged
                with self.api.call(what, MANAGE_USERS) as kc:
                    kc.delete_realm_roles_of_user(uid, held)
            elif kind == CLIENT_ROLE:
                client_id, role_name = _split_client_role(value)
                with self.api.call(what, VIEW_USERS) as kc:
                    mapping = (kc.get_all_roles_of_user(uid).get("clientMappings") or {}).get(client_id)
                held = [r for r in mapping["mappings"] if r["name"] == role_name] if mapping else []
                if not mapping or not held:
                    return unchanged
                with self.api.call(what, MANAGE_USERS) as kc:
                    kc.delete_client_roles_of_user(uid, mapping["id"], held)
            elif kind == GROUP:
                with self.api.call(what, VIEW_USERS) as kc:
                    held = [
                        g for g in kc.get_user_groups(uid, brief_representation=True) if g["path"] == value
                    ]
                if not held:
                    return unchanged
                with self.api.call(what, MANAGE_USERS) as kc:
                    kc.group_user_remove(uid, held[0]["id"])
            else:
                raise _unknown_kind(entitlement)
        except errors.NoSuchObject:
            return _NO_ACCOUNT
        return Result(Outcome.UPDATED, str(entitlement))

    # disable, sessions, credentials, delete -------------------------------------------------------

    def disable(self, username: str) -> Result:
        return self._set_enabled(username, False)

    def enable(self, username: str) -> Result:
        return self._set_enabled(username, True)

    def _set_enabled(self, username: str, enabled: bool) -> Result:
        user = self._find(username)
        if user is None:
            return _NO_ACCOUNT
        if bool(user.get("enabled")) is enabled:
            return Result(Outcome.UNCHANGED)
        what = f"{'enable' if enabled else 'disable'} {username}"
        try:
            # The whole representation goes back: Keycloak's PUT may clear what a partial one leaves out.
            with self.api.call(what, VIEW_USERS) as kc:
                full = kc.get_user(user["id"])
            full["enabled"] = enabled
            with self.api.call(what, MANAGE_USERS) as kc:
                kc.update_user(user["id"], full)
        except errors.NoSuchObject:
            return _NO_ACCOUNT
        return Result(Outcome.UPDATED)

    def end_sessions(self, username: str) -> Result:
        """Log the user out, then end any session that outlived the logout."""
        user = self._find(username)
        if user is None:
            return _NO_ACCOUNT
        uid, what = user["id"], f"end sessions of {username}"
        try:
            with self.api.call(what, VIEW_USERS) as kc:
                before = kc.get_sessions(uid)
            if not before:
                return Result(Outcome.UNCHANGED)
            with self.api.call(what, MANAGE_USERS) as kc:
                kc.user_logout(uid)
            with self.api.call(what, VIEW_USERS) as kc:
                left = kc.get_sessions(uid)
        except errors.NoSuchObject:
            return _NO_ACCOUNT
        for session in left:
            try:
                with self.api.call(f"end session {session['id']} of {username}", MANAGE_USERS) as kc:
                    path = f"admin/realms/{_seg(self.realm)}/sessions/{_seg(session['id'])}"
                    raise_error_from_response(kc.connection.raw_delete(path), KeycloakDeleteError, [204])
            except errors.NoSuchObject:
                continue  # ended meanwhile
        return Result(Outcome.UPDATED, f"ended {len(before)} session(s)")

    def revoke_credential(self, username: str, credential_id: str) -> Result:
        """``consent:<clientId>``: the consent and the client's offline tokens; ``idp:<alias>``: the link."""
        kind, _, ref = credential_id.partition(":")
        if kind not in (CONSENT, IDP) or not ref:
            raise errors.InvalidAttribute(
                f"unknown Keycloak credential {credential_id!r}: expected consent:<clientId> or idp:<alias>"
            )
        user = self._find(username)
        if user is None:
            return _NO_ACCOUNT
        try:
            with self.api.call(f"revoke {credential_id} of {username}", MANAGE_USERS) as kc:
                if kind == CONSENT:
                    kc.revoke_consent(user["id"], _seg(ref))
                else:
                    kc.delete_user_social_login(user["id"], _seg(ref))
        except errors.NoSuchObject:
            return Result(Outcome.UNCHANGED, credential_id)  # Keycloak's 404: nothing was left to revoke
        return Result(Outcome.UPDATED, credential_id)

    def delete_account(self, username: str) -> Result:
        user = self._find(username)
        if user is None:
            return _NO_ACCOUNT
        try:
            with self.api.call(f"delete {username}", MANAGE_USERS) as kc:
                kc.delete_user(user["id"])
        except errors.NoSuchObject:
            return _NO_ACCOUNT
        return Result(Outcome.UPDATED, user["id"])

    # termination --------------------------------------------------------------------------------

    def termination_steps(self, state: AccountState) -> list[contract.StepSpec]:
        """Disable (no new logins or refreshes), end live sessions, revoke offline tokens and
        consents, strip realm roles, client roles and groups, and unlink identity providers last:
        the link still ties the account to its upstream identity while the rest is stripped, and a
        disabled account cannot log in through it. The disable step's description states the
        window no step can close (access tokens already issued), so the run's evidence does."""
        steps: list[contract.StepSpec] = []
        if state.enabled:
            desc = f"disable the user ({self._token_caveat()})"
            steps.append(contract.StepSpec(contract.Op.DISABLE, description=desc))
        if state.sessions:
            steps.append(
                contract.StepSpec(
                    contract.Op.END_SESSIONS, description=f"end {len(state.sessions)} session(s)"
                )
            )
        active = [c for c in state.credentials if c.active]
        for c in active:
            if c.id.startswith(f"{CONSENT}:"):
                desc = f"revoke consent and offline tokens for {c.id.partition(':')[2]}"
                steps.append(contract.StepSpec(contract.Op.REVOKE_CREDENTIAL, c.id, desc))
        order = {REALM_ROLE: 0, CLIENT_ROLE: 1, GROUP: 2}
        for e in sorted(state.entitlements, key=lambda e: (order.get(e.kind, 3), e.value)):
            steps.append(contract.StepSpec(contract.Op.REVOKE, str(e), f"remove {e.kind} {e.value}"))
        for c in active:
            if not c.id.startswith(f"{CONSENT}:"):
                steps.append(
                    contract.StepSpec(contract.Op.REVOKE_CREDENTIAL, c.id, f"remove {c.kind} {c.id}")
                )
        return steps


def _session_detail(rep: Mapping[str, Any]) -> str:
    clients = ", ".join(sorted((rep.get("clients") or {}).values()))
    return f"from {rep.get('ipAddress', '?')} via {clients or 'no client'}"


def _time(millis: int | None) -> datetime | None:
    """Keycloak's epoch milliseconds; ``last_login`` is known only while a session shows it."""
    return datetime.fromtimestamp(millis / 1000, tz=UTC) if millis else None


def _consent(rep: Mapping[str, Any]) -> Credential:
    offline = any(g.get("key") == "Offline Token" for g in rep.get("additionalGrants") or [])
    scopes = ", ".join(rep.get("grantedClientScopes") or [])
    detail = "; ".join(
        p for p in ("offline token" if offline else "", f"scopes {scopes}" if scopes else "") if p
    )
    return Credential(CONSENT, f"{CONSENT}:{rep['clientId']}", detail=detail)


def _split_client_role(value: str) -> tuple[str, str]:
    """``clientId/role``; split at the last ``/`` because clientIds (SAML entity ids) may hold one."""
    client_id, sep, role = value.rpartition("/")
    if not (sep and client_id and role):
        raise errors.InvalidAttribute(f"client role {value!r} is not of the form <clientId>/<role>")
    return client_id, role


def _unknown_kind(entitlement: Entitlement) -> errors.InvalidAttribute:
    return errors.InvalidAttribute(
        f"unknown Keycloak entitlement kind {entitlement.kind!r} in {entitlement}: "
        f"expected {REALM_ROLE}, {CLIENT_ROLE} or {GROUP}"
    )
