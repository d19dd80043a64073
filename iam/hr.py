"""HR's facts in: the feed (full export) and explicit events, checked row by row.

A bad row is reported with its row number and field and left out; the rest
of the feed is still processed. `derive_events` compares the feed with the
identities iam knows and names joiners, movers, leavers and rehires.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from iam.documents import problems, read_text
from iam.errors import InputError
from iam.hr_records import EventEntry, Person
from iam.model import Identity
from iam.report import RowError

M = TypeVar("M", bound=BaseModel)

EVENT_TYPES = ("joiner", "mover", "leaver", "rehire")

#: The source of the events derived from HR's full export ("hr-feed:<file name>").
FEED_SOURCE = "hr-feed"
#: The reason of a leave HR's feed scheduled from a person's end date (see `derive_events`).
END_DATE_REASON = "HR: end date"


@dataclass(frozen=True)
class Event:
    type: str
    username: str
    effective_at: datetime
    person: Identity | None = None
    reason: str = ""
    source: str = "cli"
    immediate: bool = False
    #: Who submitted an explicit event (OS user, or the HTTP endpoint's client).
    actor: str = ""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def from_feed(self) -> bool:
        """Derived from HR's full export, rather than submitted or made by iam."""
        return self.source.startswith(FEED_SOURCE)

    def to_row(self, status: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "username": self.username,
            "identity": self.person.to_dict() if self.person else {"username": self.username},
            "effective_at": self.effective_at,
            "source": self.source,
            "reason": self.reason,
            "status": status,
            "actor": self.actor or None,
        }


def end_of_day(day: date, tz: tzinfo = UTC) -> datetime:
    """The moment a last working day ends: midnight after it, in the site's zone.

    HR's usual "no end date", 9999-12-31, has no day after it: it ends at its
    own midnight, the last one a date can hold (and one that converts to UTC,
    so it can be stored and compared like any other end).
    """
    if day == date.max:
        return datetime.combine(day, time(0), tzinfo=tz)
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


def start_of_day(day: date, tz: tzinfo = UTC) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def gone(person: Identity, now: datetime, tz: tzinfo = UTC) -> bool:
    """HR has terminated this person: status terminated, or their last day has ended."""
    return person.status == "terminated" or (
        person.end_date is not None and end_of_day(person.end_date, tz) <= now
    )


def _model_errors(model: type[M], record: Any, source: str, row: int) -> tuple[M | None, list[RowError]]:
    """The record as ``model``, or its problems by field (a missing field is named as that field)."""
    try:
        return model.model_validate(record), []
    except ValidationError as exc:
        return None, [RowError(source, row, p.field or "(row)", p.message) for p in problems(exc, record)]


#: Fields of prose, where a line break is text, not an attack on a name.
FREE_TEXT = frozenset({"reason"})

#: C0 and C1 control characters and DEL: never part of a name, a date or an id.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def control_character_errors(record: Any, source: str, row: int, prefix: str = "") -> list[RowError]:
    """A field holding a control character (a newline in a username) is refused, never cleaned.

    Cleaning would turn ``"nl\\nuser"`` into another person's name; JSON
    Schema patterns cannot catch it either (``$`` matches before a final newline).
    """
    if not isinstance(record, Mapping):
        return []
    out = []
    for key, value in record.items():
        if key in FREE_TEXT:
            continue
        if isinstance(value, Mapping):
            out += control_character_errors(value, source, row, f"{prefix}{key}.")
        elif isinstance(value, str) and (found := _CONTROL.search(value)):
            out.append(
                RowError(
                    source,
                    row,
                    f"{prefix}{key}",
                    f"contains a control character (U+{ord(found.group()):04X}) at position "
                    f"{found.start() + 1}: {value!r}",
                )
            )
    return out


#: Spaces of any kind (a no-break space, an em space) around a value; never a control character.
_SURROUNDING_SPACE = re.compile(r"^[^\S\x00-\x1f\x7f-\x9f]+|[^\S\x00-\x1f\x7f-\x9f]+\Z")


def _trim(value: str) -> str:
    """The value without the spaces around it: ``"E3\u00a0"`` from a spreadsheet is HR's ``E3``.

    A tab or newline stays for the control-character check to refuse.
    """
    return _SURROUNDING_SPACE.sub("", value)


def _clean(record: Mapping[str, Any]) -> dict[str, Any]:
    """Every field trimmed alike (`_trim`); CSV gives empty strings for missing values: drop them
    so the schema sees them as absent."""
    trimmed = {k.strip(): (_trim(v) if isinstance(v, str) else v) for k, v in record.items() if k}
    return {k: v for k, v in trimmed.items() if v not in ("", None)}


