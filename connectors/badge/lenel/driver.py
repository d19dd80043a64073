"""Lenel OnGuard OpenAccess as a `BadgeDriver`: ``/instances`` of the ``Lnl_`` types.

Calls and shapes follow ``lenel-openaccess-7.5.swagger.yaml``: ``type_name``,
``filter``, ``page_number`` and ``page_size`` (at most 100) in the query; a
``property_value_map`` in the body, the key properties alone for a DELETE.
The description leaves the properties open; their names (``BADGEKEY``,
``STATUS``, ``DEACTIVATE``, ...) are OnGuard's class properties. Badge
statuses and types are numbered per site, so they are looked up by NAME.

A listing is read to its announced end: every page up to ``total_pages``,
and as many distinct instances (by key) as ``total_items`` says. One that
ends early (an empty page before the last, fewer instances than announced,
one repeated in place of another) is `errors.IncompleteRead`, never a shorter
list: a cardholder or badge left out reads as "no access". So is a 200 that
is not a page (``PagedInstances``): no ``item_list`` list, or neither
``count`` nor ``total_pages`` to tell where it ends (a gateway's answer, a
queued task). Listings ask ``order_by`` the class's key, so pages are cut
from one order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from iam.connectors.badge.lenel.session import OpenAccessSession
from iam.connectors.badge.model import (
    AccessLevel,
    Assignment,
    Badge,
    Cardholder,
    NewBadge,
    NewCardholder,
    Site,
    Traits,
)

from iam import errors

CARDHOLDER = "Lnl_Cardholder"
BADGE = "Lnl_Badge"
BADGE_STATUS = "Lnl_BadgeStatus"
BADGE_TYPE = "Lnl_BadgeType"
ACCESS_LEVEL = "Lnl_AccessLevel"
ASSIGNMENT = "Lnl_AccessLevelAssignment"
INSTANCES = "/instances"

#: The key properties of each class: a listing is ordered by the first and its instances counted by all.
KEYS = {
    CARDHOLDER: ("ID",),
    BADGE: ("BADGEKEY",),
    BADGE_STATUS: ("ID",),
    BADGE_TYPE: ("ID",),
    ACCESS_LEVEL: ("ID",),
    ASSIGNMENT: ("BADGEKEY", "ACCESSLEVELID"),
}

#: Person-name fields of Lnl_Cardholder, refused as match_key.
NAME_FIELDS = ("FIRSTNAME", "LASTNAME", "MIDNAME", "NAME", "FULLNAME")


def quote(value: str) -> str:
    """A string literal for an OpenAccess filter; refuses what could change the filter's meaning."""
    if any(c in value for c in '"\\') or any(ord(c) < 32 for c in value):
        raise errors.InvalidAttribute(
            f"{value!r} cannot be matched safely (quote, backslash or control character)"
        )
    return f'"{value}"'


