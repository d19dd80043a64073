"""Exactly which findings a sweep gives over a real slapd holding every kind of problem.

Pins the sweep's behaviour (issue 14's memory work changed how identities,
memberships and accounts are held, never what is found): one directory with
an orphan, a leaver who kept access, excess, missing and expired groups, an
account the policy gives that does not exist, dormant accounts, a
separation-of-duty conflict, an account carrying another person's e-mail,
two people sharing one e-mail, a duplicate identity by name, manager and
start date, an expired and unowned vendor and a person who has not
acknowledged the policy.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from iam import store as store_module
from iam import sweep
from iam.report import SweepResult
from tests.conftest import Directory
from tests.integration.test_sweep_streaming import runtime
from tests.support.slapd import BASE_DN, add_group, add_person

#: The sweep runs this far in the future: every enabled account is dormant by then.
LATER = timedelta(days=100)
GROUPS = f"ou=groups,{BASE_DN}"


def group(cn: str) -> str:
    return f"group:cn={cn},{GROUPS}"


def policy(today: str) -> dict[str, object]:
    return {
        "roles": {
            "eng": {"entitlements": {"directory": [group("eng")]}},
            "ops": {"entitlements": {"directory": [group("eng"), group("ops"), group("unix")]}},
            "extra": {"entitlements": {"directory": [group("bob-only")]}},
            "pay": {"entitlements": {"directory": [group("pay")]}},
            "approve": {"entitlements": {"directory": [group("approve")]}},
        },
        "birthright": [
            {"role": "eng", "when": {"department": ["Engineering"]}},
            {"role": "ops", "when": {"department": ["Ops"]}},
            {"role": "pay", "when": {"department": ["Finance"]}},
        ],
        "grants": [{"username": "bob", "role": "extra", "expires": today, "requester": "boss"}],
        "separation_of_duty": [{"name": "pay-approve", "roles": ["pay", "approve"]}],
        "require_acknowledgement": {"version": "2020-01", "grace_days": 14},
    }


def person(username: str, status: str = "active", **attributes: str) -> dict[str, object]:
    attributes.setdefault("department", "Engineering")
    attributes.setdefault("policy_ack_version", "2020-01")
    return {"username": username, "status": status, **attributes}


PEOPLE = [
    person("alice"),  # holds eng, solo, ops and unix: three too many
    person("bob", department="Ops"),  # bob-only came from a grant that has expired
    person("carol"),  # has an account with no groups
    person("dave"),  # has no account at all
    person("lee", status="terminated"),  # left, still in eng
    person("sam", department="Finance"),  # pay and approve: forbidden together
    person("mia", email="mia@example.org"),  # her entry carries noe's e-mail
    person("noe", email="noe@example.org"),
    person("pat", email="team@example.org"),  # pat and quin share one e-mail
    person("quin", email="team@example.org"),
    person("ann", given_name="Ann", family_name="Test", manager="cal", start_date="2020-01-01"),
    person("ann2", given_name="Ann", family_name="Test", manager="cal", start_date="2020-01-01"),
    person("una", policy_ack_version=""),  # never acknowledged the policy
    person("vic", kind="vendor", department="Vendors", end_date="2020-06-30", owner="lee"),
]


def seed(directory: Directory) -> None:
    conn = directory.slapd.admin()
    dns = {"alice": directory.alice, "bob": directory.bob}
    for uid in ("carol", "lee", "sam", "mia", "noe", "pat", "quin", "ann", "ann2", "una", "zed"):
        dns[uid] = add_person(conn, uid)
    for uid, mail in {
        "mia": "noe@example.org",
        "pat": "team@example.org",
        "quin": "Team@Example.org",
    }.items():
        assert conn.modify(dns[uid], {"mail": [("MODIFY_REPLACE", [mail])]}), conn.result
    assert conn.modify(f"cn=eng,{GROUPS}", {"member": [("MODIFY_ADD", [dns[u] for u in ("lee", "zed")])]})
    others = ("mia", "noe", "pat", "quin", "ann", "ann2", "una")
    assert conn.modify(f"cn=eng,{GROUPS}", {"member": [("MODIFY_ADD", [dns[u] for u in others])]})
    add_group(conn, "pay", "groupOfNames", [dns["sam"]])
    add_group(conn, "approve", "groupOfNames", [dns["sam"]])
    conn.unbind()


def sweep_of(directory: Directory, tmp_path: Path, now: datetime) -> SweepResult:
    with runtime(
        directory, tmp_path, policy_document=policy((now.date() - timedelta(days=1)).isoformat())
    ) as rt:
        rows = [
            {
                "username": p["username"],
                "hr_id": f"H-{p['username']}",
                "status": p["status"],
                "updated_at": datetime(2026, 1, 2, tzinfo=UTC),
                "attributes": {**p, "hr_id": f"H-{p['username']}"},
            }
            for p in PEOPLE
        ]
        with rt.store.engine.begin() as db:
            db.execute(sa.insert(store_module.identities), rows)
        result = sweep.sweep(rt, now)
    assert result.summary.errors == {}
    assert result.summary.identities == len(PEOPLE)
    assert result.summary.accounts == {"directory": 13}
    return result


D = "directory"


def test_a_sweep_gives_exactly_these_findings(directory: Directory, tmp_path: Path) -> None:
    seed(directory)
    result = sweep_of(directory, tmp_path, datetime.now(UTC) + LATER)
    found = [(f.type, f.system, f.account, f.entitlement) for f in result.findings]
    why = {(f.type, f.account, f.entitlement): (f.why, f.since) for f in result.findings}
    active_with_accounts = ["alice", "ann", "ann2", "bob", "carol", "mia", "noe", "pat", "quin", "sam", "una"]
    expected = sorted(
        [
            ("orphan", D, "zed", None),
            ("leaver_with_access", D, "lee", None),
            ("excess", D, "alice", group("ops")),
            ("excess", D, "alice", group("solo")),
            ("excess", D, "alice", group("unix")),
            ("expired", D, "bob", group("bob-only")),
            ("missing", D, "carol", group("eng")),
            ("missing", D, "dave", None),
            ("excess", D, "sam", group("approve")),
            ("sod_conflict", None, "sam", None),
            ("shared_account", D, "mia", None),
            ("shared_account", D, "pat", None),  # the e-mail's last owner by name (quin) is its owner
            ("duplicate_identity", None, "pat", None),
            ("duplicate_identity", None, "quin", None),
            ("duplicate_identity", None, "ann", None),
            ("duplicate_identity", None, "ann2", None),
            ("unacknowledged", None, "una", None),
            ("expired", None, "vic", None),
            ("unowned_third_party", None, "vic", None),
            *[("dormant", D, u, None) for u in active_with_accounts],
        ],
        key=lambda f: (f[0], f[1] or "", f[2], f[3] or ""),
    )
    assert found == expected
    assert why["shared_account", "mia", None][0].endswith(
        "carries noe's e-mail noe@example.org: one account, two people"
    )
    assert "carries quin's e-mail team@example.org" in why["shared_account", "pat", None][0]
    assert why["duplicate_identity", "pat", None][0] == (
        "pat (HR H-pat) looks like quin (HR H-quin): same e-mail team@example.org"
    )
    assert why["duplicate_identity", "ann2", None][0] == (
        "ann2 (HR H-ann2) looks like ann (HR H-ann): "
        "same name Ann Test, manager cal and start date 2020-01-01"
    )
    assert why["sod_conflict", "sam", None][0] == "holds approve + pay, forbidden together by pay-approve"
    assert why["leaver_with_access", "lee", None] == (
        f"account is enabled; holds {group('eng')}",
        "2026-01-02T00:00:00+00:00",
    )
    assert why["unowned_third_party", "vic", None][0] == "owner lee is not an active employee"
    assert why["expired", "bob", group("bob-only")][0] == "time-bound grant of role extra expired"
