"""In-memory OnGuard: the ``Lnl_`` classes the connector uses, their filter language, and a door reader.

Shaped like OnGuard, not like the connector: rows keyed by their key
properties, server-assigned ids, property names answered in upper case and
accepted in any case, references checked (a badge's ``PERSONID`` must name a
cardholder), dates kept as aware datetimes and written with the site's UTC
offset. Badge status ids are deliberately not 1..n so a client that assumes
"Active is 1" is caught. Time comes from an injected clock.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any


class FakeClock:
    """A clock the test moves by hand (``clock.advance(days=1)``) instead of sleeping."""

    def __init__(self, start: datetime = datetime(2025, 3, 3, 14, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class ApiError(Exception):
    """An OpenAccess error answer: ``{"error": {"code", "message"}, "version"}`` with a status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def invalid(message: str) -> ApiError:
    return ApiError(400, "openaccess.general.invalidrequestitem", message)


@dataclass(frozen=True)
class TypeSpec:
    """One ``Lnl_`` class: its properties (name -> int/str/date), keys, and what a POST must carry."""

    name: str
    props: Mapping[str, str]
    keys: tuple[str, ...]
    auto_key: str | None = None
    required: tuple[str, ...] = ()
    refs: Mapping[str, str] = field(default_factory=dict)  # property -> type it must name


_NAMED = {"ID": "int", "NAME": "str"}
TYPES = {
    t.name: t
    for t in (
        TypeSpec(
            "Lnl_Cardholder",
            {
                "ID": "int",
                "FIRSTNAME": "str",
                "LASTNAME": "str",
                "MIDNAME": "str",
                "SSNO": "str",
                "EMAIL": "str",
            },
            ("ID",),
            "ID",
            ("LASTNAME",),
        ),
        TypeSpec(
            "Lnl_Badge",
            {
                "BADGEKEY": "int",
                "ID": "int",
                "PERSONID": "int",
                "STATUS": "int",
                "TYPE": "int",
                "ACTIVATE": "date",
                "DEACTIVATE": "date",
                "ISSUECODE": "int",
            },
            ("BADGEKEY",),
            "BADGEKEY",
            ("ID", "PERSONID", "STATUS", "TYPE"),
            {"PERSONID": "Lnl_Cardholder", "STATUS": "Lnl_BadgeStatus", "TYPE": "Lnl_BadgeType"},
        ),
        TypeSpec("Lnl_BadgeStatus", _NAMED, ("ID",), "ID", ("NAME",)),
        TypeSpec("Lnl_BadgeType", _NAMED, ("ID",), "ID", ("NAME",)),
        TypeSpec("Lnl_AccessLevel", _NAMED, ("ID",), "ID", ("NAME",)),
        TypeSpec(
            "Lnl_AccessLevelAssignment",
            {"BADGEKEY": "int", "ACCESSLEVELID": "int", "ACTIVATE": "date", "DEACTIVATE": "date"},
            ("BADGEKEY", "ACCESSLEVELID"),
            None,
            ("BADGEKEY", "ACCESSLEVELID"),
            {"BADGEKEY": "Lnl_Badge", "ACCESSLEVELID": "Lnl_AccessLevel"},
        ),
    )
}

_CLAUSE = re.compile(r"""\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*("(?:[^"]*)"|'(?:[^']*)'|-?\d+)\s*""")


def parse_filter(spec: TypeSpec, text: str) -> list[tuple[str, Any]]:
    """``PROP = "text" and PROP = 12``: the subset of OpenAccess's filter language clients here use."""
    clauses = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        m = _CLAUSE.fullmatch(part)
        if not m:
            raise invalid(f"The filter '{text}' could not be parsed.")
        name, raw = m.group(1).upper(), m.group(2)
        if name not in spec.props:
            raise invalid(f"The property {name} does not exist on {spec.name}.")
        clauses.append((name, raw[1:-1] if raw[0] in "\"'" else int(raw)))
    return clauses


def matches(row: Mapping[str, Any], clauses: list[tuple[str, Any]]) -> bool:
    """Equality as SQL Server's default collation sees it: strings case-insensitively."""
    for name, want in clauses:
        have = row.get(name)
        if isinstance(want, str) and isinstance(have, str):
            if have.casefold() != want.casefold():
                return False
        elif have != want:
            return False
    return True


