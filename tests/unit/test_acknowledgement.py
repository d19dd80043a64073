"""Roles that need the policy acknowledged: pure policy logic."""

from __future__ import annotations

from datetime import date

import pytest

from iam.acknowledgement import findings
from iam.errors import UserError
from iam.model import Identity
from iam.policy import parse_policy

POLICY = {
    "roles": {
        "staff": {"entitlements": {"directory": ["group:staff"]}},
        "vpn-users": {"requires_acknowledgement": True, "entitlements": {"vpn": ["vpn:access"]}},
    },
    "birthright": [{"role": "staff"}, {"role": "vpn-users"}],
    "require_acknowledgement": {"version": "2026-01", "grace_days": 14},
}
SIGNED = Identity("ann", policy_ack_version="2026-01", hr_id="E1")
UNSIGNED = Identity("bob", hr_id="E2")


def test_within_the_grace_period_everyone_keeps_the_role_after_it_only_who_signed() -> None:
    policy = parse_policy(POLICY)
    assert policy.roles_of(UNSIGNED, date(2026, 1, 15)) == {"staff", "vpn-users"}
    assert policy.roles_of(UNSIGNED, date(2026, 1, 16)) == {"staff"}
    assert policy.withheld(UNSIGNED, date(2026, 1, 16)) == {"vpn-users"}
    assert policy.roles_of(SIGNED, date(2026, 1, 16)) == {"staff", "vpn-users"}
    assert policy.withheld(SIGNED, date(2026, 1, 16)) == set()


def test_the_sweep_names_who_has_not_signed_and_what_is_withheld() -> None:
    policy = parse_policy(POLICY)
    [found] = findings({"ann": SIGNED, "bob": UNSIGNED}, policy, date(2026, 2, 1))
    assert (found.type, found.account, found.since) == ("unacknowledged", "bob", "2026-01-15")
    assert "never acknowledged" in found.why and "withheld: vpn-users" in found.why


def test_no_finding_while_the_grace_period_runs_only_after_it() -> None:
    policy = parse_policy(POLICY)
    assert findings({"ann": SIGNED, "bob": UNSIGNED}, policy, date(2026, 1, 15)) == []
    [found] = findings({"ann": SIGNED, "bob": UNSIGNED}, policy, date(2026, 1, 16))
    assert found.account == "bob"


def test_a_version_that_is_no_date_needs_since() -> None:
    with pytest.raises(UserError, match="since"):
        parse_policy({**POLICY, "require_acknowledgement": {"version": "v7"}})
    policy = parse_policy({**POLICY, "require_acknowledgement": {"version": "v7", "since": "2026-03-01"}})
    assert policy.acknowledgement is not None and policy.acknowledgement.grace_ends == date(2026, 3, 15)
