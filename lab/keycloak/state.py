"""In-memory Keycloak state: realms, clients, roles, groups, users, sessions, consents, tokens.

Only what the served routes need, shaped like Keycloak's model: ids are
UUIDs, admin rights are client roles of each realm's ``realm-management``
client (so an admin who leaves visibly holds them), and every time comes from
an injected clock so a test moves time instead of sleeping.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

#: The admin roles of ``realm-management``; ``realm-admin`` is composite of all others.
ADMIN_ROLES = (
    "view-users",
    "manage-users",
    "query-users",
    "query-groups",
    "view-clients",
    "query-clients",
    "manage-clients",
    "view-realm",
    "manage-realm",
    "realm-admin",
)
REALM_MANAGEMENT = "realm-management"


class FakeClock:
    """A clock the test moves by hand: ``clock.advance(61)`` instead of sleeping."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Role:
    name: str
    container_id: str
    client: str | None = None  # the client's UUID for a client role
    composite: bool = False
    id: str = field(default_factory=new_id)


@dataclass
class Client:
    client_id: str
    secret: str | None = None  # None: a public client
    service_account: str | None = None  # id of its service-account user
    bearer_only: bool = False
    roles: dict[str, Role] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)  # e.g. its own access.token.lifespan
    id: str = field(default_factory=new_id)


@dataclass
class Group:
    name: str
    path: str
    parent_id: str | None = None
    id: str = field(default_factory=new_id)


@dataclass
class UserSession:
    user_id: str
    start: float
    clients: dict[str, str]  # client UUID -> clientId
    offline: bool = False
    ip: str = "127.0.0.1"
    last_access: float = 0.0
    id: str = field(default_factory=lambda: secrets.token_urlsafe(18))  # Keycloak 26's are not UUIDs


@dataclass
class Consent:
    scopes: list[str]
    created: float


@dataclass
class User:
    username: str
    created: float
    enabled: bool = True
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    password: str | None = None
    roles: set[str] = field(default_factory=set)  # role ids, realm and client roles alike
    groups: set[str] = field(default_factory=set)
    consents: dict[str, Consent] = field(default_factory=dict)  # client UUID -> consent
    links: dict[str, tuple[str, str]] = field(default_factory=dict)  # idp alias -> (userId, userName)
    service_account_of: str | None = None  # client UUID
    not_before: int = 0  # epoch seconds, as Keycloak keeps it
    attributes: dict[str, list[str]] = field(default_factory=dict)
    id: str = field(default_factory=new_id)


@dataclass
class Token:
    realm: str
    user_id: str
    client: str  # client UUID
    kind: str  # "access", "refresh" or "offline"
    issued: float
    expires: float
    session_id: str | None = None
    #: The user's role ids when the token was issued: Keycloak judges an admin by the token's roles.
    roles: frozenset[str] = frozenset()


@dataclass
class Realm:
    name: str
    access_lifespan: float = 300.0
    sso_idle: float = 1800.0
    offline_idle: float = 30 * 86400.0
    users: dict[str, User] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)  # realm roles by name
    groups: dict[str, Group] = field(default_factory=dict)
    sessions: dict[str, UserSession] = field(default_factory=dict)
    idps: set[str] = field(default_factory=set)
    id: str = field(default_factory=new_id)

    def client(self, client_id: str) -> Client | None:
        return next((c for c in self.clients.values() if c.client_id == client_id), None)

    def user_named(self, username: str) -> User | None:
        name = username.lower()
        return next((u for u in self.users.values() if u.username == name), None)

    def group_at(self, path: str) -> Group | None:
        return next((g for g in self.groups.values() if g.path == path), None)

    def role_by_id(self, role_id: str) -> Role | None:
        for role in self.roles.values():
            if role.id == role_id:
                return role
        for client in self.clients.values():
            for role in client.roles.values():
                if role.id == role_id:
                    return role
        return None

    def sessions_of(self, user_id: str, *, offline: bool) -> list[UserSession]:
        found = [s for s in self.sessions.values() if s.user_id == user_id and s.offline == offline]
        return sorted(found, key=lambda s: (s.start, s.id))

    def admin_roles(self, role_ids: frozenset[str]) -> set[str]:
        """The realm-management roles among ``role_ids``, with realm-admin expanded."""
        rm = self.client(REALM_MANAGEMENT)
        held = {r.name for r in rm.roles.values() if r.id in role_ids} if rm else set()
        return set(ADMIN_ROLES) if "realm-admin" in held else held


