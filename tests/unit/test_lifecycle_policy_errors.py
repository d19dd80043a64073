"""A policy that is missing or cannot be read never holds up a leaver.

HR's feed, submitted events and `run-due` all carry leavers and movers
together. A leaver needs no policy; a mover or joiner does. When the policy
cannot be read, the leaver runs, the others end `failed` (not stored) or,
once stored, `partial` (tried again when it can be read). A submission or a
sync then fails with the policy's error (exit 2) after its leavers have run;
`run-due` reports it as failed upkeep.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from iam import lifecycle
from iam.config import Config, SystemConfig
from iam.errors import ConfigError, InputError
from iam.model import Entitlement
from iam.runtime import Runtime
from tests.support.company import person
from tests.support.memory import MemAccount, MemoryConnector

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
ENG = Entitlement("group", "eng")
BROKEN = "roles: [this is: not a policy\n"
GOOD = "roles:\n  staff: {entitlements: {dir: ['group:eng']}}\nbirthright:\n  - role: staff\n"


def runtime(tmp_path: Path, directory: MemoryConnector, policy: str | None) -> Runtime:
    if policy is not None:
        (tmp_path / "policy.yaml").write_text(policy)
    config = Config(
        path=None,
        store=str(tmp_path / "iam.db"),
        audit_log=str(tmp_path / "audit.jsonl"),
        systems=(SystemConfig("dir", "memory", {}),),
        policy=str(tmp_path / "policy.yaml") if policy is not None else None,
    )
    rt = Runtime(config, connectors={"dir": directory})
    for row in (person("E1", "ann", "Engineering"), person("E2", "bob", "Engineering")):
        if rt.store.get_identity(row["username"]) is None:
            rt.store.upsert_identity(row["username"], "active", row)
    return rt


def people() -> MemoryConnector:
    directory = MemoryConnector("dir")
    directory.accounts["ann"] = MemAccount(entitlements={ENG})
    directory.accounts["bob"] = MemAccount()
    return directory


def events(**extra: str) -> dict[str, object]:
    return {
        "events": [
            {"type": "leaver", "username": "ann", "reason": "left", **extra},
            {"type": "mover", "person": person("E2", "bob", "Sales"), **extra},
        ]
    }


@pytest.mark.parametrize(
    ("policy", "error"),
    [(BROKEN, ConfigError), (None, InputError)],
    ids=["cannot be read", "none configured"],
)
def test_a_submitted_leaver_runs_and_the_policy_s_error_is_raised_after_it(
    tmp_path: Path, policy: str | None, error: type[Exception]
) -> None:
    directory = people()
    with runtime(tmp_path, directory, policy) as rt:
        with pytest.raises(
            error, match=r"(?s)(policy\.yaml|no policy).*1 joiner.*the 1 leaver\(s\) among them ran"
        ):
            lifecycle.submit(rt, events(), "file", NOW)
        stored = [(e["username"], e["status"]) for e in rt.store.list_events()]
    assert not directory.accounts["ann"].enabled and directory.accounts["ann"].entitlements == set()
    assert directory.accounts["bob"].entitlements == set()
    assert stored == [("ann", "applied")]  # the mover is not kept: the command failed for it


def test_run_due_applies_a_due_leaver_and_keeps_a_mover_for_when_the_policy_is_mended(tmp_path: Path) -> None:
    directory = people()
    later = NOW + timedelta(days=1)
    with runtime(tmp_path, directory, GOOD) as rt:
        lifecycle.submit(
            rt,
            {"events": [{**e, "effective_at": later.isoformat()} for e in events()["events"]]},
            "file",
            NOW,
        )  # type: ignore[dict-item]
    with runtime(tmp_path, directory, BROKEN) as rt:
        report = lifecycle.run_due(rt, later)
    outcome = {e.username: e for e in report.events}
    assert outcome["ann"].status == "applied" and not directory.accounts["ann"].enabled
    assert outcome["bob"].status == "partial" and "policy.yaml" in (outcome["bob"].error or "")
    assert [(m.system, m.outcome) for m in report.maintenance] == [("policy", "failed")]
    assert report.partial
    with runtime(tmp_path, directory, GOOD) as rt:
        retried = lifecycle.run_due(rt, later + timedelta(days=1))
    assert [(e.username, e.status) for e in retried.events] == [("bob", "applied")]
    assert directory.accounts["bob"].entitlements == {ENG}
