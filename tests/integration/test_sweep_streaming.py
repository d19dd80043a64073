"""A sweep judges each account as its page arrives (issue 14), and a read cut short is still an error.

Against a real slapd whose service account may see only so many entries per
search: the groups and the users' first pages are read, a later page is
refused. The accounts already judged must not pass for the system's findings.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from iam.connectors.ldap import LdapConnector

from iam import sweep
from iam.config import Config, RetryPolicy, SystemConfig
from iam.runtime import Runtime
from iam.secrets import Secret
from tests.conftest import Directory, seed_directory
from tests.support.slapd import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    BASE_DN,
    SERVICE_DN,
    SERVICE_PASSWORD,
    Slapd,
    add_person,
    add_service_account,
)

#: alice and bob, plus these: more users than one search may return.
EXTRA = 8
LIMIT = 7  # the five groups fit; the ten users do not (three pages of two are read first)


def runtime(
    directory: Directory,
    tmp_path: Path,
    bind: tuple[str, str] = (ADMIN_DN, ADMIN_PASSWORD),
    policy_document: dict[str, object] | None = None,
) -> Runtime:
    """A runtime over ``directory`` alone, reading two entries a page, with the policy given."""
    policy = tmp_path / "policy.yaml"
    document = policy_document or {"roles": {"staff": {"entitlements": {"directory": []}}}}
    policy.write_text(yaml.safe_dump(document))
    settings = {
        **directory.settings,
        "page_size": 2,
        "bind_dn": bind[0],
        "bind_password": Secret(bind[1], "test"),
    }
    settings["disable"] = {"method": "ppolicy", "policy_dn": f"cn=default,ou=policies,{BASE_DN}"}
    config = Config(
        path=None,
        store=str(tmp_path / "iam.db"),
        audit_log=str(tmp_path / "audit.jsonl"),
        retry=RetryPolicy(attempts=1, initial_wait=0.01, max_wait=0.01),
        systems=(SystemConfig("directory", "ldap", settings),),
        policy=str(policy),
    )
    return Runtime(config, connectors={"directory": LdapConnector("directory", settings)})


@pytest.fixture
def crowded(tmp_path: Path) -> Iterator[Directory]:
    server = Slapd(
        tmp_path / "slapd", database=f'limits dn.exact="{SERVICE_DN}" size={LIMIT}\naccess to * by * read'
    )
    server.start()
    found = seed_directory(server)
    conn = server.admin()
    add_service_account(conn)
    for i in range(EXTRA):
        add_person(conn, f"stray{i}")
    conn.unbind()
    yield found
    server.stop()


def test_a_sweep_reads_every_account_and_finds_each_orphan(crowded: Directory, tmp_path: Path) -> None:
    """As the admin (no limit): every account is seen, none is known to HR, so each is an orphan."""
    with runtime(crowded, tmp_path) as rt:
        result = sweep.sweep(rt, datetime.now(UTC))
    assert result.summary.errors == {}
    assert result.summary.accounts == {"directory": 2 + EXTRA}
    orphans = sorted(f.account for f in result.findings if f.type == "orphan")
    assert orphans == sorted(["alice", "bob", *(f"stray{i}" for i in range(EXTRA))])


def test_a_sweep_cut_short_after_some_accounts_is_an_error_with_no_findings_of_that_system(
    crowded: Directory, tmp_path: Path
) -> None:
    seen: list[tuple[str, int]] = []
    with runtime(crowded, tmp_path, (SERVICE_DN, SERVICE_PASSWORD)) as rt:
        result = sweep.sweep(rt, datetime.now(UTC), on_system=lambda name, n: seen.append((name, n)))
    assert "cut short by a server limit" in result.summary.errors["directory"]
    assert [f for f in result.findings if f.system == "directory"] == []
    assert result.summary.accounts == {}
    assert seen == []  # never reported as read


def test_a_sweep_gives_the_garbage_collector_back_as_it_found_it_even_when_it_raises(
    crowded: Directory, tmp_path: Path
) -> None:
    """The sweep holds the collector back while it reads (`iam.gcquiet`); nothing of that outlives it."""
    before = (gc.get_threshold(), gc.get_freeze_count())

    def progress_fails(name: str, count: int) -> None:
        raise RuntimeError("the progress display broke")

    with runtime(crowded, tmp_path) as rt:
        sweep.sweep(rt, datetime.now(UTC))
        assert (gc.get_threshold(), gc.get_freeze_count()) == before
        with pytest.raises(RuntimeError, match="progress display broke"):
            sweep.sweep(rt, datetime.now(UTC), on_system=progress_fails)
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


def test_a_sweep_whose_people_cannot_all_be_read_raises_and_stores_nothing(
    crowded: Directory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The people are loaded late, inside the system's read (`iam.roster.Later`). A store whose
    stream of people breaks half way must not leave the accounts judged against some of them
    (the rest would pass for orphans) nor the sweep pass with that system merely an error: the
    sweep raises, and no sweep is stored."""
    with runtime(crowded, tmp_path) as rt:
        for name in ("alice", "bob"):
            rt.store.upsert_identity(name, "active", {"given_name": name.title(), "family_name": "A"})
        streamed = rt.store.iter_identities

        def breaks_after_one() -> Iterator[tuple[object, ...]]:
            rows = streamed()
            yield next(rows)
            rows.close()
            raise sa.exc.OperationalError("SELECT identities", {}, Exception("the store went away"))

        monkeypatch.setattr(rt.store, "iter_identities", breaks_after_one)
        with pytest.raises(sa.exc.OperationalError, match="the store went away"):
            sweep.sweep(rt, datetime.now(UTC))
        monkeypatch.undo()
        assert rt.store.sweeps(limit=1) == []
