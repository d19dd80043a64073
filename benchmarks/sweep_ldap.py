"""Access-review benchmark: `iam review sweep` over a real slapd, against a bare paged search.

A slapd holding PEOPLE people (each in 3 of 200 groups, following their
department) plus ORPHANS accounts HR does not know; the store knows every
person with a policy giving exactly their groups. The sweep (bulk read of
groups and users, comparison with identities and policy, storing the
findings) is timed next to the floor: the same two paged ldap3 searches,
with the connector's page sizes (`GROUPS_A_PAGE` groups, `page_size`
users), each entry dropped as it arrives. Each runs in a child process of its own,
so its peak resident memory is its own (``VmHWM``, read by the child at
its end: ``wait4``'s ``ru_maxrss`` would also count the parent's memory,
which a forked child maps until it execs); rounds
are interleaved (`benchmarks/timing.py`). Nothing asserts on time.

    python -m benchmarks.sweep_ldap [--people 20000] [--repeat 3] [--floor-groups-a-page 500]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import ldap3
import sqlalchemy as sa
import yaml
from iam.connectors.ldap import LdapConnector
from iam.connectors.ldap.connector import GROUPS_A_PAGE

from benchmarks.offboard_ldap import GROUP_COUNT, GROUPS_EACH, department_of, ldap_settings, seed
from benchmarks.timing import interleaved, ratio, summary
from iam import store as store_module
from iam import sweep
from iam.config import Config, SystemConfig
from iam.model import AccountState
from iam.runtime import Runtime
from tests.support.slapd import ADMIN_DN, ADMIN_PASSWORD, BASE_DN, Slapd, add_person

ORPHANS = 100
USER_ATTRIBUTES = [
    "uid",
    "cn",
    "mail",
    "userPassword",
    "pwdAccountLockedTime",
    "authTimestamp",
    "createTimestamp",
]


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


def config_for(work: Path, port: int) -> tuple[Config, dict[str, object]]:
    settings = ldap_settings(f"ldap://127.0.0.1:{port}")
    config = Config(
        path=None,
        store=str(work / "iam.db"),
        audit_log=str(work / "audit.jsonl"),
        systems=(SystemConfig("directory", "ldap", settings),),
        policy=str(work / "policy.yaml"),
    )
    return config, settings


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


USERS_A_PAGE = 500  # the connector's default page_size, which the benchmark keeps


def child_floor(port: int, groups_a_page: int) -> dict[str, object]:
    """The two paged searches, each entry dropped as it arrives."""
    server = ldap3.Server("127.0.0.1", port=port, get_info=ldap3.NONE)
    conn = ldap3.Connection(server, ADMIN_DN, ADMIN_PASSWORD, auto_bind=True, receive_timeout=120)
    start = time.perf_counter()
    entries = 0
    for base, flt, attrs, page in (
        (f"ou=groups,{BASE_DN}", "(objectClass=groupOfNames)", ["objectClass", "member"], groups_a_page),
        (BASE_DN, "(&(objectClass=inetOrgPerson)(uid=*))", USER_ATTRIBUTES, USERS_A_PAGE),
    ):
        for _ in conn.extend.standard.paged_search(
            base, flt, ldap3.SUBTREE, attributes=attrs, paged_size=page, generator=True
        ):
            entries += 1
    return {"seconds": time.perf_counter() - start, "entries": entries}


class TracedConnector(LdapConnector):
    """The connector, with `tracemalloc`'s largest holders printed (to stderr) near the read's end."""

    def __init__(self, name: str, settings: dict[str, object], at: int) -> None:
        super().__init__(name, settings)
        self.at = at

    def iter_accounts(self) -> Iterator[AccountState]:
        tracemalloc.start()
        for n, state in enumerate(super().iter_accounts()):
            if n == self.at:
                snapshot = tracemalloc.take_snapshot()
                current, peak = tracemalloc.get_traced_memory()
                print(
                    f"tracemalloc after {n} accounts: {current / 1e6:.1f} MB (peak {peak / 1e6:.1f} MB)",
                    file=sys.stderr,
                )
                for stat in snapshot.statistics("lineno")[:15]:
                    print(f"  {stat.size / 1e6:6.1f} MB {stat.count:8d} {stat.traceback}", file=sys.stderr)
            yield state
        tracemalloc.stop()


def child_sweep(work: Path, port: int, trace_at: int = 0) -> dict[str, object]:
    """One `iam review sweep`, as the command runs it."""
    config, settings = config_for(work, port)
    connector = (
        TracedConnector("directory", settings, trace_at) if trace_at else LdapConnector("directory", settings)
    )
    with Runtime(config, connectors={"directory": connector}) as rt:
        start = time.perf_counter()
        result = sweep.sweep(rt, datetime.now(UTC))
        elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "findings": result.summary.total, "by_type": result.summary.by_type}


def in_child(*args: str) -> tuple[dict[str, object], float]:
    """Run this module as a child with ``args``; its answer and its peak resident memory (MB)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.sweep_ldap", "--child", *args], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.wait()
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed ({proc.returncode})")
    answer = json.loads(out)
    return answer, float(answer["peak_mb"])


