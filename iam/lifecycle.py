"""Joiner / mover / leaver / rehire: HR's facts turned into verified runs.

Each event is checked against the policy first (separation of duty), then
stored together with the identity it changes in one transaction, then run.
A future-dated event waits in the store until `run_due` finds it due.
Nothing is ever granted to a person under a termination hold (`iam.holds`),
and a time-bound grant is revoked by `run_due` once it expires.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from iam import deletion, holds, notify, reminders, retention_schedule, runs, suspended, uniqueness
from iam.actor import current as current_actor
from iam.contract import Maintainable
from iam.errors import ConnectorError, InputError, UserError
from iam.holds import Hold
from iam.hr import (
    END_DATE_REASON,
    FEED_SOURCE,
    Event,
    derive_events,
    end_of_day,
    gone,
    orphaned_third_parties,
    parse_events,
    protected,
    read_feed,
    validate_people,
)
from iam.model import Identity
from iam.policy import Grant, Policy, PolicyViolation
from iam.report import (
    EventOutcome,
    EventStatus,
    LifecycleReport,
    OrphanedThirdParty,
    PersonPlan,
    ProtectedPerson,
    RunReport,
    SystemPlan,
    Upkeep,
)
from iam.runtime import Runtime


def policy_of(rt: Runtime) -> Policy:
    """The configured policy; an error saying how to configure one when there is none."""
    if rt.policy is None:
        raise InputError("no policy is configured: add `policy: policy.yaml` to the configuration")
    return rt.policy


def known_identities(rt: Runtime) -> dict[str, Identity]:
    """Stored identities by hr_id (people iam has seen from HR)."""
    out = {}
    for row in rt.store.identities():
        attrs = dict(row["attributes"] or {})
        if attrs.get("hr_id"):
            attrs["status"] = row["status"]
            out[attrs["hr_id"]] = Identity.from_dict(attrs)
    return out


def _by_username(rt: Runtime) -> dict[str, Identity]:
    return {i.username: i for i in known_identities(rt).values()}


def process(
    rt: Runtime,
    events: Iterable[Event],
    now: datetime,
    *,
    dry_run: bool = False,
    on_event: Callable[[EventOutcome], None] | None = None,
) -> list[EventOutcome]:
    """Store each event; run the ones already due; return one outcome per event.

    The policy is read for the events that need it: a leaver runs without one,
    and when it cannot be read the others end `failed` naming why.
    """
    outcomes = []
    people: uniqueness.People | None = None  # read once, for the joiners' duplicate check
    with rt.audit.batch():  # one append of the log for the feed's runs, not one per person
        for event in events:
            if event.type == "joiner" and people is None:
                people = uniqueness.People(known_identities(rt).values())
            outcome = _process_one(rt, event, now, dry_run, people or uniqueness.People())
            if event.type == "joiner" and event.person is not None and outcome.status != "rejected":
                assert people is not None
                people.add(replace(event.person, status="pending"))  # a later twin in the same feed
            outcomes.append(outcome)
            if on_event:
                on_event(outcome)
    return outcomes


def _outcome(
    event: Event, status: EventStatus, run: RunReport | None = None, error: str | None = None
) -> EventOutcome:
    return EventOutcome(
        id=event.id,
        type=event.type,
        username=event.username,
        effective_at=event.effective_at.isoformat(),
        status=status,
        run_id=run.run_id if run else None,
        error=error,
        run=run,
    )


def _held(rt: Runtime, event: Event, hold: Hold) -> EventOutcome:
    """Refuse an event that would grant a held person anything; say who terminated them and why."""
    why = {"terminated_by": hold.placed_by, "terminated_for": hold.reason}
    return _refused_as_held(rt, event, hold.conflict(), why)


def _refused_as_held(rt: Runtime, event: Event, error: str, why: dict[str, str]) -> EventOutcome:
    """The audited refusal of an event that would grant a held or suspended person anything."""
    rt.audit.record(
        "event.held", event_id=event.id, username=event.username, type=event.type, source=event.source, **why
    )
    return _outcome(event, "held", error=error)


def _process_one(
    rt: Runtime, event: Event, now: datetime, dry_run: bool, people: uniqueness.People
) -> EventOutcome:
    due = event.immediate or event.effective_at <= now
    if event.type != "leaver" and (hold := holds.held(rt, event.username)):
        return _held(rt, event, hold)
    if (suspended := _suspended(rt, event)) is not None:
        return suspended
    if (duplicate := _duplicate(rt, event, people)) is not None:
        return duplicate
    try:
        desired = _desired_for(rt, event, now)
    except PolicyViolation as exc:
        rt.audit.record(
            "event.rejected", event_id=event.id, username=event.username, type=event.type, error=str(exc)
        )
        return _outcome(event, "rejected", error=str(exc))
    except UserError as exc:  # no policy, or one that cannot be read: nothing stored, nothing changed
        return _outcome(event, "failed", error=str(exc))
    if dry_run:
        if not due:
            return _outcome(event, "would wait")
        run = _run(rt, event, desired, dry_run=True)
        blind = {s.system: s.error for s in run.systems if s.result == "error"}
        if blind:  # a plan that could not read a system is not the plan that would run
            down = rt.outages.summary()  # said once for the whole command, not per person
            why = [name if name in down else f"{name}: {error}" for name, error in blind.items()]
            return _outcome(event, "cannot plan", run, "cannot read " + "; ".join(why))
        return _outcome(event, "would apply", run)
    identity_status = _identity_status(event, due)
    if event.type == "rehire":
        rt.store.cancel_pending(event.username, ("leaver",))
    if event.type == "leaver" and not due:
        rt.store.cancel_pending(event.username, ("leaver",))  # a new last day replaces the old one
    # An event applied now is stored as running (claimed): no concurrent run-due takes it too.
    rt.store.record_event(event.to_row("running" if due else "pending"), identity_status)
    rt.audit.record(
        "event.received",
        event_id=event.id,
        username=event.username,
        type=event.type,
        effective_at=event.effective_at.isoformat(),
        source=event.source,
        due=due,
    )
    if not due:
        return _outcome(event, "scheduled")
    return _apply(rt, event, desired)


def _identity_status(event: Event, due: bool) -> str | None:
    if event.type == "leaver":
        return "terminated" if due else None
    return "active" if due else ("pending" if event.type == "joiner" else None)


def _desired(rt: Runtime, policy: Policy, event: Event, now: datetime) -> dict[str, Any]:
    person = event.person
    assert person is not None
    active = Identity.from_dict({**person.to_dict(), "status": "active"})
    return policy.desired(active, now.astimezone(rt.config.tz).date(), rt.connectors)


def _run(rt: Runtime, event: Event, desired: dict[str, Any] | None, dry_run: bool = False) -> RunReport:
    rt.progress(f"{event.type} {event.username}")
    reason = f"{event.type} {event.id}: {event.reason or event.source}"
    if event.type == "leaver" and event.from_feed:
        return runs.offboard(rt, event.username, reason, dry_run=dry_run)
    if event.type == "leaver":  # ordered outside HR's feed: it holds against the feed
        by = event.actor or event.source
        return holds.terminate(rt, event.username, reason, by=by, source=event.source, dry_run=dry_run)
    assert desired is not None
    return runs.provision(rt, event.type, event.username, desired, reason, dry_run=dry_run)


def _apply(rt: Runtime, event: Event, desired: dict[str, Any] | None) -> EventOutcome:
    try:
        run = _run(rt, event, desired)
    except UserError as exc:
        rt.store.finish_event(event.id, "failed", None, str(exc))
        return _outcome(event, "failed", error=str(exc))
    status: EventStatus = "applied" if run.status == "complete" else "partial"
    error = None
    if run.status == "not_found":
        # Nothing to remove for someone never given access; alarming for someone iam provisioned.
        status = "not_found" if _provisioned_before(rt, event.username) else "applied"
        error = "no system holds an account by this name" if status == "not_found" else None
    rt.store.finish_event(event.id, status, run.run_id, error)
    if event.type != "leaver":
        rt.store.upsert_identity(event.username, "active")
    return _outcome(event, status, run, error)


def _provisioned_before(rt: Runtime, username: str) -> bool:
    return any(
        r["kind"] in ("joiner", "mover", "rehire") and not r["dry_run"] for r in rt.store.list_runs(username)
    )


def hr_sync(
    rt: Runtime, feed: Path, now: datetime, *, dry_run: bool = False, max_terminations: int | None = None
) -> LifecycleReport:
    """HR's full export is the truth: derive every joiner, mover and leaver from it.

    Except against a termination hold: a person terminated outside HR is
    reported, never provisioned, while HR still lists them (`iam.holds`).
    """
    records, source = read_feed(feed)
    known = known_identities(rt)
    people, rejected = validate_people(records, source, known, now, rt.config.tz)
    spared = protected(known, people, records, rejected)
    kept = {h: k for h, k in known.items() if h not in spared}  # as if HR had not spoken of them
    leaves = [e for e in rt.store.list_events("pending") if e["type"] == "leaver"]  # times in UTC, aware
    pending = {e["username"]: e["effective_at"] for e in leaves}
    standing = holds.standing(rt)
    feed_source = f"{FEED_SOURCE}:{feed.name}"
    events = derive_events(people, kept, pending, now, rt.config.tz, source=feed_source, held=standing.keys())
    verdict = holds.judge(people, kept, standing, now, rt.config.tz)
    report = LifecycleReport(
        rejected=rejected,
        holds=[h.view() for h in verdict.conflicts],
        holds_ended=[h.view() for h in verdict.agreed],
        protected=[
            ProtectedPerson(username=k.username, hr_id=h, why=spared[h])
            for h, k in known.items()
            if h in spared and k.status in ("active", "pending", "suspended") and k.username not in standing
        ],
    )
    for person in report.protected:
        rt.audit.record("sync.protected", source=source, dry_run=dry_run, **person.model_dump())
    events += _orphaned_third_parties(rt, report, people, known, events, standing, now, feed_source)
    report.blocked = _blast_radius(rt, events, known, now, max_terminations)
    if report.blocked:
        rt.audit.record("sync.blocked", source=source, reason=report.blocked)
        holds.settle(rt, verdict, source, now, dry_run=True)  # reported; nothing changes
        report.events = [_outcome(e, "blocked") for e in events]
        return report
    holds.settle(rt, verdict, source, now, dry_run=dry_run)
    for orphan in report.orphaned_third_parties:
        rt.audit.record("third_party.orphaned", source=source, dry_run=dry_run, **orphan.model_dump())
    if not dry_run:
        _tell_owners_managers(rt, report.orphaned_third_parties, known)
    # an export without the column says nothing of end dates: it cancels no leave
    gives_end_dates = "end_date" in records.fields
    report.events = _cleared_end_dates(rt, people, leaves, standing, now, dry_run) if gives_end_dates else []
    report.events += process(rt, events, now, dry_run=dry_run)
    _raise_if_policy_unreadable(rt, report.events)
    if not dry_run:
        report.events += retry_unfinished(
            rt, now, wait=False, people={p.username: p for p in people}, skip=[e.username for e in events]
        )
    report.unreachable = rt.outages.summary()
    rt.audit.record("sync.done", source=source, events=len(events), rejected=len(rejected), dry_run=dry_run)
    return report


def _cleared_end_dates(
    rt: Runtime,
    people: list[Identity],
    leaves: list[dict[str, Any]],
    held: Mapping[str, Hold],
    now: datetime,
    dry_run: bool,
) -> list[EventOutcome]:
    """Cancel those of the scheduled ``leaves`` HR's feed made from end dates it no longer gives.

    A contractor made an employee keeps their row, without an end date: the leave the
    old date scheduled would otherwise still terminate them on that day. A leave from
    anywhere else (an event file, the HTTP endpoint) stands.
    """
    tz = rt.config.tz
    open_ended = {p.username for p in people if p.end_date is None and not gone(p, now, tz)}
    out: list[EventOutcome] = []
    for row in leaves:
        if (
            row["username"] not in open_ended
            or row["username"] in held
            or row["reason"] != END_DATE_REASON
            or not str(row["source"]).startswith(FEED_SOURCE)
        ):
            continue
        why = "HR no longer gives an end date"
        if not dry_run:
            if not rt.store.cancel_event(row["id"]):
                continue  # being applied this moment: its run decides
            rt.audit.record("event.cancelled", event_id=row["id"], username=row["username"], why=why)
        out.append(
            EventOutcome(
                id=row["id"],
                type="leaver",
                username=row["username"],
                effective_at=row["effective_at"].isoformat(),
                status="would cancel" if dry_run else "cancelled",
                run_id=None,
                error=why,
                run=None,
            )
        )
    return out


def _orphaned_third_parties(
    rt: Runtime,
    report: LifecycleReport,
    people: list[Identity],
    known: dict[str, Identity],
    events: list[Event],
    held: Mapping[str, Hold],
    now: datetime,
    source: str,
) -> list[Event]:
    """List the active third parties of the owners this sync terminates; with
    ``safety.orphaned_third_parties: terminate``, the leaver events that terminate them too."""
    leaving = {e.username for e in events if e.type == "leaver" and e.effective_at <= now}
    latest = {p.username: p for p in people}  # HR may have given them a new owner in this very feed
    active = [
        latest.get(k.username, k) for k in known.values() if k.status == "active" and k.username not in held
    ]
    orphans = orphaned_third_parties(active, leaving, now, rt.config.tz)
    action = rt.config.orphaned_third_parties
    report.orphaned_third_parties = [
        OrphanedThirdParty(owner=p.owner, username=p.username, kind=p.kind, action=action) for p in orphans
    ]
    if action != "terminate":
        return []
    return [Event("leaver", p.username, now, p, f"HR: owner {p.owner} left", source) for p in orphans]


def _tell_owners_managers(
    rt: Runtime, orphans: list[OrphanedThirdParty], known: Mapping[str, Identity]
) -> None:
    """The manager of each owner who left hears which of their third parties are still active."""
    by_name = {i.username: i for i in known.values()}
    for owner in sorted({o.owner for o in orphans}):
        left = sorted(o.username for o in orphans if o.owner == owner)
        boss = by_name.get(by_name[owner].manager) if owner in by_name else None
        notify.send(
            rt.config.notifications,
            rt.audit.record,
            "owner_left",
            f"iam: {owner} left; their third parties are still active",
            f"{owner} owned {', '.join(left)}, still active. Name a new owner in HR, or end their access.",
            manager_email=boss.email if boss and boss.email else None,
            facts={"owner": owner, "third_parties": left},
            outbox=rt.store,
        )


def _blast_radius(
    rt: Runtime, events: list[Event], known: dict[str, Identity], now: datetime, override: int | None
) -> str | None:
    """Refuse a sync that would terminate too many people at once (a bad export)."""
    leaving = {e.username for e in events if e.type == "leaver" and e.effective_at <= now}
    active = sum(1 for k in known.values() if k.status == "active")
    if override is not None:
        limit = override
    else:
        limit = min(rt.config.max_terminations, max(1, int(active * rt.config.max_termination_share)))
    if len(leaving) > limit:
        return (
            f"this sync would terminate {len(leaving)} of {active} people, more than the limit of {limit}; "
            "nothing was changed. Check the export, or rerun with --max-terminations N"
        )
    return None


def submit(
    rt: Runtime, data: Any, source: str, now: datetime, *, dry_run: bool = False, actor: str | None = None
) -> LifecycleReport:
    """Explicit events from a file or the HTTP endpoint, submitted by ``actor`` (default: the OS user).

    A leaver among them holds against HR's feed (`iam.holds`): it did not come from it.
    """
    events, rejected = parse_events(data, source, _by_username(rt), now, actor or current_actor())
    report = LifecycleReport(rejected=rejected)
    report.events = process(rt, events, now, dry_run=dry_run)
    _raise_if_policy_unreadable(rt, report.events)
    report.unreachable = rt.outages.summary()
    return report


def _raise_if_policy_unreadable(rt: Runtime, outcomes: list[EventOutcome]) -> None:
    """After the leavers have run: the policy's error, if it is why the others were not applied
    (exit 2, as any configuration error; each leaver's run is in the store and the audit log)."""
    waiting = [o for o in outcomes if o.type != "leaver" and o.status == "failed"]
    if not waiting:
        return
    try:
        policy_of(rt)
    except UserError as exc:
        ran = sum(o.type == "leaver" for o in outcomes)
        raise type(exc)(
            f"{exc}\nnothing was applied for {len(waiting)} joiner, mover or rehire event(s); "
            f"the {ran} leaver(s) among them ran (`iam runs`)"
        ) from exc


def run_due(rt: Runtime, now: datetime) -> LifecycleReport:
    """Apply every stored event whose time has come, then give systems their upkeep (cron, timer).

    The upkeep runs whatever happened to the events, and needs no policy: an
    offboarding-only deployment still gets its VPN CRL renewed.
    """
    report = LifecycleReport()
    try:
        notify.send_kept(rt.config.notifications, rt.audit.record, rt.store)  # what failed before first
        with rt.audit.batch():
            _apply_claimed(rt, now, report)  # due events first: a leaver never waits on the policy
        report.events += retry_unfinished(rt, now)
        deletion.run_due_deletes(rt, now, report)
        reminders.remind(rt, now)
        _apply_expiries(rt, now, report)  # the policy's own events last: a broken policy stops none above
    finally:
        report.maintenance += maintain(rt) + retention(rt, now)
        report.unreachable = rt.outages.summary()
    return report


def retention(rt: Runtime, now: datetime) -> list[Upkeep]:
    """Delete what ``audit.retention_days`` no longer keeps: rotated log files, finished runs (audited)."""
    days = rt.config.audit.retention_days
    if days is None:
        return []
    files = rt.audit.prune(now, days)
    pruned = rt.store.prune_runs(now - timedelta(days=days))
    rt.audit.record("store.pruned", runs=pruned, retention_days=days)
    detail = f"{len(files)} rotated log file(s) and {pruned} finished run(s) older than {days} days deleted"
    return [Upkeep(system="audit", outcome="updated" if files or pruned else "unchanged", detail=detail)]


def _apply_expiries(rt: Runtime, now: datetime, report: LifecycleReport) -> None:
    """Revoke the grants that have expired and the roles withheld for want of an acknowledgement;
    a policy that cannot be read is reported as failed upkeep (exit 3), not raised."""
    if not rt.config.policy:
        return
    try:
        policy = policy_of(rt)
    except UserError as exc:
        detail = f"expired grants and overdue acknowledgements not revoked: {exc}"
        report.maintenance.append(Upkeep(system="policy", outcome="failed", detail=detail))
        return
    with rt.audit.batch():
        _schedule_grant_expiries(rt, policy, now)
        _schedule_acknowledgement_revokes(rt, policy, now)
        _apply_claimed(rt, now, report)


def _apply_claimed(rt: Runtime, now: datetime, report: LifecycleReport) -> None:
    for row in rt.store.due_events(now):
        event = _event_from_row(row, now)
        settled, desired = _before_run(rt, event, now)
        if settled is not None:
            report.events.append(settled)
            continue
        rt.store.upsert_identity(
            event.username,
            "terminated" if event.type == "leaver" else "active",
            event.person.to_dict() if event.person else None,
        )
        rt.audit.record("event.due", event_id=event.id, username=event.username, type=event.type)
        report.events.append(_apply(rt, event, desired))


def retry_unfinished(
    rt: Runtime,
    now: datetime,
    *,
    wait: bool = True,
    people: Mapping[str, Identity] | None = None,
    skip: Iterable[str] = (),
) -> list[EventOutcome]:
    """Run again every event whose run ended partial, so nobody stays half done.

    A joiner stuck on a missing OU, a leaver whose badge system was down:
    once the cause is gone, the next `run-due` (after a growing wait) or
    `hr sync` (at once, with HR's current facts in ``people``) finishes them
    with a fresh plan from what the systems hold then. People in ``skip``
    have a newer event of their own.
    """
    skipped = set(skip)
    outcomes = []
    for row in rt.store.unfinished_events(now if wait else None):
        if row["username"] in skipped or (people is not None and row["username"] not in people):
            continue
        if not rt.store.claim_retry(row["id"]):
            continue  # another worker took it
        event = _event_from_row(row, now)
        if people is not None:
            event = replace(event, person=people[row["username"]])
        settled, desired = _before_run(rt, event, now)
        if settled is not None:
            outcomes.append(settled)
            continue
        rt.audit.record(
            "event.retried",
            event_id=event.id,
            username=event.username,
            type=event.type,
            retry=(row["retries"] or 0) + 1,
        )
        outcomes.append(_apply(rt, event, desired))
    return outcomes


def _event_from_row(row: Mapping[str, Any], now: datetime) -> Event:
    person = Identity.from_dict(row["identity"]) if row["identity"].get("hr_id") else None
    effective = row["effective_at"]
    effective = effective if effective.tzinfo else effective.replace(tzinfo=now.tzinfo)
    return Event(
        row["type"],
        row["username"],
        effective,
        person,
        row["reason"],
        row["source"],
        actor=row["actor"] or "",
        id=row["id"],
    )


def _suspended(rt: Runtime, event: Event) -> EventOutcome | None:
    """An event that would grant a suspended person anything ends `held` (their leaver still runs)."""
    if event.type == "leaver" or (standing := suspended.standing(rt, event.username)) is None:
        return None
    why = {"suspended_by": standing.suspended_by, "suspended_for": standing.reason}
    return _refused_as_held(rt, event, standing.conflict(), why)


def _duplicate(rt: Runtime, event: Event, people: uniqueness.People) -> EventOutcome | None:
    """A joiner who looks like someone who already has accounts is refused: one account per person."""
    if event.type != "joiner" or event.person is None:
        return None
    twin = people.twin(event.person)
    if twin is None:
        return None
    other, why = twin
    error = (
        f"{event.username} looks like {other.username}, who already has accounts ({why}); "
        "nothing was created. If they are two people, have HR tell them apart; if one, fix the record"
    )
    rt.audit.record(
        "event.rejected", event_id=event.id, username=event.username, type=event.type, error=error
    )
    return _outcome(event, "rejected", error=error)


def _held_now(rt: Runtime, event: Event) -> EventOutcome | None:
    """A grant of any kind to a person under a termination hold, or suspended, ends `held`;
    None when it may run."""
    if event.type == "leaver":
        return None
    hold = holds.held(rt, event.username)
    outcome = _held(rt, event, hold) if hold is not None else _suspended(rt, event)
    if outcome is None:
        return None
    rt.store.finish_event(event.id, "held", None, outcome.error)
    return outcome


def _desired_for(rt: Runtime, event: Event, now: datetime) -> dict[str, Any] | None:
    """What the policy gives the person (None for a leaver); `PolicyViolation` on a conflict."""
    return None if event.type == "leaver" else _desired(rt, policy_of(rt), event, now)


def _before_run(
    rt: Runtime, event: Event, now: datetime
) -> tuple[EventOutcome | None, dict[str, Any] | None]:
    """A stored event's outcome when it ends before a run of its own (an expiry, run here; a
    hold; a refusal; a policy that cannot be read), else None and what its run should give."""
    if event.type in (GRANT_EXPIRY, ACK_OVERDUE):  # it only revokes: a hold does not stop it
        return _expire_with_policy(rt, event, now), None
    if (held := _held_now(rt, event)) is not None:
        return held, None
    try:
        return None, _desired_for(rt, event, now)
    except PolicyViolation as exc:
        return _reject(rt, event, exc), None
    except UserError as exc:
        return _wait_for_policy(rt, event, exc), None


def _expire_with_policy(rt: Runtime, event: Event, now: datetime) -> EventOutcome:
    try:
        policy = policy_of(rt)
    except UserError as exc:
        return _wait_for_policy(rt, event, exc)
    return _expire_grant(rt, policy, event, now)


def _wait_for_policy(rt: Runtime, event: Event, exc: UserError) -> EventOutcome:
    """An event the policy cannot be read for ends partial: tried again once it can (`retry_unfinished`)."""
    rt.store.finish_event(event.id, "partial", None, str(exc))
    return _outcome(event, "partial", error=str(exc))


def _reject(rt: Runtime, event: Event, exc: PolicyViolation) -> EventOutcome:
    rt.store.finish_event(event.id, "rejected", None, str(exc))
    return _outcome(event, "rejected", error=str(exc))


#: The event `run_due` records when a time-bound grant has expired.
GRANT_EXPIRY = "grant-expiry"
GRANT_SOURCE = "policy:grants"
_GRANT_IDS = uuid.UUID("6b1d3c1e-2f0a-4d5e-9a63-3f7c1e8b2a10")


def _expiry_id(grant: Grant) -> str:
    """The same for every worker that notices the same expiry: it is recorded once."""
    return str(uuid.uuid5(_GRANT_IDS, f"{grant.username}|{grant.role}|{grant.expires.isoformat()}"))


def _schedule_grant_expiries(rt: Runtime, policy: Policy, now: datetime) -> None:
    """Record, once ever, each grant whose last day has ended for a person still active.

    It ends at midnight after ``expires`` in the configured time zone, as an
    end date does. The event is then claimed and applied like any due event.
    """
    for grant in policy.grants:
        ends = end_of_day(grant.expires, rt.config.tz)
        if ends > now:
            continue
        person = _identity(rt, grant.username)
        if person is None or person.status != "active":
            continue  # nothing of theirs to revoke; a rehire gets only unexpired grants
        reason = f"grant of role {grant.role} expired {grant.expires} (requested by {grant.requester})"
        event = Event(GRANT_EXPIRY, grant.username, ends, person, reason, GRANT_SOURCE, id=_expiry_id(grant))
        if rt.store.schedule_event(event.to_row("pending")):
            rt.audit.record(
                "grant.expired",
                event_id=event.id,
                username=grant.username,
                role=grant.role,
                expires=grant.expires.isoformat(),
                requester=grant.requester,
                grant_reason=grant.reason,
            )


#: The event `run_due` records when a person's grace to acknowledge the policy has ended.
ACK_OVERDUE = "ack-overdue"


def _schedule_acknowledgement_revokes(rt: Runtime, policy: Policy, now: datetime) -> None:
    """Record, once per person and policy version, a mover-like revoke of the roles that need an
    acknowledgement the person has not given by the end of the grace period."""
    ack = policy.acknowledgement
    today = now.astimezone(rt.config.tz).date()
    if ack is None or today <= ack.grace_ends:
        return
    for person in known_identities(rt).values():
        if person.status != "active" or not (withheld := policy.withheld(person, today)):
            continue
        reason = (
            f"policy {ack.version} not acknowledged by {ack.grace_ends}: "
            f"role(s) {', '.join(sorted(withheld))} withheld until it is"
        )
        ident = str(uuid.uuid5(_GRANT_IDS, f"ack|{person.username}|{ack.version}"))
        event = Event(ACK_OVERDUE, person.username, now, person, reason, "policy:acknowledgement", id=ident)
        if rt.store.schedule_event(event.to_row("pending")):
            rt.audit.record(
                "acknowledgement.overdue",
                event_id=event.id,
                username=person.username,
                version=ack.version,
                grace_ended=ack.grace_ends.isoformat(),
                roles=sorted(withheld),
            )


def _identity(rt: Runtime, username: str) -> Identity | None:
    """The person as stored now (from HR), or None if iam has no HR record of them."""
    row = rt.store.get_identity(username)
    if row is None or not (row["attributes"] or {}).get("hr_id"):
        return None
    return Identity.from_dict({**row["attributes"], "status": row["status"]})


def _expire_grant(rt: Runtime, policy: Policy, event: Event, now: datetime) -> EventOutcome:
    """A provisioning run, like a mover's, on the systems the grant's role names.

    Afterwards the person holds there exactly what their remaining roles name:
    an entitlement another role still names is kept.
    """
    person = _identity(rt, event.username)
    if person is None or person.status != "active":
        rt.store.finish_event(event.id, "cancelled", None, "no longer active: nothing to revoke")
        return _outcome(event, "cancelled")
    try:
        desired = policy.desired(person, now.astimezone(rt.config.tz).date(), rt.connectors)
    except PolicyViolation as exc:
        rt.store.finish_event(event.id, "rejected", None, str(exc))
        return _outcome(event, "rejected", error=str(exc))
    grant = next((g for g in policy.grants if _expiry_id(g) == event.id), None)
    if grant is not None:  # else the grant left the policy since: every system follows it
        named = policy.roles[grant.role].entitlements
        desired = {system: want for system, want in desired.items() if system in named}
    if not desired:  # the role names no configured system
        rt.store.finish_event(event.id, "applied", None, None)
        return _outcome(event, "applied")
    return _apply(rt, event, desired)


def maintain(rt: Runtime) -> list[Upkeep]:
    """Let every system that needs upkeep do it (a CRL renewed before it expires), each on its own."""
    done: list[Upkeep] = []
    for system, connector in sorted(rt.connectors.items()):
        if not isinstance(connector, Maintainable):
            continue
        try:
            result = connector.maintain()
        except ConnectorError as exc:
            entry = Upkeep(system=system, outcome="failed", detail=str(exc))
        else:
            entry = Upkeep(system=system, outcome=str(result.outcome), detail=result.detail)
        rt.audit.record("system.maintain", **entry.model_dump())
        done.append(entry)
    return done


def plan_person(rt: Runtime, username: str, now: datetime) -> PersonPlan:
    """What the person should hold (policy) against what they hold (systems)."""
    username = runs.known_username(rt, username)
    identity = _by_username(rt).get(username)
    if identity is None:
        raise InputError(f"unknown person {username!r}: iam has no HR record for them")
    policy = policy_of(rt)
    today = now.astimezone(rt.config.tz).date()
    roles = sorted(policy.roles_of(identity, today))
    desired = policy.desired(identity, today, rt.connectors) if identity.status == "active" else {}
    systems = []
    for entry in runs.status(rt, username).systems:
        want = desired.get(entry.system)
        held = set(entry.account.entitlements if entry.account else [])
        should = {str(e) for e in want.entitlements} if want else set()
        systems.append(
            SystemPlan(
                system=entry.system,
                should_have_account=bool(want and want.account),
                has_account=entry.account is not None,
                missing=sorted(should - held),
                extra=sorted(held - should),
                error=entry.error,
            )
        )
    deletes = retention_schedule.scheduled(rt.config, rt.store, username)
    return PersonPlan(
        username=username,
        status=identity.status,
        roles=roles,
        systems=systems,
        scheduled_deletes=[d.view() for d in deletes],
    )
