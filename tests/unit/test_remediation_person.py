"""A sweep's remediation runs per person as HR spells them, whatever case each system answers in.

Keycloak and the VPNs answer ``alice`` for HR's ``Alice``. Grouped by the
account's spelling, one leaver was two terminations against the limit, and a
fix that terminates nobody ran as ``alice``: it made a second identity, whom
the next sweep matched instead of ``Alice`` and whose access it gave back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from iam import review, sweep
from iam.contract import Capability
from iam.model import AccountState, Entitlement, Identity
from iam.policy import parse_policy
from iam.store import Store

NOW = datetime(2026, 12, 5, 10, tzinfo=UTC)
POLICY = parse_policy(
    {
        "roles": {"staff": {"entitlements": {"dir": ["group:staff"], "vpn": ["vpn:access"]}}},
        "birthright": [{"role": "staff"}],
    }
)


@pytest.fixture
def rt(tmp_path: Path) -> Any:
    store = Store(str(tmp_path / "iam.db"))
    store.upsert_identity("Alice", "active", {})
    yield SimpleNamespace(store=store, connectors={})
    store.close()


class Revoking:
    """What `remediation_plans` asks of a connector: what it can do."""

    @classmethod
    def capabilities(cls) -> frozenset[Capability]:
        return frozenset({Capability.ENTITLE})


def account(system: str, username: str, *held: Entitlement) -> AccountState:
    return AccountState(
        system=system,
        username=username,
        ref=f"{system}:{username}",
        enabled=True,
        entitlements=frozenset(held),
    )


def test_a_leaver_known_by_two_spellings_is_one_termination(rt: Any) -> None:
    people = {"Alice": Identity(username="Alice", status="terminated")}
    accounts = {
        "dir": [account("dir", "Alice", Entitlement("group", "staff"))],
        "vpn": [account("vpn", "alice", Entitlement("vpn", "access"))],
    }
    findings = review.find(people, POLICY, accounts, NOW.date(), NOW, left_at={"Alice": NOW})
    assert {f.account for f in findings} == {"Alice", "alice"}  # each system's own spelling
    assert [(kind, name) for kind, name, _ in sweep.remediation_plans(rt, findings)] == [
        ("offboard", "Alice")
    ]


def test_a_fix_that_terminates_nobody_runs_under_hr_s_spelling(rt: Any) -> None:
    rt.connectors = {"vpn": Revoking()}
    people = {"Alice": Identity(username="Alice", status="active")}
    accounts = {
        "dir": [account("dir", "Alice", Entitlement("group", "staff"))],
        "vpn": [account("vpn", "alice", Entitlement("vpn", "access"), Entitlement("vpn", "admin"))],
    }
    findings = review.find(people, POLICY, accounts, NOW.date(), NOW)
    assert [(f.type, f.account) for f in findings] == [("excess", "alice")]
    plans = sweep.remediation_plans(rt, findings)
    assert [(kind, name) for kind, name, _ in plans] == [("remediate", "Alice")]
    (_, _, plan) = plans[0]
    assert plan is not None and plan.username == "Alice"