def own_peak_mb() -> float:
    """This process's peak resident memory since it started this program (Linux's VmHWM).

    Not ``ru_maxrss``: for a child that Python forked before exec, that also
    counts every page of the parent the fork mapped, so a benchmark whose
    parent holds the whole directory's people shows that as the child's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise SystemExit("no VmHWM in /proc/self/status: peak memory is measured on Linux only")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (min and median shown)")
    parser.add_argument(
        "--floor-groups-a-page",
        type=int,
        default=GROUPS_A_PAGE,
        help=f"groups a page in the floor's search (default: the connector's {GROUPS_A_PAGE}; "
        "500 gives the floor measured before the fourth round)",
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="print what holds the sweep's memory after 90%% of the accounts (slow: times are off)",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "floor":
            answer = child_floor(int(rest[0]), int(rest[1]))
        else:
            answer = child_sweep(Path(rest[0]), int(rest[1]), int(rest[2]))
        print(json.dumps({**answer, "peak_mb": own_peak_mb()}))
        return
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
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
            policy_file(work / "policy.yaml")
            config, settings = config_for(work, slapd.port)
            with Runtime(config, connectors={"directory": LdapConnector("directory", settings)}) as rt:
                load_identities(rt, args.people)
            memory: dict[str, list[float]] = {"floor": [], "sweep": []}
            answers: list[dict[str, object]] = []

            def run_floor(_: int) -> float:
                answer, rss = in_child("floor", str(slapd.port), str(args.floor_groups_a_page))
                memory["floor"].append(rss)
                return float(answer["seconds"])  # type: ignore[arg-type]

            def run_sweep(_: int) -> float:
                trace_at = int(args.people * 0.9) if args.tracemalloc else 0
                answer, rss = in_child("sweep", str(work), str(slapd.port), str(trace_at))
                memory["sweep"].append(rss)
                answers.append(answer)
                return float(answer["seconds"])  # type: ignore[arg-type]

            times = interleaved(
                {"bare paged search (groups + users)": run_floor, "iam review sweep": run_sweep}, args.repeat
            )
        finally:
            slapd.stop()
    last = answers[-1]
    print(f"{args.people} people, {args.repeat} rounds; last: {last['findings']} findings {last['by_type']}")
    floor_s, sweep_s = times.values()
    print(summary("bare paged search (groups + users)", floor_s))
    print(summary("iam review sweep", sweep_s))
    print(ratio("sweep / bare paged search", sweep_s, floor_s))
    for name, rss in memory.items():
        print(f"peak RSS {name:<36} max {max(rss):7.1f} MB  median {statistics.median(rss):7.1f} MB")


if __name__ == "__main__":
    main()