def to_wire(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def from_wire(value: Any) -> datetime | None:
    """OpenAccess dates carry the site's offset; one without an offset is taken as UTC."""
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _props(values: Mapping[str, Any]) -> dict[str, Any]:
    return {"property_value_map": dict(values)}


def _count(value: Any) -> int | None:
    """A total the server announced, or None when it announced none."""
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _get(props: Mapping[str, Any], name: str) -> Any:
    """A property whatever case the server answered it in."""
    for key, value in props.items():
        if key.upper() == name:
            return value
    return None


class LenelDriver:
    """The ``Lnl_`` classes over one `OpenAccessSession`."""

    #: OnGuard assigns access levels to badges, and has no person-level switch or schedule.
    traits = Traits(levels_on="badge", person_switch=False)

    def __init__(self, session: OpenAccessSession, page_size: int = 100) -> None:
        self.session = session
        self.page_size = page_size
        self._statuses: dict[str, str] | None = None  # id -> NAME
        self._levels: dict[str, AccessLevel] = {}

    def close(self) -> None:
        self.session.close()

    # reading --------------------------------------------------------------------------------------

    def _instances(self, type_name: str, what: str, filter_: str | None = None) -> Iterator[dict[str, Any]]:
        """Every instance, page after page, to the end the server announced (see the module docstring)."""
        keys, listing = KEYS[type_name], f"{what}: the listing of {type_name}"
        page, items, seen = 1, 0, set[tuple[str, ...]]()
        while True:
            params: dict[str, Any] = {
                "type_name": type_name,
                "page_number": page,
                "page_size": self.page_size,
                "order_by": keys[0],
            }
            if filter_:
                params["filter"] = filter_
            answer = self.session.call(f"{what} (page {page})", "GET", INSTANCES, params=params)
            found = self._page(answer, listing)
            for props in found:
                seen.add(tuple(str(_get(props, k)) for k in keys))
                yield props
            items += len(found)
            if self._listed_all(answer, page, len(found), items, len(seen), listing):
                return
            page += 1

    def _page(self, answer: Mapping[str, Any], listing: str) -> list[dict[str, Any]]:
        """The instances of a ``PagedInstances``; anything else is not an empty page but an unknown one."""
        items = answer.get("item_list")
        if (
            not isinstance(items, list)
            or not all(isinstance(i, dict) and isinstance(i.get("property_value_map"), dict) for i in items)
            or (_count(answer.get("total_pages")) is None and _count(answer.get("count")) is None)
        ):
            raise errors.IncompleteRead(
                f"{listing}: OpenAccess answered something that is not a page of instances (it needs an "
                f"item_list, and count or total_pages); check that url ({self.session.url}) reaches "
                "OpenAccess itself, not a gateway or a queue",
                system=self.session.system,
            )
        return [i["property_value_map"] for i in items]

    def _listed_all(
        self, answer: Mapping[str, Any], page: int, count: int, items: int, distinct: int, listing: str
    ) -> bool:
        """Whether the listing is over after ``page``; raise if it ended before its announced end."""
        pages, total = _count(answer.get("total_pages")), _count(answer.get("total_items"))
        if pages is None:  # no totals announced: only a page shorter than asked for is the end
            return count < self.page_size
        if page < pages:
            if count == 0:
                raise self._cut_short(f"{listing} came back empty at page {page} of {pages}")
            return False
        if total is not None and distinct < total:
            said = f"{listing} ended after {distinct} of {total} item(s)"
            if items > distinct:
                raise self._cut_short(
                    f"{said}: {items - distinct} came back again in place of others, so the order "
                    "changed between pages",
                    "read again",
                )
            raise self._cut_short(said)
        return True

    def _cut_short(self, said: str, fix: str = "") -> errors.IncompleteRead:
        fix = fix or (
            f"check that OnGuard user {self.session.username} may read every instance of it "
            "(segments, permission groups)"
        )
        return errors.IncompleteRead(
            f"{said}: what was left out cannot be taken for nothing; {fix}", system=self.session.system
        )

    def site(self) -> Site:
        answer = self.session.call("read the version", "GET", "/version", authenticated=False)
        return Site(
            self.session.url,
            str(answer.get("product_name") or "OnGuard"),
            str(answer.get("product_version") or "?"),
        )

    def _status_table(self, refresh: bool = False) -> dict[str, str]:
        if self._statuses is None or refresh:
            rows = self._instances(BADGE_STATUS, "list badge statuses")
            self._statuses = {str(_get(r, "ID")): str(_get(r, "NAME") or "") for r in rows}
        return self._statuses

    def status_names(self) -> list[str]:
        return sorted(self._status_table(refresh=True).values())

    def prove_readable(self) -> None:
        """One small page of each class the reads list: a refusal surfaces here, not as "no access"."""
        for type_name in (CARDHOLDER, BADGE, ACCESS_LEVEL, ASSIGNMENT):
            params = {"type_name": type_name, "page_number": 1, "page_size": 1}
            what = f"prove {type_name} can be listed"
            self._page(self.session.call(what, "GET", INSTANCES, params=params), what)

    def _status_name(self, status_id: Any) -> str:
        key = str(status_id)
        if key not in self._status_table():
            self._status_table(refresh=True)
        return self._status_table().get(key, f"status #{key}")

    def _status_id(self, name: str) -> int:
        for refresh in (False, True):
            for sid, sname in self._status_table(refresh).items():
                if sname.casefold() == name.casefold():
                    return int(sid)
        raise errors.InvalidAttribute(
            f"no badge status named {name!r} at this site", system=self.session.system
        )

    def _cardholder(self, props: Mapping[str, Any]) -> Cardholder:
        return Cardholder(
            id=str(_get(props, "ID")),
            fields=dict(props),
            first_name=str(_get(props, "FIRSTNAME") or ""),
            last_name=str(_get(props, "LASTNAME") or ""),
        )

    def find_cardholders(self, field_name: str, value: str) -> list[Cardholder]:
        found = self._instances(
            CARDHOLDER, f"find the cardholder with {field_name} {value}", f"{field_name} = {quote(value)}"
        )
        return [self._cardholder(p) for p in found]

    def iter_cardholders(self) -> Iterator[Cardholder]:
        return (self._cardholder(p) for p in self._instances(CARDHOLDER, "list cardholders"))

    def _badge(self, props: Mapping[str, Any]) -> Badge:
        return Badge(
            key=str(_get(props, "BADGEKEY")),
            number=str(_get(props, "ID")),
            cardholder_id=str(_get(props, "PERSONID")),
            status=self._status_name(_get(props, "STATUS")),
            activate=from_wire(_get(props, "ACTIVATE")),
            deactivate=from_wire(_get(props, "DEACTIVATE")),
        )

    def badges_of(self, cardholder: Cardholder) -> list[Badge]:
        rows = self._instances(
            BADGE, f"list the badges of cardholder {cardholder.id}", f"PERSONID = {int(cardholder.id)}"
        )
        return [self._badge(p) for p in rows]

    def iter_badges(self) -> Iterator[Badge]:
        return (self._badge(p) for p in self._instances(BADGE, "list badges"))

    def _level(self, level_id: Any) -> AccessLevel:
        key = str(level_id)
        if key not in self._levels:
            self._levels = {
                str(_get(p, "ID")): AccessLevel(str(_get(p, "ID")), str(_get(p, "NAME") or ""))
                for p in self._instances(ACCESS_LEVEL, "list access levels")
            }
        return self._levels.get(key) or AccessLevel(key, f"access level #{key}")

    def _assignment(self, props: Mapping[str, Any]) -> Assignment:
        return Assignment(self._level(_get(props, "ACCESSLEVELID")), str(_get(props, "BADGEKEY")))

    def assignments_of(self, badge: Badge) -> list[Assignment]:
        rows = self._instances(
            ASSIGNMENT, f"list the access levels of badge {badge.key}", f"BADGEKEY = {int(badge.key)}"
        )
        return [self._assignment(p) for p in rows]

    def iter_assignments(self) -> Iterator[Assignment]:
        return (self._assignment(p) for p in self._instances(ASSIGNMENT, "list access level assignments"))

    def access_level(self, name: str) -> AccessLevel | None:
        rows = list(self._instances(ACCESS_LEVEL, f"find access level {name}", f"NAME = {quote(name)}"))
        exact = [p for p in rows if str(_get(p, "NAME") or "").casefold() == name.casefold()]
        if not exact:
            return None
        level = AccessLevel(str(_get(exact[0], "ID")), str(_get(exact[0], "NAME")))
        self._levels[level.id] = level
        return level

    # writing --------------------------------------------------------------------------------------

    def _write(self, what: str, method: str, type_name: str, values: Mapping[str, Any]) -> dict[str, Any]:
        answer = self.session.call(
            what, method, INSTANCES, params={"type_name": type_name}, body=_props(values)
        )
        return dict(answer.get("property_value_map") or {})

    def assign(self, badge: Badge, level: AccessLevel) -> None:
        values = {"BADGEKEY": int(badge.key), "ACCESSLEVELID": int(level.id)}
        self._write(f"assign access level {level.name} to badge {badge.key}", "POST", ASSIGNMENT, values)

    def unassign(self, badge: Badge, level: AccessLevel) -> None:
        values = {"BADGEKEY": int(badge.key), "ACCESSLEVELID": int(level.id)}
        self._write(f"remove access level {level.name} from badge {badge.key}", "DELETE", ASSIGNMENT, values)

    def _not_here(self, what: str) -> errors.Unsupported:
        return errors.Unsupported(f"OnGuard has no {what}", system=self.session.system)

    def holder_assignments(self, cardholder: Cardholder) -> list[Assignment]:
        raise self._not_here("access levels held by a cardholder (they are held by badges)")

    def assign_holder(self, cardholder: Cardholder, level: AccessLevel) -> None:
        raise self._not_here("access levels held by a cardholder (they are held by badges)")

    def unassign_holder(self, cardholder: Cardholder, level: AccessLevel) -> None:
        raise self._not_here("access levels held by a cardholder (they are held by badges)")

    def suspend(self, cardholder: Cardholder, suspended: bool) -> None:
        raise self._not_here("cardholder suspension (badges are deactivated one by one)")

    def set_access_ends(self, cardholder: Cardholder, ends: datetime) -> None:
        raise self._not_here("cardholder access schedule (each badge has its own dates)")

    def set_badge(self, badge: Badge, status: str, deactivate: datetime | None) -> None:
        values: dict[str, Any] = {"BADGEKEY": int(badge.key), "STATUS": self._status_id(status)}
        if deactivate is not None:
            values["DEACTIVATE"] = to_wire(deactivate)
        self._write(f"set badge {badge.key} to {status}", "PUT", BADGE, values)

    def create_cardholder(self, new: NewCardholder) -> Cardholder:
        values = {
            new.key_field.upper(): new.key_value,
            "FIRSTNAME": new.first_name,
            "LASTNAME": new.last_name,
        }
        if new.email:
            values["EMAIL"] = new.email
        created = self._write(
            f"create the cardholder with {new.key_field} {new.key_value}", "POST", CARDHOLDER, values
        )
        return self._cardholder({**values, **created})

    def _type_id(self, name: str) -> int:
        rows = self._instances(BADGE_TYPE, f"find badge type {name}", f"NAME = {quote(name)}")
        for props in rows:
            if str(_get(props, "NAME") or "").casefold() == name.casefold():
                return int(_get(props, "ID"))
        raise errors.InvalidAttribute(
            f"no badge type named {name!r} at this site", system=self.session.system
        )

    def create_badge(self, cardholder: Cardholder, new: NewBadge) -> Badge:
        values: dict[str, Any] = {
            "ID": int(new.number) if new.number.isdigit() else new.number,
            "PERSONID": int(cardholder.id),
            "STATUS": self._status_id(new.status),
            "TYPE": self._type_id(new.badge_type),
        }
        if new.activate is not None:
            values["ACTIVATE"] = to_wire(new.activate)
        if new.deactivate is not None:
            values["DEACTIVATE"] = to_wire(new.deactivate)
        created = self._write(
            f"issue badge {new.number} to cardholder {cardholder.id}", "POST", BADGE, values
        )
        return self._badge({**values, **created})
