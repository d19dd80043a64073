"""When a terminated person's accounts come due for deletion (``retention.delete_after_days``).

Termination disables and strips at once; deletion comes later and
separately, per system, counted from the person's last complete
termination. Nothing is stored ahead: the schedule is derived from the
store each time, so a rehire (the person is no longer terminated) cancels
it, and a changed setting applies at once. A system without ``retention``
never deletes; badges keep their history unless a site configures it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from iam.config import Config, Retention
from iam.report import ScheduledDelete
from iam.store import Store

#: The identity status whose accounts a retention deletes.
TERMINATED = "terminated"
#: The kind of run that carries the deletes out (`iam.deletion`).
DELETE = "delete"


@dataclass(frozen=True)
class DueDelete:
    """One account a system's retention deletes, and from when."""

    username: str
    system: str
    terminated_at: datetime
    days: int

    @property
    def due(self) -> datetime:
        return self.terminated_at + timedelta(days=self.days)

    def view(self) -> ScheduledDelete:
        return ScheduledDelete(system=self.system, due=self.due.isoformat(), delete_after_days=self.days)


def retention_days(config: Config) -> dict[str, int]:
    """``retention.delete_after_days`` per system that has one."""
    out: dict[str, int] = {}
    for system in config.systems:
        settings = system.settings
        raw = (
            settings.get("retention")
            if isinstance(settings, Mapping)
            else getattr(settings, "retention", None)
        )
        if raw is None:
            continue
        retention = raw if isinstance(raw, Retention) else Retention.model_validate(raw)
        out[system.name] = retention.delete_after_days
    return out


def terminated_at(store: Store, username: str) -> datetime | None:
    """When the person's latest complete termination finished; None while they are not terminated."""
    identity = store.get_identity(username)
    if identity is None or identity["status"] != TERMINATED:
        return None
    done = [
        r["finished_at"]
        for r in store.list_runs(username, limit=1000)
        if r["kind"] == "offboard" and r["status"] == "complete" and not r["dry_run"] and r["finished_at"]
    ]
    return max(done) if done else None


def deleted_since(store: Store, username: str, since: datetime) -> set[str]:
    """Systems a complete delete run removed the person from after ``since``: done, not due again."""
    done: set[str] = set()
    for run in store.list_runs(username, limit=1000):
        if run["kind"] != DELETE or run["status"] != "complete" or run["dry_run"]:
            continue
        if run["finished_at"] and run["finished_at"] >= since:
            done.update(s["system"] for s in (run["report"] or {}).get("systems", []))
    return done


def scheduled(config: Config, store: Store, username: str) -> list[DueDelete]:
    """The person's deletes still to do, whether due yet or not (empty unless they are terminated)."""
    days = retention_days(config)
    since = terminated_at(store, username) if days else None
    if since is None:
        return []
    done = deleted_since(store, username, since)
    return [DueDelete(username, system, since, n) for system, n in sorted(days.items()) if system not in done]


def due(config: Config, store: Store, now: datetime) -> dict[str, list[DueDelete]]:
    """Every terminated person's deletes that have come due by ``now``, by username."""
    if not retention_days(config):
        return {}
    out: dict[str, list[DueDelete]] = {}
    for row in store.identities():
        if row["status"] != TERMINATED:
            continue
        ready = [d for d in scheduled(config, store, row["username"]) if d.due <= now]
        if ready:
            out[row["username"]] = ready
    return out
