"""Manager certification: export what each person holds, import the decisions.

Export writes a CSV (the decisions file) and an HTML page per manager. On
import, "revoke" lines are revoked (one run per person, the reason naming
the campaign and who decided), "keep" lines are recorded, and lines nobody
decided on are reported, as overdue once the due date has passed.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from iam import actor, csvsafe, notify, runs
from iam.contract import Op, StepSpec
from iam.errors import InputError
from iam.export import certification_html
from iam.plan import number_steps
from iam.report import Campaign, CertificationItem, CertificationResult, RowError, RunReport
from iam.roster import Roster
from iam.runtime import Runtime

CSV_COLUMNS = ("campaign", "item", "username", "name", "system", "entitlement", "decision", "comment")
DECISIONS = ("keep", "revoke")


def export(
    rt: Runtime, manager: str, now: datetime, due: date | None = None, out_dir: Path | None = None
) -> Campaign:
    """Start a campaign for ``manager``'s people; write its CSV and HTML to ``out_dir``."""
    people = Roster.of(rt.store.iter_identities())
    if manager not in people:
        raise InputError(f"unknown manager {manager!r}")
    reports = [p for p in people.values() if p.manager == manager and p.status == "active"]
    if not reports:
        raise InputError(f"{manager!r} manages nobody who is active")
    items = [
        CertificationItem(
            item=f"{person.username}|{system.system}|{ent}",
            username=person.username,
            name=person.display_name,
            system=system.system,
            entitlement=ent,
            last_login=system.account.last_login if system.account else None,
        )
        for person in sorted(reports, key=lambda p: p.username)
        for system in runs.status(rt, person.username).systems
        for ent in (system.account.entitlements if system.account else [])
    ]
    campaign = Campaign(
        id=str(uuid.uuid4()), manager=manager, due=due or (now.date() + timedelta(days=14)), items=items
    )
    rt.store.save_certification(
        campaign.id, manager, campaign.due, [i.model_dump(mode="json") for i in items]
    )
    rt.audit.record(
        "certification.started",
        campaign=campaign.id,
        manager=manager,
        items=len(items),
        due=campaign.due.isoformat(),
    )
    boss = people[manager]
    notify.send(
        rt.config.notifications,
        rt.audit.record,
        "certification_opened",
        f"iam: please certify your people's access by {campaign.due.isoformat()}",
        f"{len(items)} item(s) of {len(reports)} people wait for your decision (campaign {campaign.id}).",
        manager_email=boss.email or None,
        facts={"campaign": campaign.id, "manager": manager, "due": campaign.due.isoformat()},
        outbox=rt.store,
    )
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = f"certification-{manager}-{campaign.id[:8]}"
        (out_dir / f"{stem}.csv").write_text(decisions_template(campaign), encoding="utf-8")
        (out_dir / f"{stem}.html").write_text(certification_html(campaign), encoding="utf-8")
        campaign.files = [str(out_dir / f"{stem}.csv"), str(out_dir / f"{stem}.html")]
    return campaign


def decisions_template(campaign: Campaign) -> str:
    out = io.StringIO()
    writer = csvsafe.writer(out, CSV_COLUMNS)
    writer.writeheader()
    for item in campaign.items:
        writer.writerow(
            {
                "campaign": campaign.id,
                **item.model_dump(include=set(CSV_COLUMNS)),
                "decision": "",
                "comment": "",
            }
        )
    return out.getvalue()


def decider_for(rt: Runtime, manager: str) -> str:
    """Who decides now (the acting person), if they may decide for ``manager``'s campaign.

    The campaign's manager, or a delegate the configuration names: never a
    name typed on a command line or written in the file.
    """
    who = actor.person()
    allowed = {
        manager,
        *rt.config.review.delegates.get(manager, []),
        *rt.config.review.delegates.get("*", []),
    }
    if who is None or who not in allowed:
        raise InputError(
            f"{actor.current()} may not decide for {manager}'s certification: only {manager} or a delegate "
            f"named in review.delegates.{manager} (or review.delegates.*) may; nothing was decided"
        )
    return who if who == manager else f"{who} (delegate of {manager})"


