"""Offboarding benchmark: iam's engine against a bare ldap3 loop, on a real slapd.

A slapd holding PEOPLE people, each in GROUPS_EACH of GROUP_COUNT groups.
Two disjoint sets of LEAVERS people with the same shape are offboarded:
the first by a bare ldap3 loop doing only the modifies a termination needs
(the floor: lock the password, lock the account, remove each membership),
the second by iam's engine (read, plan, journal, apply, audit, read back).
Prints both times and the ratio. A benchmark, not a test: nothing asserts
on time.

    python -m benchmarks.offboard_ldap [--people 20000] [--leavers 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import ldap3
from iam.connectors.ldap import LdapConnector

from iam import runs
from iam.config import Config, RetryPolicy, SystemConfig
from iam.runtime import Runtime
from iam.secrets import Secret
from tests.support.slapd import ADMIN_DN, ADMIN_PASSWORD, BASE_DN, Slapd, seed_base

GROUP_COUNT = 200
GROUPS_EACH = 3


def person_dn(i: int) -> str:
    return f"uid=p{i:06d},ou=people,{BASE_DN}"


def department_of(i: int) -> int:
    return i % GROUP_COUNT


def groups_of(i: int) -> list[int]:
    """A person's groups follow from their department (so a policy can name them)."""
    return [(department_of(i) + k * 61) % GROUP_COUNT for k in range(GROUPS_EACH)]


def seed(slapd: Slapd, people: int) -> float:
    start = time.perf_counter()
    conn = slapd.admin()
    seed_base(conn)
    members: dict[int, list[str]] = {g: [] for g in range(GROUP_COUNT)}
    for i in range(people):
        conn.add(
            person_dn(i),
            ["inetOrgPerson"],
            {"uid": f"p{i:06d}", "cn": f"Person {i}", "sn": str(i), "userPassword": f"pw-{i}-secret"},
        )
        for g in groups_of(i):
            members[g].append(person_dn(i))
    for g, dns in members.items():
        conn.add(f"cn=g{g:03d},ou=groups,{BASE_DN}", ["groupOfNames"], {"cn": f"g{g:03d}", "member": dns})
    conn.unbind()
    return time.perf_counter() - start


def floor(slapd: Slapd, leavers: range) -> float:
    """The same modifies with nothing around them: one connection, no reads."""
    conn = slapd.admin()
    start = time.perf_counter()
    for i in leavers:
        dn = person_dn(i)
        conn.modify(dn, {"userPassword": [(ldap3.MODIFY_REPLACE, ["{CRYPT}!x"])]})
        conn.modify(dn, {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, ["000001010000Z"])]})
        for g in groups_of(i):
            conn.modify(f"cn=g{g:03d},ou=groups,{BASE_DN}", {"member": [(ldap3.MODIFY_DELETE, [dn])]})
    elapsed = time.perf_counter() - start
    conn.unbind()
    return elapsed


def ldap_settings(slapd: Slapd) -> dict[str, object]:
    """The LDAP connector's settings for the benchmark's slapd."""
    return {
        "url": slapd.url,
        "start_tls": False,
        "base_dn": BASE_DN,
        "bind_dn": ADMIN_DN,
        "bind_password": Secret(ADMIN_PASSWORD, "bench"),
        "groups_dn": f"ou=groups,{BASE_DN}",
        "page_size": 500,
    }


def engine(slapd: Slapd, leavers: range, workdir: Path) -> tuple[float, int]:
    settings = ldap_settings(slapd)
    config = Config(
        path=None,
        store=str(workdir / "iam.db"),
        audit_log=str(workdir / "audit.jsonl"),
        retry=RetryPolicy(attempts=3, initial_wait=0.1, max_wait=1),
        systems=(SystemConfig("directory", "ldap", settings),),
    )
    incomplete = 0
    with Runtime(config, connectors={"directory": LdapConnector("directory", settings)}) as rt:
        start = time.perf_counter()
        for i in leavers:
            report = runs.offboard(rt, f"p{i:06d}", "benchmark")
            incomplete += report.status != "complete"
        elapsed = time.perf_counter() - start
    return elapsed, incomplete


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--leavers", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        slapd = Slapd(Path(tmp) / "slapd")
        slapd.start()
        try:
            seeded = seed(slapd, args.people)
            print(f"seeded {args.people} people, {GROUP_COUNT} groups, {GROUPS_EACH} each: {seeded:.1f}s")
            floor_s = floor(slapd, range(0, args.leavers))
            engine_s, incomplete = engine(slapd, range(args.leavers, 2 * args.leavers), Path(tmp))
        finally:
            slapd.stop()
    modifies = args.leavers * (2 + GROUPS_EACH)
    print(f"bare ldap3 loop : {floor_s:8.2f}s  {args.leavers / floor_s:8.1f} leavers/s ({modifies} modifies)")
    print(
        f"iam engine      : {engine_s:8.2f}s  {args.leavers / engine_s:8.1f} leavers/s  "
        f"(read, plan, journal, apply, audit, read back; {incomplete} not complete)"
    )
    print(f"ratio engine/floor: {engine_s / floor_s:.2f}x")


if __name__ == "__main__":
    main()