def _jwt_shaped(kind: str, issued: int, expires: int) -> str:
    """A token shaped as Keycloak's (a JWT whose ``iat`` a client may read), signed by nobody:
    the emulator looks tokens up, it does not verify them."""

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    typ = {"access": "Bearer", "refresh": "Refresh", "offline": "Offline"}[kind]
    claims = {"iat": issued, "exp": expires, "jti": secrets.token_hex(16), "typ": typ}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.{secrets.token_urlsafe(16)}"


class Store:
    """Every realm plus the tokens issued, behind the emulator's one lock."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.realms: dict[str, Realm] = {}
        self.tokens: dict[str, Token] = {}
        #: Sessions ``POST /logout`` misses, as when a login races it on another cluster node.
        self.outlive_logout: set[str] = set()

    def add_realm(self, name: str, access_lifespan: float = 300.0, sso_idle: float = 1800.0) -> Realm:
        realm = Realm(name, access_lifespan=access_lifespan, sso_idle=sso_idle)
        self.realms[name] = realm
        for role in ("offline_access", "uma_authorization"):
            realm.roles[role] = Role(role, realm.id)
        realm.roles[f"default-roles-{name}"] = Role(f"default-roles-{name}", realm.id, composite=True)
        rm = self.add_client(realm, REALM_MANAGEMENT, bearer_only=True)
        for role in ADMIN_ROLES:
            rm.roles[role] = Role(role, rm.id, client=rm.id, composite=role == "realm-admin")
        return realm

    def add_client(self, realm: Realm, client_id: str, **options: object) -> Client:
        client = Client(client_id, **options)  # type: ignore[arg-type]
        realm.clients[client.id] = client
        return client

    def add_user(self, realm: Realm, username: str, **fields: object) -> User:
        user = User(username.lower(), created=self.clock(), **fields)  # type: ignore[arg-type]
        user.roles.add(realm.roles[f"default-roles-{realm.name}"].id)  # as Keycloak does on create
        realm.users[user.id] = user
        return user

    def add_group(self, realm: Realm, path: str) -> Group:
        """The group at ``/a/b``, creating missing parents."""
        parent: Group | None = None
        sofar = ""
        for name in [p for p in path.split("/") if p]:
            sofar += "/" + name
            group = realm.group_at(sofar)
            if group is None:
                group = Group(name, sofar, parent.id if parent else None)
                realm.groups[group.id] = group
            parent = group
        assert parent is not None, "a group path needs at least one name"
        return parent

    def open_session(
        self, realm: Realm, user: User, client: Client, *, offline: bool, ip: str = "127.0.0.1"
    ) -> UserSession:
        """A new online session, or the user's offline session joined by ``client``."""
        now = self.clock()
        if offline:
            existing = realm.sessions_of(user.id, offline=True)
            if existing:
                existing[0].clients[client.id] = client.client_id
                return existing[0]
        session = UserSession(user.id, now, {client.id: client.client_id}, offline, ip, now)
        realm.sessions[session.id] = session
        return session

    def issue(self, realm: Realm, user: User, client: Client, kind: str, session: UserSession | None) -> str:
        lifetime = {"access": realm.access_lifespan, "refresh": realm.sso_idle, "offline": realm.offline_idle}
        now = self.clock()
        value = _jwt_shaped(kind, int(now), int(now + lifetime[kind]))
        self.tokens[value] = Token(
            realm.name,
            user.id,
            client.id,
            kind,
            now,
            now + lifetime[kind],
            session.id if session else None,
            frozenset(user.roles),
        )
        return value

    def end_session(self, realm: Realm, session_id: str) -> None:
        realm.sessions.pop(session_id, None)

    def leave_client(self, realm: Realm, user: User, client: Client, *, offline: bool) -> bool:
        """Drop ``client`` from the user's sessions; a session left with no client ends."""
        found = False
        for session in realm.sessions_of(user.id, offline=offline):
            if session.clients.pop(client.id, None) is not None:
                found = True
                if not session.clients:
                    self.end_session(realm, session.id)
        return found

    def remove_user(self, realm: Realm, user: User) -> None:
        for session in realm.sessions_of(user.id, offline=False) + realm.sessions_of(user.id, offline=True):
            self.end_session(realm, session.id)
        del realm.users[user.id]
