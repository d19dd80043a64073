"""A policy naming a group in another spelling than the server's: the group is held, not a
group to grant and another to revoke.

slapd sends ``cn=Sales\\2C EU,...`` for the group made as ``cn=Sales\\, EU,...``, and
keeps DNs in the case they were made with; a policy writes what its author typed.
Compared as text, a mover's plan granted the policy's spelling (no change) and then
revoked the server's, which is the membership itself: each run left the person
without the groups their role gives.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from iam.connectors.ldap import LdapConnector
from ldap3.utils.dn import escape_rdn

from iam.config import Config, RetryPolicy, SystemConfig
from iam.errors import ConfigError
from iam.model import Entitlement
from iam.runs import offboard, provision
from iam.runtime import Runtime
from iam.secrets import Secret
from iam.suspension import restore, suspend
from tests.conftest import Directory
from tests.support.slapd import ADMIN_PASSWORD, BASE_DN, add_group

GROUPS = f"ou=groups,{BASE_DN}"
#: Each group alice is in, as a policy author might write it.
SPELT = [
    f"group:CN=ENG,OU=GROUPS,{BASE_DN.upper()}",
    f"group:cn=Sales\\, EU,{GROUPS}",
    f"group:cn=solo,{GROUPS}",
]


def runtime(
    directory: Directory,
    tmp_path: Path,
    roles: dict[str, Any],
    hand_in: bool = False,
    birthright: list[dict[str, Any]] | None = None,
) -> Runtime:
    policy = tmp_path / "policy.yaml"
    document: dict[str, Any] = {
        "roles": {name: {"entitlements": {"directory": ents}} for name, ents in roles.items()}
    }
    if birthright:
        document["birthright"] = birthright
    policy.write_text(yaml.safe_dump(document))
    settings = {**directory.settings, "bind_password": Secret(ADMIN_PASSWORD, "test")}
    config = Config(
        path=None,
        store=str(tmp_path / "iam.db"),
        audit_log=str(tmp_path / "audit.jsonl"),
        retry=RetryPolicy(attempts=1, initial_wait=0.01, max_wait=0.01),
        systems=(SystemConfig("directory", "ldap", settings),),
        policy=str(policy),
    )
    handed = {"directory": LdapConnector("directory", settings)} if hand_in else None
    return Runtime(config, connectors=handed)


def groups_of(directory: Directory, dn: str) -> set[str]:
    conn = directory.slapd.admin()
    conn.search(GROUPS, f"(|(member={dn})(uniqueMember={dn})(memberUid=alice))", attributes=["cn"])
    found = {str(e.cn).lower() for e in conn.entries}
    conn.unbind()
    return found


@pytest.fixture
def sales(directory: Directory) -> str:
    conn = directory.slapd.admin()
    made = add_group(conn, "Sales, EU", "groupOfNames", [directory.alice])
    assert conn.search(made, "(objectClass=*)", "BASE"), conn.result
    assert conn.response[0]["dn"] != f"cn={escape_rdn('Sales, EU')},{GROUPS}"  # slapd spells it otherwise
    conn.unbind()
    return made


def test_a_mover_keeps_the_groups_the_policy_spells_otherwise(
    directory: Directory, tmp_path: Path, sales: str
) -> None:
    with runtime(directory, tmp_path, {"staff": SPELT}) as rt:
        assert rt.policy is not None
        desired = {"directory": rt.policy.given(frozenset({"staff"}), "directory")}
        first = provision(rt, "mover", "alice", desired, "moved to sales")
        second = provision(rt, "mover", "alice", desired, "again")
    (system,) = first.systems
    assert sorted((s.op, s.target) for s in system.steps) == [
        ("revoke", f"group:cn=ops,{GROUPS}"),
        ("revoke", f"group:cn=unix,{GROUPS}"),
    ]
    assert first.status == "complete" and system.remaining == []
    assert groups_of(directory, directory.alice) == {"eng", "sales, eu", "solo"}
    assert [s.steps for s in second.systems] in ([], [[]])


@pytest.mark.parametrize("hand_in", [False, True], ids=["built by the runtime", "handed in"])
def test_reads_report_a_group_by_the_policy_s_spelling(
    directory: Directory, tmp_path: Path, sales: str, hand_in: bool
) -> None:
    with runtime(directory, tmp_path, {"staff": SPELT}, hand_in) as rt:
        connector = rt.connectors["directory"]
        read = connector.read_account("alice")
        listed = {s.username: s for s in connector.iter_accounts()}
    want = {Entitlement("group", e.partition(":")[2]) for e in SPELT}
    assert read is not None and want <= read.entitlements
    assert read.entitlements == listed["alice"].entitlements
    assert {
        Entitlement("group", f"cn=eng,{GROUPS}"),
        Entitlement("group", f"cn=ops,{GROUPS}"),
    } & read.entitlements == {Entitlement("group", f"cn=ops,{GROUPS}")}


@pytest.mark.parametrize(
    ("roles", "refused"),
    [
        (
            {"eng": [f"group:cn=eng,{GROUPS}"], "lead": [f"group:CN=Eng,{GROUPS}"]},
            r"two ways: .*CN=Eng.*cn=eng",
        ),
        ({"eng": "not a list"}, "policy"),
    ],
    ids=["one group named two ways", "an invalid policy"],
)
def test_a_policy_error_refuses_a_mover_but_never_stops_an_offboarding(
    directory: Directory, tmp_path: Path, roles: dict[str, Any], refused: str
) -> None:
    with runtime(directory, tmp_path, roles) as rt:
        with pytest.raises(ConfigError, match=refused):
            rt.policy  # noqa: B018
        with pytest.raises(ConfigError, match=refused):  # asked again, still refused
            rt.policy  # noqa: B018
        report = offboard(rt, "alice", "left")
    assert report.status == "complete", report
    assert groups_of(directory, directory.alice) == set()


def test_a_suspension_recorded_in_the_server_s_spelling_restores_the_policy_s_groups(
    directory: Directory, tmp_path: Path, sales: str
) -> None:
    """Suspended while the policy could not be read (so held as slapd spells them), restored
    once it can: the groups the policy spells otherwise are given back, not dropped."""
    with runtime(directory, tmp_path, {"staff": "not a list"}) as rt:
        rt.store.upsert_identity("alice", "active", {"username": "alice", "hr_id": "H-1"})
        assert suspend(rt, "alice", "investigation").status == "complete"
    with runtime(directory, tmp_path, {"staff": SPELT}, birthright=[{"role": "staff"}]) as rt:
        report = restore(rt, "alice", "cleared", datetime.now(UTC))
    assert report.status == "complete", report
    assert groups_of(directory, directory.alice) == {"eng", "sales, eu", "solo"}
