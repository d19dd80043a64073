"""Why a person holds an entitlement: the roles of the policy that name it, and how they got each role.

A reviewer deciding keep or revoke needs the reason next to the line: a
birthright rule (with the HR attributes it matched), a time-bound grant
(until when, asked by whom), or nothing — "no role names it", which is the
line most worth revoking. Pure: the policy and the person in, text out.
"""

from __future__ import annotations

from datetime import date

from iam.contract import parse_entitlement
from iam.model import Identity
from iam.policy import Policy

NOTHING = "no role names it"


def grounds(policy: Policy, identity: Identity, today: date, system: str, entitlement: str) -> list[str]:
    """Each reason ``identity`` holds ``entitlement`` in ``system`` today; [`NOTHING`] when none."""
    wanted = parse_entitlement(entitlement)
    reasons: list[str] = []
    for name in sorted(policy.roles_of(identity, today)):
        if wanted not in policy.roles[name].entitlements.get(system, frozenset()):
            continue
        for rule in policy.birthright:
            if rule.role == name and rule.applies_to(identity):
                when = ", ".join(f"{attr} {getattr(identity, attr)}" for attr in sorted(rule.when))
                reasons.append(f"role {name} (birthright{': ' + when if when else ''})")
        for grant in policy.grants:
            if grant.role == name and grant.username == identity.username and grant.active(today):
                reasons.append(
                    f"role {name} (granted until {grant.expires.isoformat()}, asked by {grant.requester})"
                )
    return reasons or [NOTHING]
