"""Access-review findings from data alone (`iam.review`): what each account, judged as it arrives, yields.

Connectors hand many people the very same set of entitlements (`connectors.ldap.memberships`)
and the policy gives many the same wanted set; the review remembers each comparison, so
these tests mix shared and unshared sets, alike and different, and expect the same findings.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from iam import review
from iam.model import AccountState, Entitlement, Identity
from iam.policy import parse_policy
from iam.roster import Later, Roster

NOW = datetime(2026, 12, 5, 10, tzinfo=UTC)
TODAY = NOW.date()
POLICY = parse_policy(
    {
        "roles": {
            "staff": {"entitlements": {"dir": ["group:staff"]}},
            "eng": {"entitlements": {"dir": ["group:eng", "group:git"]}},
            "pay": {"entitlements": {"dir": ["group:pay"]}},
        },
        "birthright": [{"role": "staff"}, {"role": "eng", "when": {"department": ["Engineering"]}}],
        "grants": [{"username": "gil", "role": "pay", "expires": "2026-11-30", "requester": "boss"}],
    }
)


def g(name: str) -> Entitlement:
    return Entitlement("group", name)


ENG = frozenset({g("staff"), g("eng"), g("git")})


def person(username: str, department: str = "Engineering", status: str = "active") -> Identity:
    return Identity(username=username, department=department, status=status)


def account(username: str, held: frozenset[Entitlement], **kw: datetime) -> AccountState:
    return AccountState(system="dir", username=username, ref=username, enabled=True, entitlements=held, **kw)


def found(identities: list[Identity], accounts: list[AccountState]) -> set[tuple[str, str, str | None]]:
    people = {p.username: p for p in identities}
    findings = review.find(people, POLICY, {"dir": accounts}, TODAY, NOW)
    return {(f.type, f.account, f.entitlement) for f in findings}


def test_people_holding_one_shared_set_are_each_judged_against_what_they_should_hold() -> None:
    """ann and bob (engineers) and cy (sales) hold the very same set object: only cy has excess."""
    people = [person("ann"), person("bob"), person("cy", "Sales")]
    accounts = [account("ann", ENG), account("bob", ENG), account("cy", ENG)]
    assert found(people, accounts) == {
        ("excess", "cy", "group:eng"),
        ("excess", "cy", "group:git"),
    }


def test_equal_sets_that_are_different_objects_give_the_same_findings() -> None:
    people = [person("ann"), person("cy", "Sales")]
    accounts = [account("ann", frozenset(ENG)), account("cy", frozenset({g("git"), g("eng"), g("staff")}))]
    assert found(people, accounts) == {("excess", "cy", "group:eng"), ("excess", "cy", "group:git")}


def test_missing_expired_orphan_leaver_and_dormant_are_each_found_once() -> None:
    long_ago = NOW - timedelta(days=400)
    people = [person("dee"), person("gil"), person("lea", status="terminated"), person("nik")]
    accounts = [
        account("dee", frozenset({g("staff")})),  # lacks eng and git
        account("gil", ENG | {g("pay")}),  # pay's grant expired
        account("lea", frozenset({g("staff")})),  # left, still holds staff
        account("orv", frozenset()),  # nobody HR knows, enabled
        account("dee2", ENG, created=long_ago),  # an orphan too, with groups
    ]
    accounts.append(account("nik", ENG, last_login=long_ago))
    assert found(people, accounts) == {
        ("missing", "dee", "group:eng"),
        ("missing", "dee", "group:git"),
        ("expired", "gil", "group:pay"),
        ("leaver_with_access", "lea", None),
        ("orphan", "orv", None),
        ("orphan", "dee2", None),
        ("dormant", "nik", None),
    }


def test_an_account_the_policy_gives_that_the_read_did_not_see_is_missing() -> None:
    assert found([person("ann"), person("bob")], [account("ann", ENG)]) == {("missing", "bob", None)}


def test_a_review_of_many_distinct_sets_forgets_old_comparisons_and_stays_right() -> None:
    """More distinct (held, wanted) pairs than the review keeps: each one is still judged afresh."""
    count = review._Differences.KEPT + 50
    people = [person(f"p{i}") for i in range(count)]
    accounts = [account(f"p{i}", ENG | {g(f"extra{i}")}) for i in range(count)]
    findings = found(people, accounts)
    assert findings == {("excess", f"p{i}", f"group:extra{i}") for i in range(count)}


SOD_POLICY = parse_policy(
    {
        "roles": {
            "staff": {"entitlements": {"dir": ["group:staff"]}},
            "pay": {"entitlements": {"dir": ["group:pay"]}},
            "approve": {"entitlements": {"dir": ["group:approve"], "vpn": ["access:finance"]}},
        },
        "birthright": [{"role": "staff"}],
        "separation_of_duty": [{"name": "pay-approve", "roles": ["pay", "approve"]}],
    }
)


def test_a_person_holding_two_roles_forbidden_together_across_systems_is_a_sod_conflict() -> None:
    """approve is held only with both its directory group and its VPN access; the review keeps
    only what an SoD rule names, and the conflict is found from that alone."""
    people = {p.username: p for p in map(person, ("ann", "bob", "cy"))}
    both = frozenset({g("staff"), g("pay"), g("approve")})
    dir_accounts = [
        account("ann", both),
        account("bob", both),
        account("cy", frozenset({g("staff"), g("pay")})),
    ]
    vpn = [
        AccountState("vpn", name, name, True, frozenset({Entitlement("access", "finance")}))
        for name in ("ann", "cy")
    ]
    reviews = []
    for system, states in {"dir": dir_accounts, "vpn": vpn}.items():
        one = review.SystemReview(system, Later.now(Roster(people.values())), SOD_POLICY, TODAY, NOW)
        for state in states:
            one.add(state)
        reviews.append(one)
    assert reviews[0].held == {
        "ann": {g("pay"), g("approve")},
        "bob": {g("pay"), g("approve")},
        "cy": {g("pay")},
    }
    assert reviews[0].held["ann"] is reviews[0].held["bob"]  # one set for people holding the same
    findings = review.combine(Roster(people.values()), SOD_POLICY, reviews, TODAY)
    sod = [(f.account, f.why) for f in findings if f.type == "sod_conflict"]
    # bob lacks approve's VPN access, cy its group: only ann holds both roles
    assert sod == [("ann", "holds approve + pay, forbidden together by pay-approve")]


def test_a_review_without_separation_of_duty_rules_keeps_no_entitlements() -> None:
    one = review.SystemReview("dir", Later.now(Roster([person("ann")])), POLICY, TODAY, NOW)
    one.add(account("ann", ENG))
    assert one.held == {} and one.count == 1
