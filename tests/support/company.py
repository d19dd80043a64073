"""The sample company's policy on the test directory, and helpers to drive HR syncs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from iam.hr_records import Person
from iam.policy import load_policy
from tests.conftest import Directory, run_iam
from tests.support import schemas
from tests.support.slapd import BASE_DN, add_policy_groups

EXAMPLES = Path(__file__).parents[2] / "examples/company"
FIELDS = list(Person.model_fields)  # the feed's columns, in order
NOW = "2026-11-22T10:00:00+00:00"


def sample_policy(directory: Directory, tmp_path: Path) -> Path:
    """The sample company's policy copied to ``tmp_path``, its groups created in the directory."""
    policy = tmp_path / "policy.yaml"
    shutil.copy(EXAMPLES / "policy.yaml", policy)
    roles = load_policy(policy).roles.values()
    groups = sorted({e.value for r in roles for ents in r.entitlements.values() for e in ents})
    admin = directory.slapd.admin()
    add_policy_groups(admin, groups)
    admin.unbind()
    return policy


def person(
    hr_id: str, username: str, department: str, title: str = "Engineer", **extra: str
) -> dict[str, str]:
    row = {
        "hr_id": hr_id,
        "username": username,
        "given_name": username.title(),
        "family_name": "Test",
        "email": f"{username}@example.org",
        "department": department,
        "title": title,
        "kind": "employee",
        "status": "active",
        "start_date": "2020-01-01",
        "site": "HQ",
        # the sample policy's privacy policy, signed: a test of an unsigned person says so
        "policy_ack_version": "2026-01",
        "policy_ack_date": "2026-01-05",
    }
    row.update(extra)
    return row


BASE_FEED = [
    person("E1", "ann", "Engineering", "Engineering Manager"),
    person("E2", "bea", "Finance", "Payroll Clerk", manager="ann"),
    person("E3", "cal", "Sales", manager="ann"),
    person("E4", "dan", "Engineering", "Contractor", kind="contractor", owner="ann", end_date="2026-12-31"),
]


def write_feed(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def groups_of(directory: Directory, uid: str) -> set[str]:
    conn = directory.slapd.admin()
    conn.search(BASE_DN, f"(uid={uid})", attributes=["pwdAccountLockedTime"])
    if not conn.entries:
        return set()
    dn = conn.entries[0].entry_dn
    conn.search(
        f"ou=groups,{BASE_DN}", f"(|(member={dn})(uniqueMember={dn})(memberUid={uid}))", attributes=["cn"]
    )
    names = {e.cn.value for e in conn.entries}
    conn.unbind()
    return names


def locked(directory: Directory, uid: str) -> bool:
    conn = directory.slapd.admin()
    conn.search(BASE_DN, f"(uid={uid})", attributes=["pwdAccountLockedTime"])
    value = bool(conn.entries and conn.entries[0].pwdAccountLockedTime.values)
    conn.unbind()
    return value


def sync(config: Path, feed: Path, *extra: str, now: str = NOW):
    result = run_iam(
        "--config", str(config), "hr", "sync", str(feed), "--now", now, "--format", "json", *extra
    )
    report = json.loads(result.stdout) if result.stdout.strip() else None
    if report is not None:
        schemas.validate(report, "lifecycle-report")  # every sync a test runs follows the schema
    return result, report


def changes(config: Path) -> int:
    text = (config.parent / "state/audit.jsonl").read_text()
    return sum(1 for line in text.splitlines() if '"event":"access.changed"' in line)