class Store:
    """Rows per type, keyed by their key tuple; every write goes through `put` so references hold."""

    def __init__(self, site_tz: tzinfo) -> None:
        self.site_tz = site_tz
        self.rows: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {name: {} for name in TYPES}
        self._next = 100

    def key_of(self, spec: TypeSpec, row: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(row.get(k) for k in spec.keys)

    def coerce(self, spec: TypeSpec, values: Mapping[str, Any]) -> dict[str, Any]:
        """Wire values (any-case names, ISO dates) as stored values; unknown names are refused."""
        out: dict[str, Any] = {}
        for raw_name, value in values.items():
            name = raw_name.upper()
            kind = spec.props.get(name)
            if kind is None:
                raise invalid(f"The property {name} did not exist or contained an invalid value.")
            out[name] = self._coerce_one(name, kind, value)
        return out

    def _coerce_one(self, name: str, kind: str, value: Any) -> Any:
        if value is None or value == "":
            return None
        try:
            if kind == "int":
                if isinstance(value, bool) or (isinstance(value, str) and not value.lstrip("-").isdigit()):
                    raise ValueError
                return int(value)
            if kind == "date":
                moment = datetime.fromisoformat(str(value))
                return moment if moment.tzinfo else moment.replace(tzinfo=self.site_tz)
            return str(value)
        except (TypeError, ValueError):
            raise invalid(f"The property {name} did not exist or contained an invalid value.") from None

    def put(self, spec: TypeSpec, row: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        for name, target in spec.refs.items():
            if row.get(name) is not None and (row[name],) not in self.rows[target]:
                raise invalid(f"The property {name} did not exist or contained an invalid value.")
        if creating:
            missing = [r for r in spec.required if row.get(r) is None]
            if missing:
                raise invalid(f"The property {missing[0]} is required.")
            if spec.auto_key:
                self._next += 1
                row[spec.auto_key] = self._next
            if self.key_of(spec, row) in self.rows[spec.name]:
                raise invalid(f"The {spec.name} instance already exists.")
            row = {p: row.get(p) for p in spec.props}
        self.rows[spec.name][self.key_of(spec, row)] = row
        return row

    def find(self, type_name: str, **where: Any) -> list[dict[str, Any]]:
        return [r for r in self.rows[type_name].values() if all(r.get(k) == v for k, v in where.items())]

    def named(self, type_name: str, name: str) -> dict[str, Any]:
        found = [r for r in self.rows[type_name].values() if str(r["NAME"]).casefold() == name.casefold()]
        assert found, f"no {type_name} named {name}"
        return found[0]

    def wire(self, spec: TypeSpec, row: Mapping[str, Any]) -> dict[str, Any]:
        """A row as OpenAccess writes it: dates with the site's offset, unset values null."""
        out = {name: row.get(name) for name in spec.props}
        for name, kind in spec.props.items():
            value = out[name]
            if kind == "date" and isinstance(value, datetime):
                out[name] = value.astimezone(self.site_tz).isoformat(timespec="seconds")
        return out

    def snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(self.rows)


@dataclass
class Door:
    """Emulator-side only: which doors an access level opens, and when (site-local hours)."""

    doors: frozenset[str]
    hours: tuple[int, int] | None = None


@dataclass
class Swipe:
    """One read at a door, with the reason a panel would log."""

    at: datetime
    card: int
    door: str
    result: str
    reason: str


def within(now: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or start <= now) and (end is None or now < end)


def decide(store: Store, doors: Mapping[int, Door], card: int, door: str, now: datetime) -> tuple[str, str]:
    """What a panel decides for ``card`` at ``door``: status, the badge's dates, a level for the door."""
    badges = store.find("Lnl_Badge", ID=card)
    if not badges:
        return "denied", "unknown card"
    reasons = []
    for badge in badges:
        status = store.rows["Lnl_BadgeStatus"].get((badge["STATUS"],), {}).get("NAME", "?")
        if status.casefold() != "active":
            reasons.append(f"badge {badge['BADGEKEY']} is {status}")
            continue
        if not within(now, badge["ACTIVATE"], badge["DEACTIVATE"]):
            reasons.append(f"badge {badge['BADGEKEY']} is outside its activation dates")
            continue
        local = now.astimezone(store.site_tz)
        for a in store.find("Lnl_AccessLevelAssignment", BADGEKEY=badge["BADGEKEY"]):
            level = doors.get(a["ACCESSLEVELID"])
            if level is None or door not in level.doors or not within(now, a["ACTIVATE"], a["DEACTIVATE"]):
                continue
            if level.hours is None or level.hours[0] <= local.hour < level.hours[1]:
                return "granted", f"badge {badge['BADGEKEY']} via access level {a['ACCESSLEVELID']}"
        reasons.append(f"badge {badge['BADGEKEY']} holds no access level for {door} now")
    return "denied", "; ".join(reasons)


def site_offset(hours: float) -> tzinfo:
    return timezone(timedelta(hours=hours))


Clock = Callable[[], datetime]