class Records(list[tuple[int, Any]]):
    """A feed's raw records with their row numbers, and the fields the feed has at all: an
    empty cell is absent from its record, but only a column the export dropped says nothing."""

    def __init__(self, records: Iterable[tuple[int, Any]], fields: Iterable[str]) -> None:
        super().__init__(records)
        self.fields = frozenset(fields)


def read_feed(path: Path) -> tuple[Records, str]:
    """Raw records with their row numbers (CSV: line number; JSON: 1-based index)."""
    text = read_text(path, "the HR feed", "utf-8-sig")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
        if not isinstance(data, list):
            raise InputError(f"{path}: the JSON feed must be a list of people")
        fields = {str(k).strip() for r in data if isinstance(r, dict) for k in r}
        cleaned = [(i, _clean(r) if isinstance(r, dict) else r) for i, r in enumerate(data, start=1)]
        return Records(cleaned, fields), str(path)
    # newline="" keeps a newline inside a quoted field in the value, where the
    # control-character check refuses it, instead of splitting the row silently
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or "hr_id" not in reader.fieldnames:
        raise InputError(
            f"{path}: not an HR feed: the first line must name the columns (hr_id, username, ...)"
        )
    records = []
    start = reader.line_num + 1
    for record in reader:
        records.append((start, _clean(record)))
        start = reader.line_num + 1
    return Records(records, (f.strip() for f in reader.fieldnames if f)), str(path)


def validate_people(
    records: Iterable[tuple[int, Any]],
    source: str,
    known: Mapping[str, Identity],
    now: datetime | None = None,
    tz: tzinfo = UTC,
) -> tuple[list[Identity], list[RowError]]:
    """Schema, uniqueness and reference checks; returns the good people and the errors.

    A row that terminates someone iam knows (``status: terminated``, or an
    end date passed by ``now``) is always taken: it needs only its hr_id to
    say who, and nothing else in it (an owner who left, a missing field)
    may keep a leaver's access. Such rows go first, so a duplicate of one
    cannot hide it.
    """
    rows = list(records)
    leavers = {row: p for row, record in rows if (p := _terminated_by(record, known, now, tz)) is not None}
    good: dict[str, tuple[int, Identity]] = {}
    errors: list[RowError] = []
    holders = name_holders(known.values())
    for row, record in sorted(rows, key=lambda r: r[0] not in leavers):
        person = leavers.get(row) or _person(record, source, row, errors)
        if person is None:
            continue
        if person.hr_id in good:
            errors.append(
                RowError(
                    source,
                    row,
                    "hr_id",
                    f"{person.hr_id} appears twice (first on row {good[person.hr_id][0]})",
                )
            )
            continue
        taken = name_taken(person, holders)
        if taken and row not in leavers:  # a leaver's row is iam's own record of them: it always terminates
            errors.append(RowError(source, row, "username", taken))
            continue
        holders.setdefault(person.username.casefold(), []).append((person, f"row {row}"))
        good[person.hr_id] = (row, person)
    everyone = {p.username: p for _, p in good.values()} | {k.username: k for k in known.values()}
    people: list[Identity] = []
    for row, person in good.values():
        error = None if row in leavers else _reference_error(person, everyone, known)
        if error:
            errors.append(RowError(source, row, *error))
        else:
            people.append(person)
    return people, errors


#: Who holds each username, by its case-folded form: the person and where they were found.
NameHolders = dict[str, list[tuple[Identity, str]]]


def name_holders(known: Iterable[Identity]) -> NameHolders:
    """Every username iam has an HR record for, whatever the person's status.

    A terminated person's account is kept (disabled) until retention deletes
    it, and their history stays under the name after that: the name is
    never given to another hr_id.
    """
    holders: NameHolders = {}
    for person in known:
        holders.setdefault(person.username.casefold(), []).append((person, f"known to iam, {person.status}"))
    return holders


def name_taken(person: Identity, holders: NameHolders) -> str | None:
    """Why ``person`` cannot have their username: another hr_id holds it, in any case.

    Directories match names without case (LDAP's ``uid``): ``CAL`` would be
    cal's account, given the new person's groups and terminated with them.
    """
    for other, where in holders.get(person.username.casefold(), []):
        if other.hr_id != person.hr_id:
            return (
                f"{person.username!r} (hr_id {person.hr_id}) is already the username of hr_id "
                f"{other.hr_id} ({other.username!r}, {where}); usernames are compared without case, "
                "so they would share one account: nothing was changed for either. Give one of them another"
            )
    return None


