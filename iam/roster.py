"""The people a sweep judges accounts against, held compactly and loaded late.

A sweep of 100,000 people held each person's every string on its own (the
department, kind and status decoded afresh from each row's JSON), a
dictionary by username, and a second one of leavers' dates: about a third
of its memory above a bare search. A `Roster` shares each repeated value
(status, department, title, kind, manager, site, owner, names, dates)
among the people who have it, keeps them in one list sorted by username
(found by bisection; a person's place in it is their index, so a review can
mark whom it saw in a bytearray), and is a read-only `Mapping` of username
to `Identity` for everything that reads people.

`Later` loads it on first use: a bulk read asks for people only once the
system's groups have been read, so the peak of reading the groups and the
memory of the people do not add up.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from iam.model import DATE_FIELDS, Identity

if TYPE_CHECKING:
    from iam.uniqueness import Emails

#: Identity fields whose values many people share: kept once each.
_SHARED = frozenset(
    {"given_name", "family_name", "department", "title", "kind", "status", "manager", "site", "owner"}
    | {"policy_ack_version"}
)
_DATES = frozenset(DATE_FIELDS)
_FIELDS = frozenset(Identity.__dataclass_fields__)
#: Statuses that make a person a leaver in a review; their record's update is when they left.
LEFT = ("terminated", "terminating")

Row = tuple[str, str, "Mapping[str, Any] | None", datetime]


class Roster(Mapping[str, Identity]):
    """Every person iam knows (from HR or an offboarding), by username, and when leavers left."""

    def __init__(self, people: Iterable[Identity] = (), left: Mapping[str, datetime] | None = None) -> None:
        ordered = sorted(people, key=lambda p: p.username)
        self._names = [p.username for p in ordered]
        self._people = ordered
        #: The places of the few people whose username has capitals, by its lower case: an
        #: account ``alice`` (Keycloak and the VPNs answer in lower case) is HR's ``Alice``.
        self._capitalised = {
            p.username.lower(): i for i, p in enumerate(ordered) if p.username != p.username.lower()
        }
        self._left = dict(left or {})
        self._lock = threading.Lock()
        self._emails: Emails | None = None

    @classmethod
    def of(cls, rows: Iterable[Row]) -> Roster:
        """The roster of the store's rows (`Store.iter_identities`): a leaver's status reads
        ``terminated`` and their row's last update is when they left."""
        share = _Shared()
        people: list[Identity] = []
        left: dict[str, datetime] = {}
        for username, status, attributes, updated_at in rows:
            if status in LEFT:
                left[username] = updated_at
                status = "terminated"
            people.append(share.identity(username, status, attributes or {}))
        return cls(people, left)

    def __getitem__(self, username: str) -> Identity:
        i = self.index(username)
        if i is None:
            raise KeyError(username)
        return self._people[i]

    def get(self, username: str, default: Any = None) -> Any:  # Mapping's, without a KeyError raised
        i = self.index(username)
        return default if i is None else self._people[i]

    def __contains__(self, username: object) -> bool:
        return isinstance(username, str) and self.index(username) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def values(self) -> list[Identity]:  # type: ignore[override]  # a list: sorted by username, no copy
        return self._people

    def index(self, username: str) -> int | None:
        """The person's place in the roster (0 to len - 1), or None for someone unknown. A name
        is one person whatever its case, as the systems match it: the name as given first."""
        i = self._exact(username)
        if i is not None:
            return i
        lower = username.lower()
        found = self._exact(lower) if lower != username else None
        return found if found is not None else self._capitalised.get(lower)

    def _exact(self, username: str) -> int | None:
        i = bisect_left(self._names, username)
        return i if i < len(self._names) and self._names[i] == username else None

    @property
    def left(self) -> Mapping[str, datetime]:
        """When each leaver left (their record's last update)."""
        return self._left

    @property
    def emails(self) -> Emails:
        """Who has which e-mail (`uniqueness.Emails`), built once for every system's review."""
        from iam.uniqueness import Emails

        with self._lock:  # systems are reviewed in parallel: one index, not one per system
            if self._emails is None:
                self._emails = Emails(self._people)
            return self._emails


class Later:
    """A `Roster` loaded on first use, once, whichever thread asks first."""

    def __init__(self, load: Callable[[], Roster]) -> None:
        self._load = load
        self._roster: Roster | None = None
        self._lock = threading.Lock()

    @classmethod
    def now(cls, roster: Roster) -> Later:
        """One already loaded."""
        later = cls(lambda: roster)
        later._roster = roster
        return later

    def get(self) -> Roster:
        if self._roster is None:
            with self._lock:
                if self._roster is None:
                    self._roster = self._load()
        return self._roster

    @property
    def loaded(self) -> bool:
        return self._roster is not None


class _Shared:
    """One object per distinct value of a shared field or date, for one roster's load."""

    def __init__(self) -> None:
        self._values: dict[object, Any] = {}

    def identity(self, username: str, status: str, attributes: Mapping[str, Any]) -> Identity:
        values: dict[str, Any] = {}
        keep = self._values.setdefault
        for key, value in attributes.items():
            if value is None or key not in _FIELDS:
                continue
            if key in _DATES:
                value = self._date(value)
            elif key in _SHARED and isinstance(value, str):
                value = keep(value, value)
            values[key] = value
        values["username"] = username
        values["status"] = keep(status, status)
        return Identity(**values)

    def _date(self, value: object) -> date | None:
        if not isinstance(value, str):
            return value  # type: ignore[return-value]  # already a date: Identity.from_dict's rule
        found = self._values.get(("date", value))
        if found is None:
            found = self._values[("date", value)] = date.fromisoformat(value) if value else None
        return found
