"""HR facts an LDAP account keeps a copy of (title, department, manager...), following HR.

The ``attributes`` setting maps HR's fields to the directory's attributes;
without it each flavor has the map below. The map is followed on every
joiner (create), mover and rehire (`attribute_delta` → one modify). Rules:

- a blank HR field leaves the directory's value alone (an export lacking a
  column must not wipe the directory);
- ``manager`` holds the manager's entry DN, looked up by username; a manager
  with no entry here is left unset (a stale manager is removed), and the
  result's detail says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import ldap3

from iam import errors
from iam.contract import AttributeDelta
from iam.dn import norm

#: Where each HR field goes, per flavor. The ``attributes`` setting replaces a map whole.
DEFAULT_MAPS: dict[str, dict[str, str]] = {
    "openldap": {
        "given_name": "givenName",
        "family_name": "sn",
        "display_name": "displayName",
        "email": "mail",
        "title": "title",
        "department": "departmentNumber",
        "manager": "manager",
    },
    "ad": {
        "given_name": "givenName",
        "family_name": "sn",
        "display_name": "displayName",
        "email": "mail",
        "title": "title",
        "department": "department",
        "manager": "manager",
    },
}
#: The HR fields a map may name.
HR_FIELDS = tuple(DEFAULT_MAPS["openldap"])
MANAGER = "manager"

#: A manager's username to their entry's DN; None when there is no such entry.
ManagerLookup = Callable[[str], str | None]
Changes = dict[str, list[tuple[str, list[str]]]]


class AttributeMap:
    """One system's map from HR fields to directory attributes."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.mapping = dict(mapping)
        #: (HR field, attribute name as entries key it): lowered once, not per account read
        self._lowered = [(field, name.lower()) for field, name in self.mapping.items()]

    def read_attributes(self) -> list[str]:
        return list(self.mapping.values())

    def held(self, attrs: Mapping[str, list[str]]) -> dict[str, list[str]]:
        """The entry's values, by HR field."""
        return {field: list(attrs.get(name, ())) for field, name in self._lowered}

    def for_create(
        self, hr: Mapping[str, Any], manager_dn: ManagerLookup
    ) -> tuple[dict[str, str], list[str]]:
        """The attributes a new entry gets, and notes on what could not be set."""
        out: dict[str, str] = {}
        notes: list[str] = []
        for field, name in self.mapping.items():
            want = self._wanted(field, hr.get(field), manager_dn, notes)
            if want:
                out[name] = want[0]
        return out, notes

    def delta(
        self, held: Mapping[str, list[str]], hr: Mapping[str, Any], manager_dn: ManagerLookup
    ) -> AttributeDelta | None:
        """HR's values (the manager as a username) for every field the entry does not yet follow."""
        replace = {
            field: [str(hr[field])]
            for field in self.mapping
            if (want := self._wanted(field, hr.get(field), manager_dn, [])) is not None
            and not _same(field, held.get(field, []), want)
        }
        return AttributeDelta(replace=replace) if replace else None

    def changes(
        self, attrs: Mapping[str, list[str]], delta: AttributeDelta, manager_dn: ManagerLookup
    ) -> tuple[Changes, list[str], list[str]]:
        """The modify that makes the entry follow ``delta``, the fields it changes, and notes."""
        unknown = sorted({*delta.add, *delta.remove, *delta.replace} - set(self.mapping))
        if unknown or delta.add or delta.remove:
            raise errors.InvalidAttribute(
                f"the LDAP connector follows HR by replacing the mapped fields {sorted(self.mapping)}; "
                f"refused {unknown or 'an add or remove'}, nothing was changed"
            )
        held = self.held(attrs)
        changes: Changes = {}
        notes: list[str] = []
        for field, values in delta.replace.items():
            want = self._wanted(field, values[0] if values else "", manager_dn, notes)
            if want is not None and not _same(field, held[field], want):
                changes[self.mapping[field]] = [(ldap3.MODIFY_REPLACE, want)]
        return changes, sorted(changes), notes

    def _wanted(
        self, field: str, value: Any, manager_dn: ManagerLookup, notes: list[str]
    ) -> list[str] | None:
        """The values HR wants; None when HR says nothing."""
        text = "" if value is None else str(value)
        if not text:
            return None
        if field != MANAGER:
            return [text]
        dn = manager_dn(text)
        if dn is None:
            notes.append(f"manager {text!r} has no entry in this directory: {self.mapping[field]} left unset")
            return []
        return [dn]


def _same(field: str, held: list[str], want: list[str]) -> bool:
    if field == MANAGER:
        return {norm(v) for v in held} == {norm(v) for v in want}
    return sorted(held) == sorted(want)
