"""Active Directory's primary group: a membership no group's ``member`` ever lists.

A user's ``primaryGroupID`` holds the RID of one group (513, Domain Users,
by default); AD counts the user a member of it without naming them in its
``member``. A primary group other than the baseline is therefore access that
a search of ``member`` never finds: this module reads it (group SID = domain
SID + RID, the domain SID being the user's ``objectSid`` without its last
part) and takes it away the only way AD allows: make the user a member of
the baseline group, point ``primaryGroupID`` at it, then remove the
membership in the old group that AD turns explicit.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import ldap3
from iam.connectors.ldap.session import ALREADY_EXISTS, NO_SUCH_OBJECT, SUCCESS, VALUE_EXISTS, LdapSession
from ldap3.utils.conv import escape_filter_chars

from iam import errors
from iam.dn import domain_of

DOMAIN_USERS_RID = 513


class PrimaryGroups:
    """Resolves and changes primary groups; group DNs are remembered by SID."""

    read_attributes = ("primaryGroupID", "objectSid")

    def __init__(self, session: LdapSession, baseline_rid: int) -> None:
        self.session = session
        self.baseline_rid = baseline_rid
        self._dns: dict[str, str] = {}
        self._lock = threading.Lock()

    def beyond_baseline(self, entry: Mapping[str, Any]) -> str | None:
        """The DN of the entry's primary group when it is not the baseline; None when it is."""
        rid = _first(entry["attrs"], "primarygroupid")
        if rid is None or int(rid) == self.baseline_rid:
            return None
        return self.group_dn(entry, int(rid))

    def group_dn(self, entry: Mapping[str, Any], rid: int) -> str:
        """The group with this RID in the entry's domain; raises when none can be read."""
        user_sid = _first(entry["attrs"], "objectsid")
        if not user_sid:
            raise errors.PermanentError(
                f"cannot tell the primary group of {entry['dn']}: its objectSid is not readable"
            )
        sid = f"{user_sid.rsplit('-', 1)[0]}-{rid}"
        with self._lock:
            known = self._dns.get(sid)
        if known:
            return known
        domain = domain_of(entry["dn"])
        found = self.session.search(
            domain,
            f"(&(objectClass=group)(objectSid={escape_filter_chars(sid)}))",
            ["objectClass"],
            setting="base_dn",
            what=f"find the group with RID {rid} (primary group of {entry['dn']})",
        )
        if len(found) != 1:
            raise errors.PermanentError(
                f"the primary group of {entry['dn']} (primaryGroupID {rid}, SID {sid}) is not a group "
                f"readable in {domain}: iam cannot tell what it grants; let the bind account read it"
            )
        with self._lock:
            self._dns[sid] = found[0]["dn"]
        return str(found[0]["dn"])

    def to_baseline(self, entry: Mapping[str, Any], username: str) -> None:
        """Make the baseline group the entry's primary group (AD wants it a member first)."""
        baseline = self.group_dn(entry, self.baseline_rid)
        steps = (
            (baseline, "member", ldap3.MODIFY_ADD, entry["dn"], f"add {username} to {baseline}"),
            (
                entry["dn"],
                "primaryGroupID",
                ldap3.MODIFY_REPLACE,
                str(self.baseline_rid),
                f"make {baseline} the primary group of {username}",
            ),
        )
        for dn, attr, op, value, what in steps:
            code = self.session.modify(
                dn, {attr: [(op, [value])]}, what, accept=frozenset({ALREADY_EXISTS, VALUE_EXISTS})
            )
            if code == NO_SUCH_OBJECT:
                raise errors.NoSuchObject(f"{what}: {dn} is gone")
            if code not in (SUCCESS, ALREADY_EXISTS, VALUE_EXISTS):
                raise errors.InvalidAttribute(f"{what}: refused (LDAP {code})")


def _first(attrs: Mapping[str, list[str]], name: str) -> str | None:
    values = attrs.get(name)
    return values[0] if values else None
