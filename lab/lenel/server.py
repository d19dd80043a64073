"""A Lenel OnGuard OpenAccess emulator: real HTTP on loopback, real state, an injected clock.

No PACS server can be installed on the test machines, so the badge connector
is tested against this. It serves the routes in `api.ROUTES` under the
vendor's base path, keeps every exchange for the contract test, injects
faults before anything else (an error status, a 200 that is not the API's
answer, or an answer that never comes until released), and reads cards at
doors like a panel would (`swipe`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from iam.lab.lenel.api import (
    BASE,
    EMULATOR_BASE,
    EMULATOR_ROUTES,
    ROUTES,
    VERSION,
    Api,
    Exchange,
    Route,
    User,
)
from iam.lab.lenel.state import (
    TYPES,
    ApiError,
    Clock,
    Door,
    FakeClock,
    Store,
    Swipe,
    decide,
    site_offset,
)
from iam.lab.loopback import LoopbackHttp

APPLICATION_ID = "IAM-TEST-APP-7f31"
_BAD_JSON = object()
DEFAULT_STATUSES = ("Lost", "Terminated", "Returned", "Active", "Stolen", "Suspended")  # ids are not 1..n


class LenelEmulator:
    """One OnGuard site: ``with LenelEmulator(clock) as pacs: pacs.url``."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        site_utc_offset: float = -5,
        token_lifetime: timedelta = timedelta(minutes=30),
        statuses: Iterable[str] = DEFAULT_STATUSES,
        product_version: str = "7.5.2.1",
    ) -> None:
        self.clock: Clock = clock or FakeClock()
        self.store = Store(site_offset(site_utc_offset))
        self.doors: dict[int, Door] = {}
        self.swipes: list[Swipe] = []
        self.exchanges: list[Exchange] = []
        self.lock = threading.RLock()
        self.api = Api(
            self.store, self.clock, {APPLICATION_ID}, token_lifetime, product_version, self._decide
        )
        #: a status to answer, a 200 body to answer instead of the API's, or None: hang until released
        self._faults: list[int | dict[str, Any] | None] = []
        self._released = threading.Event()
        self._http = LoopbackHttp()
        for name in statuses:
            self._add("Lnl_BadgeStatus", NAME=name)
        for name in ("Employee", "Contractor"):
            self._add("Lnl_BadgeType", NAME=name)

    # lifecycle ------------------------------------------------------------------------------------

    def start(self) -> LenelEmulator:
        self._http.start(type("Handler", (_Handler,), {"emulator": self}))
        return self

    def stop(self) -> None:
        self._released.set()
        self._http.stop()

    @property
    def root(self) -> str:
        return self._http.base_url

    @property
    def url(self) -> str:
        """The API root a client is configured with."""
        return self.root + BASE

    def __enter__(self) -> LenelEmulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # seeding --------------------------------------------------------------------------------------

    def _add(self, type_name: str, **values: Any) -> dict[str, Any]:
        spec = TYPES[type_name]
        with self.lock:
            return self.store.put(spec, self.store.coerce(spec, values), creating=True)

    def add_user(
        self, name: str, password: str, *, directory_id: str | None = None, can_write: bool = True
    ) -> None:
        self.api.users[name] = User(name, password, directory_id, can_write)

    def set_can_write(self, name: str, allowed: bool) -> None:
        self.api.users[name].can_write = allowed

    def forbid_reading(self, name: str, type_name: str) -> None:
        """User ``name`` may no longer list ``type_name``: 403, as for a user without that permission."""
        self.api.users[name].cannot_read.add(type_name)

    def add_status(self, name: str) -> int:
        return self._add("Lnl_BadgeStatus", NAME=name)["ID"]

    def add_access_level(
        self, name: str, doors: Iterable[str] = (), hours: tuple[int, int] | None = None
    ) -> int:
        level = self._add("Lnl_AccessLevel", NAME=name)["ID"]
        self.doors[level] = Door(frozenset(doors), hours)
        return level

    def add_cardholder(self, last_name: str, first_name: str = "", **fields: str) -> int:
        return self._add("Lnl_Cardholder", LASTNAME=last_name, FIRSTNAME=first_name, **fields)["ID"]

    def add_badge(
        self,
        person: int,
        card: int,
        status: str = "Active",
        *,
        activate: datetime | None = None,
        deactivate: datetime | None = None,
        badge_type: str = "Employee",
    ) -> int:
        return self._add(
            "Lnl_Badge",
            ID=card,
            PERSONID=person,
            STATUS=self.store.named("Lnl_BadgeStatus", status)["ID"],
            TYPE=self.store.named("Lnl_BadgeType", badge_type)["ID"],
            ACTIVATE=activate.isoformat() if activate else None,
            DEACTIVATE=deactivate.isoformat() if deactivate else None,
        )["BADGEKEY"]

    def assign(self, badgekey: int, level: str, *, deactivate: datetime | None = None) -> None:
        level_id = self.store.named("Lnl_AccessLevel", level)["ID"]
        when = deactivate.isoformat() if deactivate else None
        self._add("Lnl_AccessLevelAssignment", BADGEKEY=badgekey, ACCESSLEVELID=level_id, DEACTIVATE=when)

    # looking -------------------------------------------------------------------------------------

    def badge(self, badgekey: int) -> dict[str, Any]:
        """The badge row with its status by name (``STATUS_NAME``)."""
        with self.lock:
            row = dict(self.store.rows["Lnl_Badge"][(badgekey,)])
            row["STATUS_NAME"] = self.store.rows["Lnl_BadgeStatus"][(row["STATUS"],)]["NAME"]
            return row

    def badges_of(self, person: int) -> list[int]:
        return sorted(b["BADGEKEY"] for b in self.store.find("Lnl_Badge", PERSONID=person))

    def levels_of(self, badgekey: int) -> set[str]:
        levels = self.store.rows["Lnl_AccessLevel"]
        return {
            levels[(a["ACCESSLEVELID"],)]["NAME"]
            for a in self.store.find("Lnl_AccessLevelAssignment", BADGEKEY=badgekey)
        }

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return self.store.snapshot()

    # sessions, faults, the door --------------------------------------------------------------------

    @property
    def logins(self) -> int:
        return self.api.logins

    def expire_sessions(self) -> None:
        """Every session token issued so far is refused from now on, as after an idle timeout."""
        with self.lock:
            self.api.expire_all()

    def cut_listings(self, after: int, type_name: str | None = None) -> None:
        """Listings (of ``type_name``, or of every type) show at most ``after`` instances, while their
        ``total_items`` and ``total_pages`` still count them all: a listing that ends early."""
        with self.lock:
            self.api.cut_after[type_name] = after

    def fail_next(self, count: int = 1, status: int = 503) -> None:
        self._faults += [status] * count

    def answer_next(self, body: dict[str, Any], count: int = 1) -> None:
        """The next ``count`` requests get 200 with ``body`` instead of the API's answer: a gateway, a
        proxy or a queued task (``{"id", "status"}``) answering a listing with something not a page."""
        self._faults += [body] * count

    def unstable_order(self) -> None:
        """From now on listings give rows the asked ``order_by`` leaves tied (every row when none is asked)
        in an order that flips from one request to the next, as SQL Server may without ORDER BY."""
        with self.lock:
            self.api.unstable = True

    def hang_next(self, count: int = 1) -> None:
        """The next ``count`` requests get no answer until `release` (or `stop`): a client times out."""
        self._released.clear()
        self._faults += [None] * count

    def release(self) -> None:
        self._released.set()

    def _decide(self, card: int, door: str) -> tuple[str, str]:
        with self.lock:
            result, reason = decide(self.store, self.doors, card, door, self.clock())
            self.swipes.append(Swipe(self.clock(), card, door, result, reason))
            return result, reason

    def swipe(self, card: int, door: str) -> str:
        """Present card number ``card`` at ``door``: "granted" or "denied", as a panel decides now."""
        return self._decide(card, door)[0]

    # serving -------------------------------------------------------------------------------------

    def _route(self, method: str, path: str) -> Route | None:
        for base, routes in ((BASE, ROUTES), (EMULATOR_BASE, EMULATOR_ROUTES)):
            if path.startswith(base + "/"):
                template = path[len(base) :]
                return next((r for r in routes if r.method == method and r.template == template), None)
        return None

    def _reply(
        self,
        method: str,
        path: str,
        route: Route | None,
        fault: int | dict[str, Any] | bool,
        headers: dict[str, str],
        query: dict[str, str],
        body: Any,
    ) -> tuple[int, Any]:
        """The injected fault if any, else what the API answers (or raises, as `ApiError`)."""
        if isinstance(fault, dict):
            return 200, fault
        if fault:
            raise ApiError(fault, "openaccess.general.internalerror", "Injected failure.")
        if route is None:
            raise ApiError(404, "openaccess.general.notfound", f"No route for {method} {path}.")
        if body is _BAD_JSON:
            raise ApiError(400, "openaccess.general.invalidrequestitem", "The request body is not JSON.")
        with self.lock:
            return self.api.dispatch(route, headers, query, body)

    def serve(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in h.headers.items()}
        route = self._route(h.command, parts.path)
        with self.lock:
            fault = self._faults.pop(0) if self._faults and route is not None and route.vendor else False
        if fault is None:
            self._released.wait(30)
            h.close_connection = True
            return
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = _BAD_JSON
        try:
            status, answer = self._reply(h.command, parts.path, route, fault, headers, query, body)
        except ApiError as exc:
            status, answer = (
                exc.status,
                {"error": {"code": exc.code, "message": exc.message}, "version": VERSION},
            )
        recorded = dict(body) if isinstance(body, dict) else (None if body is _BAD_JSON else body)
        if isinstance(recorded, dict) and "password" in recorded:
            recorded["password"] = "***"  # keep the shape, not the secret
        template = route.template if route is not None and route.vendor else None
        self.exchanges.append(
            Exchange(h.command, parts.path, template, query, status, recorded, answer, headers)
        )
        data = json.dumps(answer).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall between
    emulator: LenelEmulator

    def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures
        pass

    def do_GET(self) -> None:
        self.emulator.serve(self)

    do_POST = do_PUT = do_DELETE = do_GET


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
