"""Access-review benchmark: `iam review sweep` over a real slapd, against a bare paged search.

A slapd holding PEOPLE people (each in 3 of 200 groups, following their
department) plus ORPHANS accounts HR does not know; the store knows every
person with a policy giving exactly their groups. The sweep (bulk read of
groups and users, comparison with identities and policy, storing the
findings) is timed next to the floor: the same two paged ldap3 searches
with nothing done with the results. Nothing asserts on time.

    python -m benchmarks.sweep_ldap [--people 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import ldap3
import sqlalchemy as sa
import yaml
from iam.connectors.ldap import LdapConnector

from benchmarks.offboard_ldap import GROUP_COUNT, GROUPS_EACH, department_of, ldap_settings, seed
from iam import store as store_module
from iam import sweep
from iam.config import Config, SystemConfig
from iam.runtime import Runtime
from tests.support.slapd import BASE_DN, Slapd, add_person

ORPHANS = 100


def policy_file(path: Path) -> Path:
    roles = {
        f"d{d:03d}": {
            "entitlements": {
                "directory": [
                    f"group:cn=g{(d + k * 61) % GROUP_COUNT:03d},ou=groups,{BASE_DN}"
                    for k in range(GROUPS_EACH)
                ]
            }
        }
        for d in range(GROUP_COUNT)
    }
    birthright = [{"role": f"d{d:03d}", "when": {"department": [f"d{d:03d}"]}} for d in range(GROUP_COUNT)]
    path.write_text(yaml.safe_dump({"roles": roles, "birthright": birthright}))
    return path


def load_identities(rt: Runtime, people: int) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "username": f"p{i:06d}",
            "hr_id": f"H{i}",
            "status": "active",
            "updated_at": now,
            "attributes": {
                "username": f"p{i:06d}",
                "hr_id": f"H{i}",
                "given_name": "P",
                "family_name": str(i),
                "department": f"d{department_of(i):03d}",
                "kind": "employee",
            },
        }
        for i in range(people)
    ]
    with rt.store.engine.begin() as db:
        db.execute(sa.insert(store_module.identities), rows)


def floor(slapd: Slapd) -> float:
    conn = slapd.admin()
    start = time.perf_counter()
    for base, flt, attrs in (
        (f"ou=groups,{BASE_DN}", "(objectClass=groupOfNames)", ["objectClass", "member"]),
        (
            BASE_DN,
            "(&(objectClass=inetOrgPerson)(uid=*))",
            ["uid", "cn", "mail", "userPassword", "pwdAccountLockedTime", "authTimestamp", "createTimestamp"],
        ),
    ):
        conn.extend.standard.paged_search(
            base, flt, ldap3.SUBTREE, attributes=attrs, paged_size=500, generator=False
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        slapd = Slapd(work / "slapd")
        slapd.start()
        try:
            seeded = seed(slapd, args.people)
            conn = slapd.admin()
            for i in range(ORPHANS):
                add_person(conn, f"orphan{i:03d}")
            conn.unbind()
            print(f"seeded {args.people} people + {ORPHANS} orphans: {seeded:.1f}s")
            settings = ldap_settings(slapd)
            config = Config(
                path=None,
                store=str(work / "iam.db"),
                audit_log=str(work / "audit.jsonl"),
                systems=(SystemConfig("directory", "ldap", settings),),
                policy=str(policy_file(work / "policy.yaml")),
            )
            with Runtime(config, connectors={"directory": LdapConnector("directory", settings)}) as rt:
                load_identities(rt, args.people)
                floor_s = floor(slapd)
                start = time.perf_counter()
                result = sweep.sweep(rt, datetime.now(UTC))
                sweep_s = time.perf_counter() - start
        finally:
            slapd.stop()
    print(f"bare paged search (groups + users): {floor_s:7.2f}s")
    print(
        f"iam review sweep                  : {sweep_s:7.2f}s  ({result['summary']['total']} findings, "
        f"by type {result['summary']['by_type']})"
    )
    print(f"ratio sweep/floor: {sweep_s / floor_s:.2f}x")


if __name__ == "__main__":
    main()
