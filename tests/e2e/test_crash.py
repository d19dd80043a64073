"""Kill iam at every journal write and every audit append of a multi-group offboarding on a real slapd:
after `iam resume`, every step done has exactly one audit record, nothing was done twice, the chain
verifies, and the leaver has no access left."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
import yaml

from iam.failpoints import CRASHED
from tests.conftest import PASSWORD_ENV, iam_env, run_iam, seed_directory
from tests.support.slapd import ADMIN_DN, BASE_DN, Slapd

#: Far more than an offboarding of four groups has; the loop stops at the first run that is not killed.
MOST_CRASH_POINTS = 200


# Some 25 whole offboardings, each on a fresh slapd: the suite's 300 s hang guard fits one scenario, not
# this loop on a loaded machine. Every command still has its own 120 s guard (run_iam).
@pytest.mark.timeout(1800)
def test_a_crash_anywhere_loses_no_record_and_does_nothing_twice(tmp_path: Path) -> None:
    point = 0
    while point < MOST_CRASH_POINTS:
        point += 1
        server = Slapd(tmp_path / f"point-{point}" / "slapd")
        server.start()
        try:
            seed_directory(server)
            config = _config(server, tmp_path / f"point-{point}")
            killed = run_iam(*config, "offboard", "alice", "--reason", "left", "--yes", env=_crash_at(point))
            if killed.returncode != CRASHED:
                assert killed.returncode == 0, killed.stderr
                _assert_whole(config, server, ["alice"])
                break
            _finish(config)
            _assert_whole(config, server, ["alice"])
        finally:
            server.stop()
    assert 20 < point < MOST_CRASH_POINTS, f"{point} crash points: the journal or the log is not marked"


@pytest.mark.timeout(1800)
def test_a_crash_anywhere_in_a_list_loses_no_record_and_finishes_everyone(tmp_path: Path) -> None:
    """`offboard --from` appends its runs' records together (`AuditLog.batch`): a crash at any
    point, then `iam resume` and the list again, leaves both people terminated and every step done
    told exactly once."""
    point = 0
    while point < 2 * MOST_CRASH_POINTS:
        point += 1
        server = Slapd(tmp_path / f"point-{point}" / "slapd")
        server.start()
        try:
            seed_directory(server)
            config = _config(server, tmp_path / f"point-{point}")
            leavers = tmp_path / f"point-{point}" / "leavers.txt"
            leavers.write_text("alice\nbob\n")
            again = (*config, "offboard", "--from", str(leavers), "--reason", "layoff", "--yes")
            killed = run_iam(*again, env=_crash_at(point))
            if killed.returncode != CRASHED:
                assert killed.returncode == 0, killed.stderr
                _assert_whole(config, server, ["alice", "bob"])
                break
            resumed = run_iam(*config, "resume")
            assert resumed.returncode == 0 or "no unfinished run" in resumed.stderr, resumed.stderr
            finished = run_iam(*again)
            assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr
            _assert_whole(config, server, ["alice", "bob"])
        finally:
            server.stop()
    assert 40 < point < 2 * MOST_CRASH_POINTS, f"{point} crash points in a list of two"


def _config(server: Slapd, where: Path) -> tuple[str, str]:
    path = where / "iam.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "store": "state/iam.db",
                "audit_log": "state/audit.jsonl",
                "retry": {"attempts": 2, "initial_wait": 0.01, "max_wait": 0.05},
                "systems": {
                    "directory": {
                        "type": "ldap",
                        "url": server.url,
                        "start_tls": False,
                        "base_dn": BASE_DN,
                        "bind_dn": ADMIN_DN,
                        "bind_password": {"env": PASSWORD_ENV},
                        "users_dn": f"ou=people,{BASE_DN}",
                        "groups_dn": f"ou=groups,{BASE_DN}",
                        "leavers_dn": f"ou=leavers,{BASE_DN}",
                        "timeout": 5,
                    }
                },
            }
        )
    )
    return "--config", str(path)


def _crash_at(point: int) -> dict[str, str]:
    return iam_env({"IAM_CRASH_AT": str(point)})


def _finish(config: tuple[str, str]) -> None:
    """What an operator does after a crash: resume the run, or start it again if it never began."""
    resumed = run_iam(*config, "resume")
    if resumed.returncode == 2 and "no unfinished run" in resumed.stderr:
        resumed = run_iam(*config, "offboard", "alice", "--reason", "left", "--yes")
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr


def _assert_whole(config: tuple[str, str], server: Slapd, people: list[str]) -> None:
    """The journal and the log agree, every record reached the log once, and each of ``people``
    is terminated: locked in the leavers OU and in no group."""
    state = Path(config[1]).parent / "state"
    with sqlite3.connect(state / "iam.db") as db:
        done = db.execute("select run_id, seq from steps where status = 'done'").fetchall()
        waiting = db.execute("select count(*) from audit_outbox").fetchone()[0]
        statuses = dict(db.execute("select username, status from identities").fetchall())
        verdicts = db.execute("select status from runs where status != 'running'").fetchall()
    records = [json.loads(line) for line in (state / "audit.jsonl").read_text().splitlines()]
    told = Counter(
        (r["run_id"], r["step"]) for r in records if r.get("event") in ("access.changed", "step.done")
    )
    assert done and waiting == 0, "records were left out of the log"
    # never complete with a person unmarked
    assert {name: statuses.get(name) for name in people} == dict.fromkeys(people, "terminated")
    assert ("complete",) in verdicts
    verdicts_told = Counter(r["run_id"] for r in records if r.get("event") == "run.verified")
    assert set(verdicts_told.values()) == {1}  # each run's verdict told once, whatever was killed
    assert {key: told[key] for key in done} == dict.fromkeys(done, 1)  # one record per step done, never two
    assert sum(told.values()) == len(done)  # and none for a step the journal does not hold as done
    assert run_iam(*config, "audit", "verify").returncode == 0
    admin = server.admin()
    for name in people:
        admin.search(f"ou=leavers,{BASE_DN}", f"(uid={name})", attributes=["pwdAccountLockedTime"])
        (entry,) = admin.entries
        assert entry.pwdAccountLockedTime.values, f"{name} is not locked"
        dn = entry.entry_dn
        admin.search(BASE_DN, f"(|(member={dn})(uniqueMember={dn})(memberUid={name}))")
        assert admin.entries == [], f"{name} is still in a group"
    admin.unbind()
