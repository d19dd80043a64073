"""`iam review sweep`: read every system in bulk, find what should not exist.

One paged pass per system (in parallel across systems), compared with the
identities and the policy; the sweep is stored so the next one can say what
is new and what was resolved. Remediation turns findings into runs.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from iam import (
    acknowledgement,
    actor,
    gcquiet,
    holds,
    lifecycle,
    notify,
    review,
    roster,
    runs,
    suspended,
    uniqueness,
)
from iam.contract import Capability, Op, Readable, StepSpec
from iam.errors import InputError
from iam.plan import Plan, number_steps
from iam.policy import Policy, PolicyViolation
from iam.report import Finding, Remediation, RemediationRefusal, SweepDiff, SweepResult, SweepSummary
from iam.retry import call_with_retry
from iam.runtime import Runtime


def review_all(
    rt: Runtime,
    people: roster.Later,
    policy: Policy,
    now: datetime,
    on_system: Callable[[str, int], None] | None = None,
) -> tuple[list[review.SystemReview], dict[str, str]]:
    """Every system read in one bulk, paged pass (systems in parallel), each account judged as it arrives.

    The people are loaded when a system hands out its first account (after
    an LDAP directory's groups were read: the two peaks do not add up). A
    system whose read fails, even half way, is an error and its findings
    are dropped: a partial read never passes for a clean system.
    """
    today = now.astimezone(rt.config.tz).date()

    def read(name: str) -> review.SystemReview | str:
        connector = rt.connectors[name]
        assert isinstance(connector, Readable)
        rt.progress(f"reading {name}")

        def attempt() -> review.SystemReview:  # a retry starts the system's review afresh
            seen = review.SystemReview(name, people, policy, today, now, rt.config.dormant_days)
            accounts = connector.iter_accounts()
            try:
                for state in accounts:
                    seen.add(state)
            finally:  # a read left half way gives its connection back here, in this thread, not at GC
                if isinstance(accounts, Generator):
                    accounts.close()
            return seen

        try:
            done = call_with_retry(attempt, rt.config.retry, rt.sleep)
        except Exception as exc:
            return str(exc)
        if on_system:
            on_system(name, done.count)
        return done

    names = sorted(rt.connectors)
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(names)))) as pool:
        results = dict(zip(names, pool.map(read, names), strict=True))
    reviews = [r for r in results.values() if isinstance(r, review.SystemReview)]
    errors = {n: r for n, r in results.items() if isinstance(r, str)}
    return reviews, errors


def sweep(rt: Runtime, now: datetime, on_system: Callable[[str, int], None] | None = None) -> SweepResult:
    """Run one sweep, store it and return it (each finding has a stable ``key``)."""
    policy = lifecycle.policy_of(rt)
    today = now.astimezone(rt.config.tz).date()
    with gcquiet.quiet():  # many objects made, few of them garbage: see `iam.gcquiet`
        later = roster.Later(lambda: roster.Roster.of(rt.store.iter_identities()))
        reviews, errors = review_all(rt, later, policy, now, on_system)
        people = later.get()  # loaded already, unless no system handed out an account
        standing = holds.standing(rt).values()
        suspensions = suspended.all_standing(rt)
        findings = sorted(
            review.combine(people, policy, reviews, today, standing)
            + suspended.findings(suspensions, now, rt.config.review.max_suspension_days)
            + uniqueness.duplicate_identities(people)
            + acknowledgement.findings(people, policy, today),
            key=lambda f: (f.type, f.system or "", f.account, f.entitlement or ""),
        )
    by_type: Counter[str] = Counter(f.type for f in findings)
    summary = SweepSummary(
        identities=len(people),
        accounts={r.system: r.count for r in reviews},
        errors=errors,
        by_type=dict(by_type),
        by_system=dict(Counter(f.system or "(identity)" for f in findings)),
        total=len(findings),
    )
    result = SweepResult(
        id=str(uuid.uuid4()),
        at=now.isoformat(),
        summary=summary,
        findings=findings,
        suspensions=[s.view(now) for s in suspensions],
    )
    stored = result.to_json()
    before = rt.store.sweeps(limit=1)
    # stored findings carry their key: read it rather than validate every finding again
    seen = {f.get("key") or Finding.model_validate(f).key for f in before[0]["findings"]} if before else set()
    new = [f for f in findings if f.key not in seen]
    rt.store.save_sweep(result.id, now, stored["summary"], stored["findings"])
    rt.audit.record(
        "review.sweep", sweep_id=result.id, findings=len(findings), by_type=dict(by_type), errors=errors
    )
    if new:
        notify.send(
            rt.config.notifications,
            rt.audit.record,
            "sweep_new_findings",
            f"iam: the access review found {len(new)} new finding(s)",
            "\n".join(f"{f.type} {f.system or '-'} {f.account} {f.entitlement or ''}: {f.why}" for f in new),
            facts={"sweep_id": result.id, "new": len(new)},
            outbox=rt.store,
        )
    return result


def diff(rt: Runtime, sweep_id: str | None = None) -> SweepDiff:
    """New and resolved findings between a sweep (default: the latest) and the one before it."""
    history = rt.store.sweeps(limit=10_000)
    if not history:
        raise InputError("no sweep yet: run `iam review sweep` first")
    index = 0
    if sweep_id:
        matches = [i for i, row in enumerate(history) if row["id"].startswith(sweep_id)]
        if len(matches) != 1:
            raise InputError(f"no single sweep with id {sweep_id!r}")
        index = matches[0]
    current = history[index]
    previous = history[index + 1] if index + 1 < len(history) else None
    now_keys = {f.key: f for f in map(Finding.model_validate, current["findings"])}
    then_keys = {f.key: f for f in map(Finding.model_validate, previous["findings"] if previous else [])}
    return SweepDiff(
        current=current["id"],
        previous=previous["id"] if previous else None,
        new=[f for k, f in now_keys.items() if k not in then_keys],
        resolved=[f for k, f in then_keys.items() if k not in now_keys],
        unchanged=len(set(now_keys) & set(then_keys)),
    )


#: Findings a sweep can fix by itself; the others (SoD conflicts, unowned third
#: parties, termination holds HR contradicts) need a person's decision and are only reported.
REMEDIATED = ("orphan", "leaver_with_access", "excess", "expired", "missing", "dormant")


def _terminates(finding: Finding) -> bool:
    """Orphans and leavers lose everything; so does a third party past their end date."""
    kind = finding.type
    return kind in ("orphan", "leaver_with_access") or (kind == "expired" and finding.system is None)


def _remedy(finding: Finding, caps: frozenset[Capability]) -> StepSpec | None:
    kind, ent = finding.type, finding.entitlement
    if kind in ("excess", "expired") and ent and Capability.ENTITLE in caps:
        return StepSpec(Op.REVOKE, ent, f"revoke {ent} ({kind})")
    if kind == "missing" and ent and Capability.ENTITLE in caps:
        return StepSpec(Op.GRANT, ent, f"grant {ent} (the policy names it)")
    if kind == "dormant" and Capability.DISABLE in caps:
        return StepSpec(Op.DISABLE, description="disable the dormant account")
    return None


def _person(rt: Runtime, account: str) -> str:
    """The account's person as HR spells them: the VPNs and Keycloak answer ``alice`` for HR's
    ``Alice``; a remediation under that spelling made a second identity, never terminated."""
    try:
        return runs.known_username(rt, account)
    except InputError:  # not a name iam could run under, or two people's: its own run says so
        return account


def remediation_plans(rt: Runtime, findings: list[Finding]) -> list[tuple[str, str, Plan | None]]:
    """(kind, username, plan) per person; an offboard has no plan here (it plans itself)."""
    out: list[tuple[str, str, Plan | None]] = []
    per_user: dict[str, list[Finding]] = {}
    for f in findings:
        if f.type in REMEDIATED:
            per_user.setdefault(_person(rt, f.account), []).append(f)
    for username, items in sorted(per_user.items()):
        if any(_terminates(f) for f in items):
            out.append(("offboard", username, None))
            continue
        steps: dict[str, list[StepSpec]] = {}
        for f in items:
            if f.system not in rt.connectors:
                continue
            step = _remedy(f, type(rt.connectors[f.system]).capabilities())
            if step is not None:
                steps.setdefault(f.system, []).append(step)
        if steps:
            out.append(("remediate", username, number_steps("remediate", username, steps)))
    return out


def remediate(rt: Runtime, result: SweepResult, max_terminations: int | None = None) -> Remediation:
    """Apply the remediation of a sweep; every run's reason names the sweep.

    A termination here holds against HR (`iam.holds`), in the name of whoever runs the sweep.
    """
    plans = remediation_plans(rt, result.findings)
    terminations = sum(1 for kind, _, _ in plans if kind == "offboard")
    limit = rt.config.max_terminations if max_terminations is None else max_terminations
    if terminations > limit:
        raise InputError(
            f"remediation would terminate {terminations} people, more than the limit of {limit}; "
            "nothing was changed (use --max-terminations N)"
        )
    reason = f"review sweep {result.id}"
    done = Remediation(runs=[], refused=[])
    for kind, username, plan in plans:
        if kind == "offboard":
            done.runs.append(holds.terminate(rt, username, reason, by=actor.current(), source=reason))
            continue
        assert plan is not None
        try:
            done.runs.append(runs.execute_plan(rt, plan, reason))
        except PolicyViolation as exc:  # this person's fix needs a decision; the others go on
            done.refused.append(RemediationRefusal(username=username, error=str(exc)))
    rt.audit.record("review.remediated", sweep_id=result.id, runs=[r.run_id for r in done.runs if r.run_id])
    return done
