"""Who is in which group, gathered from one paged read of every group, for a bulk read of accounts.

A sweep reads the groups first, then streams the accounts and gives each its
groups from here, never one search per account. The map holds one entry per
member value, but what it answers is shared: people in the same groups get
the very same `frozenset` of `Entitlement` (most people share their
department's few groups), so a sweep of 100,000 people holds a few hundred
sets, not 100,000, and judging an account builds none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from iam.dn import norm
from iam.model import Entitlement

_NONE: frozenset[Entitlement] = frozenset()


class Memberships:
    """Member values (DNs, or ``memberUid`` names) mapped to the groups that list them.

    Each member's set is built as the group pages arrive: adding a group to
    a member moves it from one shared set to the next (remembered, so the
    people of a department walk the same few sets), and no list of group
    names per member waits for the last page (at 100,000 people, those
    lists were some 9 MB held at the groups' read).
    """

    KEPT = 10_000  # moves between sets remembered; a directory of unlike people clears and goes on

    def __init__(self, group: Callable[[str], Entitlement] = lambda dn: Entitlement("group", dn)) -> None:
        #: The entitlement a group's DN is reported as (`Spellings.group`).
        self._group = group
        #: By the DN's first RDN within its parent's own map: the parent (``ou=people,...``) is
        #: held once, not in each of 100,000 keys (a third of their memory).
        self._by_dn: dict[str, dict[str, frozenset[Entitlement]]] = {}
        self._by_uid: dict[str, frozenset[Entitlement]] = {}
        self._moves: dict[tuple[frozenset[Entitlement], str], frozenset[Entitlement]] = {}
        self._unions: dict[tuple[frozenset[Entitlement], frozenset[Entitlement]], frozenset[Entitlement]] = {}
        self._sealed = False

    def add(self, group: Mapping[str, Any], attr: str) -> None:
        """Record one group entry whose members are in ``attr`` (lower case)."""
        assert not self._sealed, "a group added after the accounts were asked about"
        dn = group["dn"]
        entitlement = self._group(dn)
        moves = self._moves
        for value in group["attrs"].get(attr, ()):
            if attr == "memberuid":
                by, member = self._by_uid, value
            else:
                parent, member = _split(norm(value))
                by = self._by_dn.get(parent) or self._by_dn.setdefault(parent, {})
            held = by.get(member, _NONE)
            after = moves.get((held, dn))  # a DN's hash is kept by the string: no dataclass hashed
            if after is None:
                if len(moves) >= self.KEPT:
                    moves.clear()
                after = moves[held, dn] = held | {entitlement}
            by[member] = after

    def seal(self) -> None:
        """Every group is in: the accounts may be asked about."""
        self._moves.clear()
        self._sealed = True

    def of(self, dn: str, names: Sequence[str]) -> frozenset[Entitlement]:
        """The groups naming the account ``dn`` by DN, or one of its ``names`` (the values its
        entry stores, compared exactly as ``memberUid`` is) by ``memberUid``."""
        assert self._sealed, "seal() first"
        parent, rdn = _split(norm(dn))
        by_dn = self._by_dn.get(parent, _NO_ONE).get(rdn, _NONE)
        if not self._by_uid:
            return by_dn
        if len(names) == 1:
            by_uid = self._by_uid.get(names[0], _NONE)
        else:
            by_uid = frozenset().union(*(self._by_uid.get(name, _NONE) for name in names))
        if not by_uid:
            return by_dn
        both = self._unions.get((by_dn, by_uid))  # shared too (frozensets keep their hash)
        if both is None:
            both = self._unions[by_dn, by_uid] = by_dn | by_uid
        return both


_NO_ONE: dict[str, frozenset[Entitlement]] = {}


def _split(dn: str) -> tuple[str, str]:
    """A normalised DN's parent and first RDN (`norm` escapes every comma inside a value)."""
    rdn, _, parent = dn.partition(",")
    return parent, rdn