def _person(record: Any, source: str, row: int, errors: list[RowError]) -> Identity | None:
    """The row as an identity; None (its problems added to ``errors``) when it is not a valid person."""
    found = control_character_errors(record, source, row)
    if not found:
        person, found = _model_errors(Person, record, source, row)
        if person is not None:
            return Identity.from_dict(person.model_dump(exclude_none=True))
    errors += found
    return None


def _terminated_by(
    record: Any, known: Mapping[str, Identity], now: datetime | None, tz: tzinfo
) -> Identity | None:
    """The known person a row terminates (as iam knows them, now leaving), or None.

    Identified by hr_id alone (HR's stable id): the account is the one iam
    manages for that id, whatever else the row says.
    """
    if not isinstance(record, Mapping):
        return None
    before = known.get(str(record.get("hr_id", "")))
    if before is None:
        return None
    if record.get("status") == "terminated":
        return replace(before, status="terminated")
    try:
        end = date.fromisoformat(str(record.get("end_date", "")))
    except ValueError:
        return None
    left = replace(before, end_date=end)
    return left if now is not None and gone(left, now, tz) else None


#: The fields that say who a row is about, even when the row itself was rejected.
_WHO = ("hr_id", "username", "email")


def _loose(value: Any) -> str:
    """A value as damage may have spelt it: without spaces, control or invisible characters, in any case."""
    return "".join(c for c in str(value) if unicodedata.category(c)[0] not in "CZ").casefold()


def protected(
    known: Mapping[str, Identity],
    people: Iterable[Identity],
    records: Iterable[tuple[int, Any]],
    rejected: Iterable[RowError],
) -> dict[str, str]:
    """The known people missing from the feed whom it may not terminate, by hr_id, with why (pure).

    A rejected row may be theirs: it carries their hr_id, username or e-mail,
    however damaged (a stray tab, another case), or it names nobody at all.
    A row listing their username under another hr_id is not them leaving
    either: one feed never both joins and leaves a name. Only a feed that
    says who left, readably, terminates anyone.
    """
    people = list(people)
    bad = {e.row for e in rejected}
    seen: dict[tuple[str, str], int] = {}
    nameless: int | None = None
    for row, record in records:
        if row not in bad:
            continue
        marks = {(f, _loose(record.get(f, ""))) for f in _WHO} if isinstance(record, Mapping) else set()
        marks = {m for m in marks if m[1]}
        if not marks and nameless is None:
            nameless = row
        for mark in marks:
            seen.setdefault(mark, row)
    listed = {p.hr_id for p in people}
    names = {p.username.casefold(): p for p in people}
    out: dict[str, str] = {}
    for hr_id, person in known.items():
        if hr_id in listed:
            continue
        found = [(f, seen[(f, v)]) for f in _WHO if (v := _loose(getattr(person, f))) and (f, v) in seen]
        other = names.get(person.username.casefold())
        if found:
            field, row = found[0]
            out[hr_id] = f"rejected row {row} has their {field}: it may be theirs; fix it in HR"
        elif nameless is not None:
            out[hr_id] = (
                f"rejected row {nameless} names no hr_id, username or e-mail: it may be theirs; fix it in HR"
            )
        elif other is not None:
            out[hr_id] = f"hr_id {other.hr_id} is listed as {other.username!r}: a name cannot join and leave"
    return out


def _reference_error(
    person: Identity, everyone: Mapping[str, Identity], known: Mapping[str, Identity]
) -> tuple[str, str] | None:
    if person.status == "terminated":
        return None  # nothing is granted to a leaver: who manages or owns them does not matter
    if person.manager and person.manager not in everyone:
        return "manager", f"unknown manager {person.manager!r}"
    if person.third_party:
        owner = everyone.get(person.owner)
        if owner is None:
            return "owner", f"unknown owner {person.owner!r}"
        if owner.kind != "employee" or owner.status != "active":
            return "owner", f"owner {person.owner!r} must be an active employee"
    before = known.get(person.hr_id)
    if before and before.username != person.username:
        return "username", f"changed from {before.username!r}; renaming accounts is not supported"
    return None


