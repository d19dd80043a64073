"""Offboarding benchmark: iam's engine beside three floors, on a real slapd.

A slapd holding PEOPLE people, each in GROUPS_EACH of GROUP_COUNT groups.
Every workload offboards a fresh, disjoint set of LEAVERS people of the same
shape (same groups), in interleaved rounds (see `benchmarks/timing.py`):

- engine: iam's `runs.offboard` per person (read, plan, journal, apply,
  audit, read back, report);
- floor "modifies only": a bare ldap3 loop doing just the modifies (lock the
  password, lock the account, remove each membership) — no reads at all, so
  no tool that checks anything can reach it;
- floor "minimal correct": one read of the entry (its memberOf, the
  password and lock attributes), the modifies, one read-back of the entry;
- floor "engine's calls replayed": the very LDAP calls the engine made in a
  warm-up round (recorded by a `ldap3.Connection` subclass given to the
  connector), replayed bare on another set of people, results discarded.

With ``--layoff``, one more set is offboarded once through the command a
user runs, ``iam offboard --from FILE --yes`` (a process of its own).

A benchmark, not a test: nothing asserts on time.

    python -m benchmarks.offboard_ldap [--people 20000] [--leavers 1000] [--repeat 3] [--layoff]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import ldap3
import yaml
from iam.connectors.ldap import LdapConnector

from benchmarks.timing import interleaved, ratio, summary
from iam import runs
from iam.config import Config, RetryPolicy, SystemConfig
from iam.runtime import Runtime
from iam.secrets import Secret
from tests.support.slapd import ADMIN_DN, ADMIN_PASSWORD, BASE_DN, Call, Slapd, recording_factory, seed_base

GROUP_COUNT = 200
GROUPS_EACH = 3
LOCKED = "000001010000Z"  # ppolicy's administrative lock


def person_dn(i: int) -> str:
    return f"uid=p{i:06d},ou=people,{BASE_DN}"


def group_dn(g: int) -> str:
    return f"cn=g{g:03d},ou=groups,{BASE_DN}"


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
        conn.add(group_dn(g), ["groupOfNames"], {"cn": f"g{g:03d}", "member": dns})
    conn.unbind()
    return time.perf_counter() - start


def modifies_only(slapd: Slapd, leavers: range) -> float:
    """The modifies with nothing around them: one connection, no reads."""
    conn = slapd.admin()
    start = time.perf_counter()
    for i in leavers:
        dn = person_dn(i)
        conn.modify(dn, {"userPassword": [(ldap3.MODIFY_REPLACE, ["{CRYPT}!x"])]})
        conn.modify(dn, {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, [LOCKED])]})
        for g in groups_of(i):
            conn.modify(group_dn(g), {"member": [(ldap3.MODIFY_DELETE, [dn])]})
    elapsed = time.perf_counter() - start
    conn.unbind()
    return elapsed


def minimal(slapd: Slapd, leavers: range) -> float:
    """The least a correct termination can do: read the entry, the modifies, read it back."""
    conn = slapd.admin()
    attrs = ["userPassword", "pwdAccountLockedTime", "memberOf"]
    start = time.perf_counter()
    for i in leavers:
        flt = f"(uid=p{i:06d})"
        conn.search(BASE_DN, flt, ldap3.SUBTREE, attributes=attrs)
        dn = conn.response[0]["dn"]
        groups = conn.response[0]["attributes"]["memberOf"]
        conn.modify(dn, {"userPassword": [(ldap3.MODIFY_REPLACE, ["{CRYPT}!x"])]})
        conn.modify(dn, {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, [LOCKED])]})
        for group in groups:
            conn.modify(group, {"member": [(ldap3.MODIFY_DELETE, [dn])]})
        conn.search(BASE_DN, flt, ldap3.SUBTREE, attributes=attrs)
        if conn.response[0]["attributes"]["memberOf"]:
            raise SystemExit(f"minimal floor left p{i:06d} in groups")
    elapsed = time.perf_counter() - start
    conn.unbind()
    return elapsed


def _remap(value: Any, shift: int) -> Any:
    """``value`` with every person ``pNNNNNN`` renamed to ``p{NNNNNN + shift}`` (same groups)."""
    if isinstance(value, str):
        return re.sub(r"\bp(\d{6})\b", lambda m: f"p{int(m.group(1)) + shift:06d}", value)
    if isinstance(value, (list, tuple)):
        return type(value)(_remap(v, shift) for v in value)
    if isinstance(value, dict):
        return {k: _remap(v, shift) for k, v in value.items()}
    return value


def replay(slapd: Slapd, calls: list[Call], shift: int) -> float:
    """The engine's own calls, sent bare on another set of people; results discarded."""
    conn = slapd.admin()
    remapped = [(name, _remap(args, shift), _remap(kwargs, shift)) for name, args, kwargs in calls]
    start = time.perf_counter()
    for name, args, kwargs in remapped:
        if kwargs.get("paged_cookie"):
            continue  # a later page of a search: the replayed first page starts its own
        getattr(conn, name)(*args, **kwargs)
    elapsed = time.perf_counter() - start
    conn.unbind()
    return elapsed


def ldap_settings(url: str) -> dict[str, object]:
    """The LDAP connector's settings for the benchmark's slapd at ``url``."""
    return {
        "url": url,
        "start_tls": False,
        "base_dn": BASE_DN,
        "bind_dn": ADMIN_DN,
        "bind_password": Secret(ADMIN_PASSWORD, "bench"),
        "users_dn": f"ou=people,{BASE_DN}",
        "groups_dn": f"ou=groups,{BASE_DN}",
        "page_size": 500,
    }


