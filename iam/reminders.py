"""Certification reminders: a manager is told once that a campaign is due soon, and once that
it is overdue, while items wait for their decision (`iam run-due`)."""

from __future__ import annotations

from datetime import datetime

from iam import notify
from iam.runtime import Runtime


def remind(rt: Runtime, now: datetime) -> int:
    """Tell each manager whose campaign still has undecided items that it is due soon, or overdue
    (`iam run-due`); each reminder once. Returns how many were sent."""
    today = now.astimezone(rt.config.tz).date()
    sent = 0
    for campaign in rt.store.certifications():
        undecided = len(campaign["items"]) - len(campaign["decisions"] or {})
        if undecided <= 0:
            continue
        due = campaign["due"]
        if today > due:
            kind, column, subject = (
                "certification_overdue",
                "overdue_told",
                f"overdue since {due.isoformat()}",
            )
        elif (due - today).days <= rt.config.review.certification_reminder_days:
            kind, column, subject = "certification_due_soon", "due_soon_told", f"due on {due.isoformat()}"
        else:
            continue
        if not rt.store.claim_certification_reminder(campaign["id"], column, now):
            continue
        boss = rt.store.get_identity(campaign["manager"])
        email = str(((boss or {}).get("attributes") or {}).get("email") or "") or None
        sent += notify.send(
            rt.config.notifications,
            rt.audit.record,
            kind,  # type: ignore[arg-type]
            f"iam: your access certification is {subject}",
            f"{undecided} item(s) still wait for your decision (campaign {campaign['id']}).",
            manager_email=email,
            facts={"campaign": campaign["id"], "manager": campaign["manager"], "due": due.isoformat()},
            outbox=rt.store,
        )
    return sent
