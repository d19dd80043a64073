"""A standing suspension as the store keeps it (`iam.suspension` makes and lifts them).

Who is suspended, since when, why, and what they held: what `iam status`
and the sweep show, what stops a sync from granting them anything, and
what the restore puts back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from iam.report import AccountView, Finding, SuspensionView
from iam.runtime import Runtime


@dataclass(frozen=True)
class Suspension:
    """A standing suspension as the store keeps it."""

    username: str
    suspended_at: datetime
    reason: str
    suspended_by: str
    ticket: str | None
    run_id: str | None
    #: Per system, what the account held at suspension (None: no account there).
    held: Mapping[str, AccountView | None]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Suspension:
        held = {name: AccountView.model_validate(v) if v else None for name, v in (row["held"] or {}).items()}
        return cls(
            row["username"],
            row["suspended_at"],
            row["reason"],
            row["suspended_by"],
            row["ticket"],
            row["run_id"],
            held,
        )

    def age_days(self, now: datetime) -> int:
        return max(0, (now - self.suspended_at).days)

    def view(self, now: datetime) -> SuspensionView:
        return SuspensionView(
            username=self.username,
            suspended_at=self.suspended_at.isoformat(),
            reason=self.reason,
            by=self.suspended_by,
            ticket=self.ticket,
            run_id=self.run_id,
            age_days=self.age_days(now),
            held=dict(self.held),
        )

    def conflict(self) -> str:
        """Why an event that would grant something was not applied, and what to do."""
        when = self.suspended_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return (
            f"{self.username} is suspended since {when} by {self.suspended_by}: {self.reason}; "
            f"nothing was granted. Lift it with `iam restore {self.username} --reason TEXT`"
        )


def standing(rt: Runtime, username: str) -> Suspension | None:
    """The person's suspension while it stands (their status is ``suspended``), else None."""
    identity = rt.store.get_identity(username)
    if identity is None or identity["status"] != "suspended":
        return None
    row = rt.store.get_suspension(username)
    return Suspension.from_row(row) if row else None


def all_standing(rt: Runtime) -> list[Suspension]:
    return [Suspension.from_row(row) for row in rt.store.standing_suspensions()]


def findings(suspensions: list[Suspension], now: datetime, max_days: int) -> list[Finding]:
    """A finding per suspension older than ``max_days`` (pure): an incident should not last forever."""
    return [
        Finding(
            type="suspended",
            system=None,
            account=s.username,
            entitlement=None,
            why=(
                f"suspended for {s.age_days(now)} days (more than review.max_suspension_days {max_days}) "
                f"by {s.suspended_by}: {s.reason}"
            ),
            since=s.suspended_at.isoformat(),
            action="restore or offboard",
        )
        for s in suspensions
        if s.age_days(now) > max_days
    ]