def import_decisions(rt: Runtime, path: Path, now: datetime) -> CertificationResult:
    """Apply a returned decisions file, decided by the acting person; returns revocations, records
    and what is undecided."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        rows = [{k: csvsafe.restore(v) for k, v in r.items()} for r in csv.DictReader(lines)]
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    campaign_ids = {r.get("campaign", "") for r in rows}
    if len(campaign_ids) != 1:
        raise InputError(f"{path}: expected the rows of exactly one campaign, found {len(campaign_ids)}")
    campaign_id = campaign_ids.pop()
    if rt.store.get_certification(campaign_id) is None:
        raise InputError(f"{path}: unknown campaign; export it with `iam review certify --manager M`")
    return apply_decisions(rt, campaign_id, rows, now, str(path), first_line=2)


def apply_decisions(
    rt: Runtime,
    campaign_id: str,
    rows: list[dict[str, Any]],
    now: datetime,
    source: str,
    first_line: int = 1,
) -> CertificationResult:
    """Record the decisions of ``rows`` (item, decision, comment), decided by the acting person, and
    revoke what they revoke; a line already decided keeps its first decision.

    The decisions file and the web console both come here, so who may decide
    (`decider_for`) and how revokes run (one audited run per person, through
    the same admission checks as every plan) are the same for both.
    """
    campaign = rt.store.get_certification(campaign_id)
    if campaign is None:
        raise InputError(f"{source}: unknown campaign {campaign_id!r}")
    decided_by = decider_for(rt, campaign["manager"])
    items = {i["item"]: i for i in campaign["items"]}
    decisions = dict(campaign["decisions"] or {})
    errors: list[RowError] = []
    revoke: dict[str, list[dict[str, Any]]] = {}
    for line, row in enumerate(rows, start=first_line):
        decision = (row.get("decision") or "").strip().lower()
        item = items.get(row.get("item", ""))
        if item is None:
            errors.append(RowError(source, line, "item", "not part of this campaign"))
            continue
        if decision and decision not in DECISIONS:
            errors.append(RowError(source, line, "decision", f"{decision!r}: write keep or revoke"))
            continue
        if not decision or item["item"] in decisions:
            continue
        decisions[item["item"]] = {
            "decision": decision,
            "by": decided_by,
            "at": now.isoformat(),
            "comment": row.get("comment") or "",
        }
        rt.audit.record(
            "certification.decision",
            campaign=campaign["id"],
            item=item["item"],
            username=item["username"],
            decision=decision,
            decided_by=decided_by,
        )
        if decision == "revoke":
            revoke.setdefault(item["username"], []).append(item)
    rt.store.set_certification_decisions(campaign["id"], decisions)
    reports = [
        _revoke(rt, campaign["id"], decided_by, username, chosen) for username, chosen in revoke.items()
    ]
    undecided = [CertificationItem(**i) for key, i in items.items() if key not in decisions]
    return CertificationResult(
        campaign=campaign["id"],
        manager=campaign["manager"],
        due=campaign["due"],
        revoked=reports,
        decided=len(decisions),
        undecided=undecided,
        overdue=now.date() > campaign["due"] and bool(undecided),
        rejected=[str(e) for e in errors],
    )


def _revoke(
    rt: Runtime, campaign: str, decided_by: str, username: str, items: list[dict[str, Any]]
) -> RunReport:
    rt.progress(f"revoke {username}")
    steps: dict[str, list[StepSpec]] = {}
    for item in sorted(items, key=lambda i: (i["system"], i["entitlement"])):
        steps.setdefault(item["system"], []).append(
            StepSpec(Op.REVOKE, item["entitlement"], f"revoke {item['entitlement']} (certification)")
        )
    plan = number_steps("certification", username, steps)
    return runs.execute_plan(rt, plan, f"certification {campaign}: revoke decided by {decided_by}")
