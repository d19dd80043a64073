"""What the console shows a reviewer: their campaigns, each line with its decision so far.

A reviewer sees the campaigns of the managers they may decide for: their
own, and those whose manager names them in ``review.delegates`` (the same
rule `iam.certify.decider_for` enforces when the decisions are applied).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from iam.grounds import grounds
from iam.model import Identity
from iam.runtime import Runtime


def may_decide_for(rt: Runtime, username: str, manager: str) -> bool:
    delegates = rt.config.review.delegates
    return username == manager or username in delegates.get(manager, []) or username in delegates.get("*", [])


@dataclass(frozen=True)
class CampaignView:
    id: str
    manager: str
    due: date
    items: list[dict[str, Any]]
    decisions: dict[str, Any]

    @property
    def undecided(self) -> int:
        return sum(1 for i in self.items if i["item"] not in self.decisions)

    def overdue(self, now: datetime) -> bool:
        return now.date() > self.due and self.undecided > 0

    def people(self) -> list[tuple[str, str, list[dict[str, Any]]]]:
        """The lines grouped by person: (username, display name, lines)."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for item in self.items:
            grouped.setdefault(item["username"], []).append(item)
        return [(u, lines[0]["name"], lines) for u, lines in grouped.items()]


def _view(row: dict[str, Any]) -> CampaignView:
    return CampaignView(row["id"], row["manager"], row["due"], row["items"], dict(row["decisions"] or {}))


def campaigns_for(rt: Runtime, username: str) -> list[CampaignView]:
    """The campaigns ``username`` may decide, newest first."""
    return [_view(r) for r in rt.store.certifications() if may_decide_for(rt, username, r["manager"])]


def campaign(rt: Runtime, campaign_id: str) -> CampaignView | None:
    row = rt.store.get_certification(campaign_id)
    return _view(row) if row else None


def grounds_of(rt: Runtime, view: CampaignView, today: date) -> dict[str, list[str]]:
    """Why each line's entitlement is held (`iam.grounds`); empty when no policy is configured."""
    policy = rt.policy
    if policy is None:
        return {}
    people: dict[str, Identity | None] = {}
    out: dict[str, list[str]] = {}
    for item in view.items:
        username = item["username"]
        if username not in people:
            row = rt.store.get_identity(username)
            attrs = (row or {}).get("attributes") or {}
            people[username] = (
                Identity.from_dict({**attrs, "status": row["status"]}) if row and attrs else None
            )
        person = people[username]
        if person is not None:
            out[item["item"]] = grounds(policy, person, today, item["system"], item["entitlement"])
    return out
