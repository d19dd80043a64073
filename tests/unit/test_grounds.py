"""The reasons a reviewer sees next to each entitlement."""

from __future__ import annotations

from datetime import date

from iam.grounds import NOTHING, grounds
from iam.model import Identity
from iam.policy import parse_policy

POLICY = parse_policy(
    {
        "roles": {
            "staff": {"entitlements": {"directory": ["group:cn=staff,dc=x"]}},
            "finance": {"entitlements": {"directory": ["group:cn=finance,dc=x", "group:cn=staff,dc=x"]}},
            "audit": {"entitlements": {"directory": ["group:cn=audit,dc=x"]}},
        },
        "birthright": [{"role": "staff"}, {"role": "finance", "when": {"department": ["Finance"]}}],
        "grants": [
            {"username": "bea", "role": "audit", "expires": "2026-12-31", "requester": "ann"},
        ],
    }
)
BEA = Identity.from_dict(
    {"hr_id": "E2", "username": "bea", "given_name": "Bea", "family_name": "T", "department": "Finance"}
)


def test_each_role_naming_the_entitlement_is_given_with_how_the_person_got_it() -> None:
    today = date(2026, 12, 1)
    assert grounds(POLICY, BEA, today, "directory", "group:cn=staff,dc=x") == [
        "role finance (birthright: department Finance)",
        "role staff (birthright)",
    ]
    assert grounds(POLICY, BEA, today, "directory", "group:cn=audit,dc=x") == [
        "role audit (granted until 2026-12-31, asked by ann)"
    ]


def test_an_entitlement_no_role_names_or_whose_grant_expired_says_so() -> None:
    assert grounds(POLICY, BEA, date(2026, 12, 1), "directory", "group:cn=sales,dc=x") == [NOTHING]
    assert grounds(POLICY, BEA, date(2027, 1, 1), "directory", "group:cn=audit,dc=x") == [NOTHING]
    assert grounds(POLICY, BEA, date(2026, 12, 1), "vpn", "group:cn=staff,dc=x") == [NOTHING]
