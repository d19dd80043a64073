"""The OpenAccess routes the emulator serves, each named by its template in the vendor's swagger.

Every vendor route needs the ``version`` query parameter; all but
``GET /version`` need an ``Application-Id`` the site licenses; all but the
login need a live ``Session-Token`` (401 otherwise, as for an expired one);
writes need a user allowed to write, reads of a class a user allowed to read
it (403). Parameters may sit in the query or
in the body, as the description says OpenAccess accepts both. The one route
outside the vendor API, ``POST /_emulator/swipe``, is the door reader.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from iam.lab.lenel.state import TYPES, ApiError, Store, TypeSpec, invalid, matches, parse_filter

BASE = "/api/access/onguard/openaccess"
EMULATOR_BASE = "/_emulator"
VERSION = "1.0"
Reply = tuple[int, Any]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: str
    app_id: bool = True
    session: bool = True
    writes: bool = False
    vendor: bool = True


ROUTES = (
    Route("GET", "/version", "version", app_id=False, session=False),
    Route("POST", "/authentication", "login", session=False),
    Route("DELETE", "/authentication", "logout"),
    Route("GET", "/instances", "get_instances"),
    Route("POST", "/instances", "add_instance", writes=True),
    Route("PUT", "/instances", "modify_instance", writes=True),
    Route("DELETE", "/instances", "delete_instance", writes=True),
)
#: Outside the vendor API, clearly: the emulated door reader.
EMULATOR_ROUTES = (Route("POST", "/swipe", "swipe", app_id=False, session=False, vendor=False),)


@dataclass
class Exchange:
    """One request and its answer, kept for counting calls and for the contract test."""

    method: str
    path: str
    template: str | None  # the vendor route that served it; None for anything else
    query: dict[str, str]
    status: int
    request: Any
    response: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class User:
    name: str
    password: str
    directory_id: str | None = None
    can_write: bool = True
    cannot_read: set[str] = field(default_factory=set)  # classes (type names) this user may not list


@dataclass
class Session:
    token: str
    user: User
    expires: datetime


class Api:
    """The vendor routes over a `Store`; answers (status, JSON body) or raises `ApiError`."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime],
        application_ids: set[str],
        token_lifetime: timedelta,
        product_version: str,
        swipe: Callable[[int, str], tuple[str, str]],
    ) -> None:
        self.store = store
        self.clock = clock
        self.application_ids = application_ids
        self.token_lifetime = token_lifetime
        self.product_version = product_version
        self.users: dict[str, User] = {}
        self.sessions: dict[str, Session] = {}
        self.logins = 0
        self._swipe = swipe
        #: type name (None: every type) -> how many instances a listing shows at most, whatever its totals say
        self.cut_after: dict[str | None, int] = {}
        #: whether rows an order leaves tied come back in an order that flips between listings of a type
        self.unstable = False
        self._listings: dict[str, int] = {}

    def dispatch(self, route: Route, headers: Mapping[str, str], query: dict[str, str], body: Any) -> Reply:
        params = dict(query)
        if isinstance(body, dict):  # "the API makes no distinction" between query and body parameters
            params.update(
                {k: str(v) for k, v in body.items() if k != "property_value_map" and k in query_names}
            )
        session = None
        if route.vendor and "version" not in params:
            raise invalid("The version parameter is required.")
        if route.app_id and headers.get("application-id") not in self.application_ids:
            raise ApiError(
                401, "openaccess.general.invalidapplicationid", "You are not licensed for OpenAccess."
            )
        if route.session:
            session = self.sessions.get(headers.get("session-token", ""))
            if session is None or session.expires <= self.clock():
                raise ApiError(
                    401,
                    "openaccess.general.invalidsessiontoken",
                    "The session token is invalid or has expired.",
                )
            if route.writes and not session.user.can_write:
                raise ApiError(
                    403, "openaccess.general.accessdenied", "The user is not permitted to do this."
                )
        handler: Callable[..., Reply] = getattr(self, route.handler)
        return handler(
            params=params, body=body if isinstance(body, dict) else {}, session=session, headers=headers
        )

    # authentication -----------------------------------------------------------------------------

    def version(self, **_: Any) -> Reply:
        return 200, {
            "product_name": "OnGuard 7.5",
            "product_version": self.product_version,
            "version": VERSION,
        }

    def login(self, body: dict[str, Any], **_: Any) -> Reply:
        user = self.users.get(str(body.get("user_name", "")))
        if (
            user is None
            or body.get("password") != user.password
            or body.get("directory_id") != user.directory_id
        ):
            raise ApiError(
                401, "openaccess.general.invalidcredentials", "The user name or password is incorrect."
            )
        token = secrets.token_hex(16)
        expires = self.clock() + self.token_lifetime
        self.sessions[token] = Session(token, user, expires)
        self.logins += 1
        stamp = expires.astimezone(self.store.site_tz).isoformat(timespec="seconds")
        return 200, {"session_token": token, "token_expiration_time": stamp, "version": VERSION}

    def logout(self, session: Session, **_: Any) -> Reply:
        self.sessions.pop(session.token, None)
        return 200, {"version": VERSION}

    def expire_all(self) -> None:
        for session in self.sessions.values():
            session.expires = self.clock()

    # instances ----------------------------------------------------------------------------------

    def _spec(self, params: Mapping[str, str]) -> TypeSpec:
        name = params.get("type_name")
        if not name:
            raise invalid("The type_name parameter is required.")
        spec = next((t for n, t in TYPES.items() if n.lower() == name.lower()), None)
        if spec is None:
            raise invalid(f"The type {name} is not supported.")
        return spec

    def get_instances(self, params: dict[str, str], session: Session, **_: Any) -> Reply:
        spec = self._spec(params)
        if spec.name in session.user.cannot_read:
            raise ApiError(403, "openaccess.general.accessdenied", "The user is not permitted to do this.")
        clauses = parse_filter(spec, params["filter"]) if params.get("filter") else []
        try:
            number, size = int(params.get("page_number", 1)), int(params.get("page_size", 20))
        except ValueError:
            raise invalid("page_number and page_size must be integers.") from None
        if number < 1 or not 1 <= size <= 100:
            raise invalid("page_number must be at least 1 and page_size between 1 and 100.")
        order = params.get("order_by", "").upper() or None
        if order and order not in spec.props:
            raise invalid(f"The property {order} does not exist on {spec.name}.")
        rows = sorted(
            (r for r in self.store.rows[spec.name].values() if matches(r, clauses)),
            key=lambda r: self.store.key_of(spec, r),
        )
        if self.unstable:
            self._listings[spec.name] = self._listings.get(spec.name, 0) + 1
            if self._listings[spec.name] % 2 == 0:
                rows.reverse()
        if order:  # a stable sort: rows the order leaves tied keep the order above
            rows.sort(key=lambda r: (r.get(order) is None, r.get(order)))
        shown = min(len(rows), self.cut_after.get(spec.name, self.cut_after.get(None, len(rows))))
        page = rows[(number - 1) * size : min(number * size, shown)]
        return 200, {
            "count": len(page),
            "item_list": [{"property_value_map": self.store.wire(spec, r)} for r in page],
            "page_number": number,
            "page_size": size,
            "total_items": len(rows),
            "total_pages": math.ceil(len(rows) / size),
            "version": VERSION,
        }

    def _values(self, spec: TypeSpec, body: Mapping[str, Any]) -> dict[str, Any]:
        values = body.get("property_value_map")
        if not isinstance(values, dict):
            raise invalid("The property_value_map is required.")
        return self.store.coerce(spec, values)

    def _existing(self, spec: TypeSpec, values: Mapping[str, Any]) -> dict[str, Any]:
        if any(values.get(k) is None for k in spec.keys):
            raise invalid(f"The key properties {', '.join(spec.keys)} are required.")
        row = self.store.rows[spec.name].get(tuple(values[k] for k in spec.keys))
        if row is None:
            raise ApiError(
                404, "openaccess.general.instancenotfound", f"The {spec.name} instance was not found."
            )
        return row

    def add_instance(self, params: dict[str, str], body: dict[str, Any], **_: Any) -> Reply:
        spec = self._spec(params)
        values = self._values(spec, body)
        if spec.auto_key and values.get(spec.auto_key) is not None:
            raise invalid(f"The property {spec.auto_key} is assigned by the server.")
        row = self.store.put(spec, values, creating=True)
        return 200, {"property_value_map": {k: row[k] for k in spec.keys}, "version": VERSION}

    def modify_instance(self, params: dict[str, str], body: dict[str, Any], **_: Any) -> Reply:
        spec = self._spec(params)
        values = self._values(spec, body)
        row = self.store.put(spec, {**self._existing(spec, values), **values}, creating=False)
        return 200, {"property_value_map": self.store.wire(spec, row), "version": VERSION}

    def delete_instance(self, params: dict[str, str], body: dict[str, Any], **_: Any) -> Reply:
        spec = self._spec(params)
        row = self._existing(spec, self._values(spec, body))
        if spec.name == "Lnl_Cardholder" and self.store.find("Lnl_Badge", PERSONID=row["ID"]):
            raise invalid("The cardholder still has badges.")
        if spec.name == "Lnl_Badge":  # OnGuard drops a deleted badge's assignments with it
            for a in self.store.find("Lnl_AccessLevelAssignment", BADGEKEY=row["BADGEKEY"]):
                del self.store.rows["Lnl_AccessLevelAssignment"][(a["BADGEKEY"], a["ACCESSLEVELID"])]
        del self.store.rows[spec.name][self.store.key_of(spec, row)]
        return 200, {"version": VERSION}

    # the door reader (emulator only) ------------------------------------------------------------

    def swipe(self, body: dict[str, Any], **_: Any) -> Reply:
        try:
            card, door = int(body["badge_id"]), str(body["door"])
        except (KeyError, TypeError, ValueError):
            raise invalid("swipe needs badge_id (a number) and door") from None
        result, reason = self._swipe(card, door)
        return 200, {"result": result, "reason": reason}


query_names = frozenset({"type_name", "filter", "page_number", "page_size", "order_by", "version", "queue"})
