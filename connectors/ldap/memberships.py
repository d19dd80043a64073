"""Who is in which group, gathered from one paged read of every group, for a bulk read of accounts.

A sweep reads the groups first, then streams the accounts and gives each its
groups from here, never one search per account. The map holds one entry per
member value, but what it answers is shared: people in the same groups get
the very same `frozenset` of `Entitlement` (most people share their
department's few groups), so a sweep of 100,000 people holds a few hundred
sets, not 100,000, and judging an account builds none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from iam.connectors.ldap.dn import norm

from iam.model import Entitlement

_NONE: frozenset[Entitlement] = frozenset()


class Memberships:
    """Member values (DNs, or ``memberUid`` names) mapped to the groups that list them."""

    def __init__(self) -> None:
        self._by_dn: dict[str, list[str] | frozenset[Entitlement]] = {}
        self._by_uid: dict[str, list[str] | frozenset[Entitlement]] = {}
        self._unions: dict[tuple[frozenset[Entitlement], frozenset[Entitlement]], frozenset[Entitlement]] = {}
        self._sealed = False

    def add(self, group: Mapping[str, Any], attr: str) -> None:
        """Record one group entry whose members are in ``attr`` (lower case)."""
        assert not self._sealed, "a group added after the accounts were asked about"
        dn = group["dn"]
        by, key = (self._by_uid, _same) if attr == "memberuid" else (self._by_dn, norm)
        for value in group["attrs"].get(attr, ()):
            held = by.setdefault(key(value), [])
            assert isinstance(held, list)
            held.append(dn)

    def seal(self) -> None:
        """Every group is in: replace each member's list by a shared set of entitlements."""
        ents: dict[str, Entitlement] = {}
        shared: dict[tuple[str, ...], frozenset[Entitlement]] = {}
        for by in (self._by_dn, self._by_uid):
            for member, groups in by.items():
                assert isinstance(groups, list)
                names = tuple(groups)
                held = shared.get(names)
                if held is None:
                    held = shared[names] = frozenset(
                        ents.get(g) or ents.setdefault(g, Entitlement("group", g)) for g in names
                    )
                by[member] = held
        self._sealed = True

    def of(self, dn: str, username: str) -> frozenset[Entitlement]:
        """The groups naming the account ``dn`` by DN, or ``username`` by ``memberUid``."""
        assert self._sealed, "seal() first"
        by_dn = cast(frozenset[Entitlement], self._by_dn.get(norm(dn), _NONE))
        if not self._by_uid:
            return by_dn
        by_uid = cast(frozenset[Entitlement], self._by_uid.get(username, _NONE))
        if not by_uid:
            return by_dn
        both = self._unions.get((by_dn, by_uid))  # shared too (frozensets keep their hash)
        if both is None:
            both = self._unions[by_dn, by_uid] = by_dn | by_uid
        return both


def _same(value: str) -> str:
    return value
