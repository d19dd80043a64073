"""Policy acknowledgement in the access review: who has not acknowledged the current version (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from iam.model import Identity
from iam.policy import Policy
from iam.report import Finding


def findings(identities: Mapping[str, Identity], policy: Policy, today: date) -> list[Finding]:
    """An `unacknowledged` finding per active person without the current version's acknowledgement,
    once the grace period is over: while it runs, signing late is expected, not a finding."""
    ack = policy.acknowledgement
    if ack is None or today <= ack.grace_ends:
        return []
    out = []
    for person in sorted(identities.values(), key=lambda p: p.username):
        if person.status != "active" or ack.acknowledged(person):
            continue
        signed = (
            f"acknowledged {person.policy_ack_version}" if person.policy_ack_version else "never acknowledged"
        )
        withheld = sorted(policy.withheld(person, today))
        why = f"policy {ack.version} not acknowledged ({signed}); grace ends {ack.grace_ends}"
        if withheld:
            why += f"; role(s) withheld: {', '.join(withheld)}"
        out.append(
            Finding(
                type="unacknowledged",
                system=None,
                account=person.username,
                entitlement=None,
                why=why,
                since=ack.grace_ends.isoformat(),
                action="acknowledge",
            )
        )
    return out