def derive_events(
    feed: list[Identity],
    known: Mapping[str, Identity],
    pending_leaves: Mapping[str, datetime],
    now: datetime,
    tz: tzinfo = UTC,
    source: str = FEED_SOURCE,
    complete: bool = True,
    held: Collection[str] = frozenset(),
) -> list[Event]:
    """What HR's full export means for each person, compared with what iam knows.

    ``known`` maps hr_id to the stored identity; ``pending_leaves`` maps
    username to an already scheduled leave. A person missing from a
    ``complete`` feed has left. Nothing is derived for a ``held`` username
    (a termination made outside HR stands: see `iam.holds`), so a feed still
    listing them is never read as a joiner, mover or rehire.
    """
    events: list[Event] = []
    for person in feed:
        if person.username in held:
            continue
        before = known.get(person.hr_id)
        ends = end_of_day(person.end_date, tz) if person.end_date else None
        if gone(person, now, tz):
            if before and before.status in ("active", "pending", "suspended"):
                events.append(Event("leaver", person.username, now, person, "HR: terminated", source))
            continue
        starts = start_of_day(person.start_date, tz) if person.start_date else now
        when = max(starts, now)
        if before is None:
            events.append(Event("joiner", person.username, when, person, "HR: new hire", source))
        elif before.status == "terminated":
            events.append(Event("rehire", person.username, when, person, "HR: rehire", source))
        elif before.status == "pending":
            if _facts(before) != _facts(person):  # a future joiner whose details changed before day one
                events.append(
                    Event("joiner", person.username, when, person, "HR: new hire (updated)", source)
                )
        elif before.changed_fields(person):
            changed = ", ".join(before.changed_fields(person))
            events.append(Event("mover", person.username, now, person, f"HR: {changed} changed", source))
        if ends is not None and pending_leaves.get(person.username) != ends:
            events.append(Event("leaver", person.username, ends, person, END_DATE_REASON, source))
    if complete:
        present = {p.hr_id for p in feed}
        for hr_id, before in known.items():
            if before.username in held:
                continue
            if hr_id not in present and before.status in ("active", "pending", "suspended"):
                events.append(
                    Event("leaver", before.username, now, before, "HR: no longer in the feed", source)
                )
    return events


def orphaned_third_parties(
    active: Iterable[Identity], leaving: Collection[str], now: datetime, tz: tzinfo = UTC
) -> list[Identity]:
    """Contractors and vendors whose owner is among ``leaving`` and who stay (pure).

    ``active`` is who holds access now, each as HR last described them (so an
    owner HR just changed counts); anyone HR terminates is left out.
    """
    return sorted(
        (
            p
            for p in active
            if p.third_party and p.owner in leaving and p.username not in leaving and not gone(p, now, tz)
        ),
        key=lambda p: (p.owner, p.username),
    )


def _facts(identity: Identity) -> dict[str, Any]:
    data = identity.to_dict()
    data.pop("status")
    return data


def parse_events(
    data: Any, source: str, known_usernames: Mapping[str, Identity], now: datetime, actor: str = ""
) -> tuple[list[Event], list[RowError]]:
    """Explicit events (file or HTTP body), each checked on its own; ``actor`` submitted them."""
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        return [], [RowError(source, 0, "events", 'the document must be {"events": [...]}')]
    events: list[Event] = []
    errors: list[RowError] = []
    holders = name_holders(known_usernames.values())
    folded = {name.casefold(): name for name in known_usernames}
    for row, raw in enumerate(data["events"], start=1):
        found = control_character_errors(raw, source, row)
        entry, found = (None, found) if found else _model_errors(EventEntry, raw, source, row)
        if entry is None:
            errors += found
            continue
        person = Identity.from_dict(entry.person.model_dump(exclude_none=True)) if entry.person else None
        if person is not None and (taken := name_taken(person, holders)):
            errors.append(RowError(source, row, "person.username", taken))
            continue
        if person is not None:
            holders.setdefault(person.username.casefold(), []).append((person, f"event {row}"))
        username = person.username if person else str(entry.username)
        if person is None and username not in known_usernames:  # a leaver for CAL is HR's cal
            username = folded.get(username.casefold(), username)
        if entry.type in ("mover", "leaver") and username not in known_usernames:
            errors.append(RowError(source, row, "username", f"unknown person {username!r}"))
            continue
        if entry.type == "joiner" and username in known_usernames:
            errors.append(
                RowError(source, row, "username", f"{username!r} is already known; use mover or rehire")
            )
            continue
        if person is None:
            person = known_usernames[username]
        events.append(
            Event(
                entry.type,
                username,
                entry.effective_at or now,
                person,
                entry.reason,
                source,
                entry.immediate,
                actor,
            )
        )
    return events, errors
