"""A held group reported by the policy's spelling of its DN, so a plan sees it as held.

slapd sends ``cn=Sales\\2C EU,ou=groups,...`` for the group a policy names
``CN=Sales\\, EU,OU=Groups,...``; Active Directory keeps the case the group was
made with. Compared as text, the two would be a group to grant and another to
revoke: the grant changes nothing and the revoke takes the membership away.
"""

from __future__ import annotations

from collections.abc import Iterable

from iam.dn import norm
from iam.errors import ConfigError
from iam.model import Entitlement


class Spellings:
    """The policy's spelling of each group DN it names, by the DN's canonical form."""

    def __init__(self, system: str) -> None:
        self.system = system
        self._by_norm: dict[str, str] = {}  # replaced whole, never changed: reads need no lock

    def learn(self, named: Iterable[Entitlement]) -> None:
        """Take the spellings of ``named`` (raises when two name one group: write it one way)."""
        found: dict[str, str] = {}
        for entitlement in sorted(named):
            if entitlement.kind != "group":
                continue
            first = found.setdefault(norm(entitlement.value), entitlement.value)
            if first != entitlement.value:
                raise ConfigError(
                    f"the policy names one group of {self.system} two ways: {first!r} and "
                    f"{entitlement.value!r}; write it one way in every role"
                )
        self._by_norm = found

    def group(self, dn: str) -> Entitlement:
        """The group at ``dn`` (as the server spells it), spelt as the policy names it."""
        by_norm = self._by_norm
        return Entitlement("group", by_norm.get(norm(dn), dn) if by_norm else dn)
