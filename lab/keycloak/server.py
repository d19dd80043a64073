"""A Keycloak Admin REST API emulator: real HTTP on loopback, real state, injected clock.

Serves the OIDC token endpoint and the admin routes in `admin.ROUTES`; checks
admin tokens (401) and realm-management roles (403) on every call; answers
injected faults (503, or 429 with ``Retry-After``) before anything else; and
keeps every exchange so a test can count calls and the contract test can hold
each answer to Keycloak's OpenAPI description.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from iam.lab.keycloak.admin import ROUTES, VIEW_REALM, VIEW_USERS, Call, Exchange, HttpError, Route
from iam.lab.keycloak.state import REALM_MANAGEMENT, Client, Consent, Group, Realm, Role, Store, User
from iam.lab.keycloak.tokens import OAuthError, admin_subject, allowed, token
from iam.lab.loopback import LoopbackHttp

TOKEN_PATH = re.compile(r"^/realms/(?P<realm>[^/]+)/protocol/openid-connect/token$")
ADMIN_PREFIX = "/admin/realms"


@dataclass(frozen=True)
class Login:
    """What "log a user in" left behind: an online session and, if asked, an offline token."""

    session_id: str
    refresh_token: str
    offline_session_id: str | None = None
    offline_token: str | None = None


class KeycloakEmulator:
    """One Keycloak server: ``with KeycloakEmulator() as kc: kc.url``.

    The master realm holds ``admin-cli`` and an ``admin`` user with master's
    ``admin`` role, as a fresh Keycloak does; its tokens live 60 s.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        admin_user: str = "admin",
        admin_password: str = "admin-Passw0rd",
    ) -> None:
        self.store = Store(clock)
        self.lock = threading.RLock()
        self.exchanges: list[Exchange] = []
        self._faults: list[tuple[int, float | None, str | None]] = []
        self._http = LoopbackHttp()
        master = self.add_realm("master", access_token_lifespan=60)
        master.roles["admin"] = Role("admin", master.id)
        self.add_client("master", "admin-cli")
        self.add_user("master", admin_user, password=admin_password, realm_roles=["admin"])

    # lifecycle ------------------------------------------------------------------------------------

    def start(self) -> KeycloakEmulator:
        self._http.start(type("Handler", (_Handler,), {"emulator": self}))
        return self

    def stop(self) -> None:
        self._http.stop()

    @property
    def url(self) -> str:
        return self._http.base_url

    def __enter__(self) -> KeycloakEmulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # seeding --------------------------------------------------------------------------------------

    def add_realm(
        self, name: str, access_token_lifespan: float = 300, sso_session_idle: float = 1800
    ) -> Realm:
        with self.lock:
            return self.store.add_realm(
                name, access_lifespan=access_token_lifespan, sso_idle=sso_session_idle
            )

    def realm(self, name: str) -> Realm:
        return self.store.realms[name]

    def add_client(
        self,
        realm: str,
        client_id: str,
        *,
        secret: str | None = None,
        service_account: bool = False,
        admin_roles: Iterable[str] = (),
    ) -> Client:
        """A client; with ``service_account`` its user ``service-account-<clientId>`` can hold admin roles."""
        with self.lock:
            r = self.realm(realm)
            client = self.store.add_client(r, client_id, secret=secret)
            if service_account:
                user = self.store.add_user(r, f"service-account-{client_id}", service_account_of=client.id)
                client.service_account = user.id
                self.set_admin_roles(realm, user.username, admin_roles)
            return client

    def add_realm_role(self, realm: str, name: str) -> Role:
        with self.lock:
            r = self.realm(realm)
            role = r.roles[name] = Role(name, r.id)
            return role

    def add_client_role(self, realm: str, client_id: str, name: str) -> Role:
        with self.lock:
            client = self.realm(realm).client(client_id)
            assert client is not None, f"no client {client_id}"
            role = client.roles[name] = Role(name, client.id, client=client.id)
            return role

    def add_group(self, realm: str, path: str) -> Group:
        with self.lock:
            return self.store.add_group(self.realm(realm), path)

    def add_identity_provider(self, realm: str, alias: str) -> None:
        with self.lock:
            self.realm(realm).idps.add(alias)

    def add_user(
        self,
        realm: str,
        username: str,
        *,
        password: str | None = None,
        enabled: bool = True,
        email: str = "",
        first_name: str = "",
        last_name: str = "",
        realm_roles: Iterable[str] = (),
        client_roles: Mapping[str, Iterable[str]] | None = None,
        groups: Iterable[str] = (),
        links: Mapping[str, str] | None = None,
    ) -> User:
        """A user with direct role mappings, group memberships and identity-provider links."""
        with self.lock:
            r = self.realm(realm)
            user = self.store.add_user(
                r,
                username,
                password=password,
                enabled=enabled,
                email=email,
                first_name=first_name,
                last_name=last_name,
            )
            user.roles |= {r.roles[name].id for name in realm_roles}
            for client_id, names in (client_roles or {}).items():
                client = r.client(client_id)
                assert client is not None, f"no client {client_id}"
                user.roles |= {client.roles[name].id for name in names}
            user.groups |= {self.store.add_group(r, path).id for path in groups}
            for alias, external in (links or {}).items():
                assert alias in r.idps, f"no identity provider {alias}"
                user.links[alias] = (f"{alias}-{external}", external)
            return user

    def user(self, realm: str, username: str) -> User:
        found = self.realm(realm).user_named(username)
        assert found is not None, f"no user {username}"
        return found

    def set_admin_roles(self, realm: str, username: str, roles: Iterable[str]) -> None:
        """Make ``roles`` the user's realm-management roles (they count from the user's next token)."""
        with self.lock:
            r = self.realm(realm)
            rm = r.client(REALM_MANAGEMENT)
            assert rm is not None
            user = self.user(realm, username)
            user.roles -= {role.id for role in rm.roles.values()}
            user.roles |= {rm.roles[name].id for name in roles}

    def login(
        self,
        realm: str,
        username: str,
        client_id: str,
        *,
        offline: bool = False,
        consent: Iterable[str] | None = None,
        ip: str = "10.0.0.7",
    ) -> Login:
        """What a browser login leaves: an online session, maybe an offline token and a consent."""
        with self.lock:
            r = self.realm(realm)
            user, client = self.user(realm, username), r.client(client_id)
            assert client is not None, f"no client {client_id}"
            online = self.store.open_session(r, user, client, offline=False, ip=ip)
            refresh = self.store.issue(r, user, client, "refresh", online)
            if consent is not None:
                user.consents[client.id] = Consent(list(consent), self.store.clock())
            if not offline:
                return Login(online.id, refresh)
            held = self.store.open_session(r, user, client, offline=True, ip=ip)
            return Login(online.id, refresh, held.id, self.store.issue(r, user, client, "offline", held))

    def outlive_logout(self, session_id: str) -> None:
        """Let one session survive ``POST /users/{id}/logout`` (a login racing the logout)."""
        with self.lock:
            self.store.outlive_logout.add(session_id)

    # faults and records ---------------------------------------------------------------------------

    def fail_next(
        self, count: int, status: int = 503, retry_after: float | None = None, template: str | None = None
    ) -> None:
        """The next ``count`` requests answer ``status`` (with ``template``: only that route's)."""
        with self.lock:
            self._faults += [(status, retry_after, template)] * count

    def calls(self, template: str | None = None, method: str | None = None) -> list[Exchange]:
        with self.lock:
            return [
                e
                for e in self.exchanges
                if (template is None or e.template == template) and (method is None or e.method == method)
            ]

    def token_grants(self) -> list[str]:
        """The grant type of every token request answered, in order."""
        with self.lock:
            return [e.request.get("grant_type", "") for e in self.exchanges if TOKEN_PATH.match(e.path)]

    # HTTP -----------------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Any, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        """Answer one request; the HTTP handler only moves bytes."""
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        extra: dict[str, str] = {}
        with self.lock:
            request = _parse(raw, headers.get("Content-Type", ""))
            route = self._route(method, parts.path)
            template = route[0].template if route else None
            fault = next((f for f in self._faults if f[2] in (None, template)), None)
            if fault is not None:
                self._faults.remove(fault)
                status, retry_after, _ = fault
                body: Any = {"error": f"HTTP {status} injected fault"}
                if retry_after is not None:
                    extra["Retry-After"] = str(int(retry_after))
            elif found := TOKEN_PATH.match(parts.path):
                status, body = self._token(found["realm"], request)
            elif route is not None:
                status, body = self._admin(*route, query, request, headers)
            else:
                status, body = 404, {"error": "HTTP 404 Not Found"}
            self.exchanges.append(Exchange(method, parts.path, template, query, status, request, body, extra))
        payload = b"" if body is None else json.dumps(body).encode()
        if body is not None:
            extra["Content-Type"] = "application/json"
        return status, extra, payload

    def _token(self, realm_name: str, form: Any) -> tuple[int, Any]:
        realm = self.store.realms.get(realm_name)
        if realm is None:
            return 404, {"error": "Realm does not exist"}
        try:
            return 200, token(self.store, realm, form if isinstance(form, dict) else {})
        except OAuthError as exc:
            return exc.status, exc.body

    def _route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        if not path.startswith(ADMIN_PREFIX + "/"):
            return None
        for route in ROUTES:
            params = route.match(method, path[len(ADMIN_PREFIX) :])
            if params is not None:
                return route, {k: unquote(v) for k, v in params.items()}
        return None

    def _admin(
        self, route: Route, params: dict[str, str], query: dict[str, str], body: Any, headers: Any
    ) -> tuple[int, Any]:
        """401 (token), 404 (realm), 403 (role), then the route's own answer."""
        try:
            auth_realm, subject = admin_subject(self.store, headers.get("Authorization"))
            target = self.store.realms.get(params["realm"])
            if target is None:
                raise HttpError(404, "Realm not found.")
            if not allowed(auth_realm, subject, target, route.needs):
                raise HttpError(403, "HTTP 403 Forbidden")
            sees_users = allowed(auth_realm, subject, target, VIEW_USERS)
            views_realm = allowed(auth_realm, subject, target, VIEW_REALM)
            return route.handler(Call(self.store, target, params, query, body, sees_users, views_realm))
        except HttpError as exc:
            return exc.status, {"error": exc.message}


def _parse(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    text = raw.decode()
    if "x-www-form-urlencoded" in content_type:
        return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
    try:
        return json.loads(text)
    except ValueError:
        return text


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as python-keycloak's session expects
    disable_nagle_algorithm = True  # headers and body go in two writes: without this each call waits ~40 ms
    emulator: KeycloakEmulator

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, headers, body = self.emulator.handle(self.command, self.path, self.headers, raw)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, *_args: object) -> None:
        """Quiet: the exchange log is the record."""
