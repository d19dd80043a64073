"""Access review findings: what should not exist, computed from data.

Pure: identities, the policy and the accounts read in bulk go in; a list of
`Finding` comes out. Each finding says what, where, why, since when and the
suggested action, and has a stable ``key`` so two sweeps can be compared.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from iam import uniqueness
from iam.model import AccountState, DesiredAccount, Entitlement, Identity
from iam.policy import Policy, held_roles, sod_roles
from iam.report import Finding
from iam.roster import Later, Roster

if TYPE_CHECKING:
    from iam.holds import Hold


def _iso(moment: datetime | date | None) -> str | None:
    return moment.isoformat() if moment else None


def find(
    identities: Mapping[str, Identity],
    policy: Policy,
    accounts: Mapping[str, Iterable[AccountState]],
    today: date,
    now: datetime,
    dormant_days: int = 90,
    left_at: Mapping[str, datetime] | None = None,
    holds: Iterable[Hold] = (),
) -> list[Finding]:
    """Every finding across the systems that were read, and the termination
    holds a sync saw HR contradict (`iam.holds`).

    Each system's accounts are looked at once, as they come (`SystemReview`).
    """
    people = Roster(identities.values(), left_at)
    reviews = []
    for system, states in accounts.items():
        review = SystemReview(system, Later.now(people), policy, today, now, dormant_days)
        for state in states:
            review.add(state)
        reviews.append(review)
    return combine(people, policy, reviews, today, holds)


class SystemReview:
    """One system's accounts compared one by one as a bulk read hands them out.

    An account is judged and dropped: only its findings, whom it belongs to
    (a byte per person iam knows) and, for a person, the entitlements a
    separation-of-duty rule names are kept, so a sweep's memory does not
    hold every account of every system at once. The people are asked of
    ``people`` at the first account, once the system has read what comes
    before its accounts (an LDAP directory's groups). A read that fails
    half way leaves a review to throw away, never one to report.
    """

    def __init__(
        self,
        system: str,
        people: Later,
        policy: Policy,
        today: date,
        now: datetime,
        dormant_days: int = 90,
    ) -> None:
        self.system = system
        self.people = people
        self.policy = policy
        self.today, self.now, self.dormant_days = today, now, dormant_days
        self.findings: list[Finding] = []
        #: The entitlements here that SoD rules name, per person holding any (for `combine`).
        self.held: dict[str, frozenset[Entitlement]] = {}
        self.count = 0
        self._seen = bytearray()
        self._named = frozenset().union(
            *(policy.roles[r].entitlements.get(system, frozenset()) for r in sod_roles(policy))
        )
        self._of_note: dict[frozenset[Entitlement], frozenset[Entitlement]] = {}
        self._differences = _Differences()

    def _roster(self) -> Roster:
        roster = self.people.get()
        if len(self._seen) != len(roster):
            self._seen = bytearray(len(roster))
        return roster

    def add(self, state: AccountState) -> None:
        """Judge one account."""
        roster = self._roster()
        i = roster.index(state.username)
        person: Identity | None = None
        self.count += 1
        if i is not None:
            person = roster.values()[i]
            self._seen[i] = 1
            if self._named and (named := self._sod_named(state.entitlements)):
                self.held[person.username] = named
        want = self._want(person)
        self.findings += _account_findings(
            self.system,
            state,
            person,
            want,
            self.policy,
            self.today,
            self.now,
            self.dormant_days,
            roster.left,
            self._differences,
        )
        shared = uniqueness.shared_account(self.system, state, roster, roster.emails)
        if shared is not None:
            self.findings.append(shared)

    def _sod_named(self, held: frozenset[Entitlement]) -> frozenset[Entitlement]:
        """``held`` cut to what SoD rules name; one set for people holding the same (shared) set."""
        found = self._of_note.get(held)
        if found is None:
            if len(self._of_note) >= _Differences.KEPT:
                self._of_note.clear()
            found = self._of_note[held] = held & self._named
        return found

    def _want(self, person: Identity | None) -> DesiredAccount | None:
        if person is None or person.status != "active":
            return None
        return self.policy.reviewed(person, self.today, self.system)

    def missing(self) -> list[Finding]:
        """The accounts the policy gives here that the read did not see (once every account was added)."""
        roster = self._roster()
        return [
            Finding(
                type="missing",
                system=self.system,
                account=person.username,
                entitlement=None,
                why="the policy gives an account here; there is none",
                since=None,
                action="create",
            )
            for seen, person in zip(self._seen, roster.values(), strict=True)
            if not seen and (want := self._want(person)) is not None and want.account
        ]


def combine(
    identities: Mapping[str, Identity],
    policy: Policy,
    reviews: Iterable[SystemReview],
    today: date,
    holds: Iterable[Hold] = (),
) -> list[Finding]:
    """The findings of every system read in full, plus those about people across systems."""
    findings: list[Finding] = []
    held: dict[str, dict[str, frozenset[Entitlement]]] = {}
    for review in reviews:
        findings += review.findings + review.missing()
        for username, entitlements in review.held.items():
            held.setdefault(username, {})[review.system] = entitlements
    for person in identities.values():
        findings += _identity_findings(person, identities, policy, held.get(person.username, {}), today)
    findings += [_hold_conflict(hold) for hold in holds if hold.conflict_since is not None]
    return sorted(findings, key=lambda f: (f.type, f.system or "", f.account, f.entitlement or ""))


def _account_findings(
    system: str,
    state: AccountState,
    person: Identity | None,
    want: DesiredAccount | None,
    policy: Policy,
    today: date,
    now: datetime,
    dormant_days: int,
    left_at: Mapping[str, datetime],
    differences: _Differences,
) -> list[Finding]:
    if person is None:
        access = state.remaining_access()
        if not access:
            return []
        return [
            Finding(
                type="orphan",
                system=system,
                account=state.username,
                entitlement=None,
                why=f"no identity in HR for this account; {'; '.join(access)}",
                since=_iso(state.created),
                action="disable",
            )
        ]
    if person.status == "terminated":
        access = state.remaining_access()
        if not access:
            return []
        return [
            Finding(
                type="leaver_with_access",
                system=system,
                account=state.username,
                entitlement=None,
                why="; ".join(access),
                since=_iso(left_at.get(person.username)),
                action="terminate",
            )
        ]
    if person.status != "active" or want is None:
        return []
    out: list[Finding] = []
    grants = policy.grants_of(person.username)
    expired_roles = {g.role for g in grants if not g.active(today)}
    expired_ents = {e for r in expired_roles for e in policy.roles[r].entitlements.get(system, frozenset())}
    excess, lacking = differences(state.entitlements, want.entitlements)
    for ent in excess:
        if ent in expired_ents:
            grant = next(g for g in grants if g.role in expired_roles)
            out.append(
                Finding(
                    type="expired",
                    system=system,
                    account=state.username,
                    entitlement=str(ent),
                    why=f"time-bound grant of role {grant.role} expired",
                    since=grant.expires.isoformat(),
                    action="revoke",
                )
            )
        else:
            out.append(
                Finding(
                    type="excess",
                    system=system,
                    account=state.username,
                    entitlement=str(ent),
                    why="no role or unexpired grant of this person names it",
                    since=None,
                    action="revoke",
                )
            )
    for ent in lacking:
        out.append(
            Finding(
                type="missing",
                system=system,
                account=state.username,
                entitlement=str(ent),
                why="the policy names it; not held",
                since=None,
                action="grant",
            )
        )
    seen = state.last_login or state.created
    if state.enabled and seen and now - seen > timedelta(days=dormant_days):
        what = "last login" if state.last_login else "created and never logged in"
        out.append(
            Finding(
                type="dormant",
                system=system,
                account=state.username,
                entitlement=None,
                why=f"{what} {(now - seen).days} days ago",
                since=_iso(seen),
                action="disable",
            )
        )
    return out


class _Differences:
    """(held, wanted) -> (held beyond wanted, wanted not held), both sorted, remembered.

    Connectors and the policy share one set among people alike, so a sweep
    meets a few hundred pairs, not one per account; comparing sets of
    `Entitlement` (a dataclass: hashing and equality run in Python) was a
    sixth of judging an account.
    """

    KEPT = 10_000  # sets a connector does not share are not worth keeping

    def __init__(self) -> None:
        self._seen: dict[tuple[frozenset[Entitlement], frozenset[Entitlement]], _Pair] = {}

    def __call__(self, held: frozenset[Entitlement], wanted: frozenset[Entitlement]) -> _Pair:
        found = self._seen.get((held, wanted))
        if found is None:
            found = (tuple(sorted(held - wanted)), tuple(sorted(wanted - held)))
            if len(self._seen) >= self.KEPT:
                self._seen.clear()
            self._seen[held, wanted] = found
        return found


_Pair = tuple[tuple[Entitlement, ...], tuple[Entitlement, ...]]


def _identity_findings(
    person: Identity,
    identities: Mapping[str, Identity],
    policy: Policy,
    held: Mapping[str, frozenset[Entitlement]],
    today: date,
) -> list[Finding]:
    out: list[Finding] = []
    if person.status != "active":
        return out
    if person.third_party and person.end_date and person.end_date < today:
        out.append(
            Finding(
                type="expired",
                system=None,
                account=person.username,
                entitlement=None,
                why=f"{person.kind} past their end date",
                since=person.end_date.isoformat(),
                action="terminate",
            )
        )
    if person.third_party:
        owner = identities.get(person.owner) if person.owner else None
        if owner is None or owner.status != "active":
            why = "no owner" if not person.owner else f"owner {person.owner} is not an active employee"
            out.append(
                Finding(
                    type="unowned_third_party",
                    system=None,
                    account=person.username,
                    entitlement=None,
                    why=why,
                    since=None,
                    action="review",
                )
            )
    roles = held_roles(policy, held)
    for rule in policy.violations(roles):
        out.append(
            Finding(
                type="sod_conflict",
                system=None,
                account=person.username,
                entitlement=None,
                why=f"holds {' + '.join(sorted(rule.roles))}, forbidden together by {rule.name}",
                since=None,
                action="review",
            )
        )
    return out


def _hold_conflict(hold: Hold) -> Finding:
    """A person terminated outside HR whom HR's feed still lists active: someone must decide."""
    return Finding(
        type="termination_hold_conflict",
        system=None,
        account=hold.username,
        entitlement=None,
        why=f"{hold.terminated()}; HR still lists them active (seen by a sync since "
        f"{_iso(hold.conflict_since)}): have HR terminate them, or lift the hold with `iam reinstate`",
        since=_iso(hold.placed_at),
        action="review",
    )