def engine(
    slapd: Slapd, leavers: range, workdir: Path, calls: list[Call] | None = None, *, batch: bool = False
) -> tuple[float, int]:
    """iam's engine offboarding each leaver in turn; returns seconds and how many runs were not complete.

    With ``batch``, inside `AuditLog.batch` as `iam offboard --from` and an HR sync run it: the
    runs' audit records are appended to the file together rather than one append (and fsync) a run.
    """
    workdir.mkdir(parents=True)
    settings = ldap_settings(slapd.url)
    config = Config(
        path=None,
        store=str(workdir / "iam.db"),
        audit_log=str(workdir / "audit.jsonl"),
        retry=RetryPolicy(attempts=3, initial_wait=0.1, max_wait=1),
        systems=(SystemConfig("directory", "ldap", settings),),
    )
    factory = recording_factory(slapd, calls) if calls is not None else None
    connector = LdapConnector("directory", settings, connection_factory=factory)
    incomplete = 0
    with Runtime(config, connectors={"directory": connector}) as rt:
        start = time.perf_counter()
        with rt.audit.batch() if batch else contextlib.nullcontext():
            for i in leavers:
                report = runs.offboard(rt, f"p{i:06d}", "benchmark")
                incomplete += report.status != "complete"
        elapsed = time.perf_counter() - start
    return elapsed, incomplete


def layoff(slapd: Slapd, leavers: range, workdir: Path) -> tuple[float, dict[str, int]]:
    """``iam offboard --from FILE --yes`` as a user runs it; its seconds and the runs' statuses."""
    workdir.mkdir(parents=True)
    names = workdir / "leavers.txt"
    names.write_text("".join(f"p{i:06d}\n" for i in leavers))
    settings = {**ldap_settings(slapd.url), "type": "ldap", "bind_password": {"env": "BENCH_LDAP_PASSWORD"}}
    config = workdir / "iam.yaml"
    config.write_text(
        yaml.safe_dump({"store": "iam.db", "audit_log": "audit.jsonl", "systems": {"directory": settings}})
    )
    command = [sys.executable, "-m", "iam", "--config", str(config), "offboard", "--from", str(names)]
    command += ["--reason", "layoff", "--yes", "--max-terminations", str(len(leavers)), "--format", "json"]
    env = {**os.environ, "BENCH_LDAP_PASSWORD": ADMIN_PASSWORD}
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 3):
        raise SystemExit(f"iam offboard --from failed ({done.returncode}): {done.stderr[-2000:]}")
    statuses = Counter(run["status"] for run in json.loads(done.stdout)["runs"])
    return elapsed, dict(statuses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--leavers", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (min and median shown)")
    parser.add_argument("--layoff", action="store_true", help="also one layoff through `iam offboard --from`")
    args = parser.parse_args()
    # each set of leavers starts at a multiple of GROUP_COUNT, so sets have the same groups
    stride = -(-args.leavers // GROUP_COUNT) * GROUP_COUNT
    sets = 1 + 5 * args.repeat + args.layoff  # the warm-up, five workloads a round, the layoff
    if args.repeat < 1 or args.leavers < 1 or sets * stride > args.people:
        parser.error(f"--repeat {args.repeat} needs {sets} sets of {stride} people: raise --people")
    taken = iter(range(sets))

    def fresh() -> range:
        start = next(taken) * stride
        return range(start, start + args.leavers)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        slapd = Slapd(work / "slapd")
        slapd.start()
        try:
            seeded = seed(slapd, args.people)
            print(f"seeded {args.people} people, {GROUP_COUNT} groups, {GROUPS_EACH} each: {seeded:.1f}s")
            calls: list[Call] = []
            warm = fresh()
            warm_s, incomplete = engine(slapd, warm, work / "warm", calls)
            kinds = Counter(name for name, _, _ in calls)
            print(
                f"warm-up: engine {warm_s:.2f}s, {incomplete} not complete; its LDAP calls per leaver: "
                + ", ".join(f"{n / args.leavers:.2f} {k}" for k, n in sorted(kinds.items()))
            )
            not_complete = 0

            def run_engine(round_: int, batch: bool = False) -> float:
                nonlocal not_complete
                elapsed, missed = engine(slapd, fresh(), work / f"engine{round_}{'b' * batch}", batch=batch)
                not_complete += missed
                return elapsed

            def run_replay(round_: int) -> float:
                return replay(slapd, calls, fresh().start - warm.start)

            times = interleaved(
                {
                    "engine": run_engine,
                    "engine, batched audit": lambda round_: run_engine(round_, batch=True),
                    "modifies only": lambda _: modifies_only(slapd, fresh()),
                    "minimal correct": lambda _: minimal(slapd, fresh()),
                    "engine's calls replayed": run_replay,
                },
                args.repeat,
            )
            laid_off = layoff(slapd, fresh(), work / "layoff") if args.layoff else None
        finally:
            slapd.stop()
    if laid_off is not None:
        seconds, statuses = laid_off
        print(
            f"iam offboard --from FILE ({args.leavers} people, one process): {seconds:.2f}s, "
            f"{args.leavers / seconds:.1f} leavers/s, runs: {statuses}"
        )
    print(f"{args.leavers} leavers a round, {args.repeat} rounds; engine runs not complete: {not_complete}")
    for name, samples in times.items():
        print(summary(name, samples, args.leavers, "leavers"))
    for engine_name in ("engine", "engine, batched audit"):
        for name in ("modifies only", "minimal correct", "engine's calls replayed"):
            print(ratio(f"{engine_name} / {name}", times[engine_name], times[name]))


if __name__ == "__main__":
    main()
