"""Proof that the bind account sees every group under ``groups_dn`` and who is in it.

A directory's access controls hide without saying so. What slapd 2.5
answers a bind account without the rights (checked against a real slapd):

- a search base it may not see: noSuchObject (32), as if missing (with
  ``disclose`` rights: insufficientAccess, 50) — `LdapSession.search` raises;
- entries below a visible base that it may not see: left out, success;
- an attribute it may not read: the entry comes back without it, success;
- a filter on an attribute it may not search (``(member=<dn>)``): Undefined,
  so no entry matches, success.

So "no group names this person" proves nothing by itself. This module proves
the rest: that the groups are there to see (or that ``groups_dn`` has nothing
below it at all), that each group's membership attribute can be searched (a
filter that is true for every entry, ``(|(member=*)(!(member=*)))``, matches
every group only if it can), and that its values can be read. Whatever it
cannot prove is an `errors.IncompleteRead` that says how to grant the right.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ldap3
from iam.connectors.ldap.session import LdapSession

from iam import errors

#: Group object classes (lower case) and the attribute that lists their members.
MEMBER_ATTRS = {
    "groupofnames": "member",
    "groupofuniquenames": "uniquemember",
    "posixgroup": "memberuid",
    "group": "member",
}
#: Classes whose schema requires a member: such a group showing none hides them.
MEMBER_REQUIRED = frozenset({"groupofnames", "groupofuniquenames"})
_EXAMPLES = 3


def group_class(entry: Mapping[str, Any]) -> str:
    """The first group class of an entry (lower case), in `MEMBER_ATTRS` order."""
    classes = {c.lower() for c in entry["attrs"].get("objectclass", [])}
    for cls in MEMBER_ATTRS:
        if cls in classes:
            return cls
    raise errors.InvalidAttribute(f"{entry['dn']} is not a group this connector understands")


class GroupVisibility:
    """Proves, for one connector's session, that group reads see every group and member."""

    def __init__(self, session: LdapSession, groups_dn: str, classes: list[str], page_size: int) -> None:
        self.session = session
        self.groups_dn = groups_dn
        self.classes = classes
        self.page_size = page_size

    @property
    def _who(self) -> str:
        return self.session.bind_dn or "the anonymous bind"

    def _where(self) -> str:
        return f"{self.groups_dn} ({self.session.where('groups_dn')})"

    def _grant(self, attrs: str = "") -> str:
        """The fix, in OpenLDAP's words and Active Directory's."""
        scope = f" attrs={attrs}" if attrs else ""
        return (
            f"Grant {self._who} read access below {self.groups_dn} (OpenLDAP: "
            f'`access to dn.subtree="{self.groups_dn}"{scope} by dn.exact="{self._who}" read`; '
            "Active Directory: Read Members on the groups)"
        )

    def _search(self, search_filter: str, attributes: list[str], what: str) -> list[dict[str, Any]]:
        return self.session.search(
            self.groups_dn,
            search_filter,
            attributes,
            setting="groups_dn",
            page_size=self.page_size,
            what=what,
        )

    def prove(self) -> str:
        """Raise unless every group below groups_dn and its members are visible; say what was seen."""
        top = self.session.search(
            self.groups_dn,
            "(objectClass=*)",
            ["hasSubordinates"],
            setting="groups_dn",
            scope=ldap3.BASE,
            what="read groups_dn",
        )
        any_class = "".join(f"(objectClass={c})" for c in self.classes)
        groups = self._search(f"(|{any_class})", ["objectClass"], "list groups")
        if not groups:
            return self._nothing_below(top[0])
        by_class: dict[str, set[str]] = {}
        for group in groups:
            by_class.setdefault(group_class(group), set()).add(group["dn"].lower())
        for cls, dns in sorted(by_class.items()):
            self._prove_searchable(cls, dns)
            self._prove_readable(cls)
        return f"{len(groups)} group(s) below {self.groups_dn} visible with their members"

    def _nothing_below(self, top: Mapping[str, Any]) -> str:
        """No group visible: fine only if groups_dn provably has nothing below it."""
        below = (top["attrs"].get("hassubordinates") or ["unknown"])[0].upper()
        if below == "FALSE":
            return f"no groups below {self.groups_dn} yet"
        seen = (
            "has entries below it"
            if below == "TRUE"
            else "may have entries below it (hasSubordinates is unreadable)"
        )
        raise errors.IncompleteRead(
            f"no group below {self._where()} is visible to {self._who}, yet it {seen}: either "
            f"{self._who} may not see the groups, or groups_dn points at the wrong place. "
            f"{self._grant()}, or set groups_dn to where the groups are"
        )

    def _prove_searchable(self, cls: str, dns: set[str]) -> None:
        attr = MEMBER_ATTRS[cls]
        always = f"(&(objectClass={cls})(|({attr}=*)(!({attr}=*))))"
        matched = {e["dn"].lower() for e in self._search(always, ["1.1"], f"prove {attr} can be searched")}
        hidden = sorted(dns - matched)
        if hidden:
            raise errors.IncompleteRead(
                f"{len(hidden)} of {len(dns)} {cls} group(s) below {self._where()} do not let {self._who} "
                f"search their {attr} attribute (e.g. {', '.join(hidden[:_EXAMPLES])}), so a person's "
                f"groups cannot all be found. {self._grant(attr)}"
            )

    def _prove_readable(self, cls: str) -> None:
        attr = MEMBER_ATTRS[cls]
        one = self.session.first(
            self.groups_dn,
            f"(&(objectClass={cls})({attr}=*))",
            [attr],
            setting="groups_dn",
            what=f"prove {attr} can be read",
        )
        if one is not None and not one["attrs"].get(attr):
            raise errors.IncompleteRead(
                f"{self._who} may search but not read the {attr} attribute of the groups below "
                f"{self._where()} (e.g. {one['dn']} shows no members): a bulk read would see them "
                f"empty. {self._grant(attr)}"
            )

    def prove_empty(self, shown_empty: Mapping[str, str]) -> None:
        """Raise unless each group that showed no members (DN -> class) really has none."""
        required = sorted(dn for dn, cls in shown_empty.items() if cls in MEMBER_REQUIRED)
        if required:
            raise self._empty_error(required, len(shown_empty))
        by_class: dict[str, set[str]] = {}
        for dn, cls in shown_empty.items():
            by_class.setdefault(cls, set()).add(dn.lower())
        unproven: list[str] = []
        for cls, dns in by_class.items():
            attr = MEMBER_ATTRS[cls]
            empty = self._search(f"(&(objectClass={cls})(!({attr}=*)))", ["1.1"], f"prove {attr} is empty")
            unproven += sorted(dns - {e["dn"].lower() for e in empty})
        if unproven:
            raise self._empty_error(unproven, len(shown_empty))

    def _empty_error(self, dns: list[str], shown: int) -> errors.IncompleteRead:
        return errors.IncompleteRead(
            f"{len(dns)} of {shown} group(s) below {self._where()} showed {self._who} no members although "
            f"they have some, or cannot be proven empty (e.g. {', '.join(dns[:_EXAMPLES])}). "
            f"{self._grant()}"
        )
