"""The badge connector: iam's contract over any PACS driver.

Termination here is physical: every badge that can open a door is set to the
terminated status with its deactivation moved to now, and every access level
assignment the cardholder holds on any badge is removed, found by reading.
Rules that hold whatever the vendor:

- people are matched by one configured key field, never by name; two
  cardholders with that key stop the system (`AmbiguousAccount`);
- a badge is deactivated, never deleted: deletion loses its door history;
- a Lost or Stolen mark is evidence and is never overwritten (such a badge
  opens nothing already; its access levels are still removed);
- a badge counts as active while its status is the active one, even past its
  deactivation date: editing one date would bring it back;
- a person with an HR end date (a contractor, a vendor) has every active,
  unmarked badge deactivate when that date ends, whoever enrolled the badge,
  and follows the date when HR moves it, earlier or later; without an end
  date iam leaves badge dates alone (sites expire badges for renewal);
- following a date never revives a badge already past its own deactivation
  (like `enable`: a card is reissued, never revived), and never writes a
  deactivation in the past: an end date HR gives after it has passed stops
  the badges now, and the leaver event that date makes terminates them;
- time comes from the injected ``now``.

Where a PACS holds access levels on the person rather than on badges
(Seam's access groups), a level is granted to the person whether or not a
badge exists yet and read from the person. Where it has a person-level
switch and schedule (Seam's suspend and ``access_schedule``), disabling
suspends the person (reversible: `enable` lifts it; a removed credential is
never revived), termination suspends first, and an HR end date moves the
person's schedule, under the same rules as a badge's date.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from iam.connectors.badge.model import (
    Assignment,
    Badge,
    BadgeDriver,
    Cardholder,
    NewBadge,
    NewCardholder,
)
from iam.connectors.badge.settings import BadgePolicy

from iam import contract, errors
from iam.model import AccountState, Credential, Entitlement, Outcome, Result

ACCESS_LEVEL = "access-level"
BADGE = "badge"
#: The key under which a person's own access schedule follows HR's end date (PACS with a person switch).
SCHEDULE = "access_schedule"
_NO_ACCOUNT = Result(Outcome.ABSENT, "no cardholder")
_NOT_HELD = Result(Outcome.UNCHANGED, "not held")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class BadgeConnector(
    contract.Connector,
    contract.Readable,
    contract.Creatable,
    contract.Updatable,
    contract.Entitling,
    contract.Disableable,
    contract.CredentialRevocable,
    contract.Terminable,
):
    """One PACS site through one driver; vendor subclasses build the driver and declare settings."""

    def __init__(
        self,
        name: str,
        settings: Mapping[str, Any] | BadgePolicy,
        driver: BadgeDriver,
        policy: BadgePolicy,
        now: Callable[[], datetime],
    ) -> None:
        super().__init__(name, settings)
        self.driver = driver
        self.policy = policy
        self.now = now

    def close(self) -> None:
        self.driver.close()

    def check(self) -> str:
        site = self.driver.site()
        self.driver.prove_readable()
        known = {s.casefold() for s in self.driver.status_names()}
        for status in (
            self.policy.active_status,
            self.policy.terminated_status,
            self.policy.suspended_status,
        ):
            if status and status.casefold() not in known:
                raise errors.InvalidAttribute(
                    f"badge status {status!r} does not exist at {site.url}; "
                    "set active_status / terminated_status / suspended_status to names the site defines",
                    system=self.name,
                )
        return (
            f"{site.product} {site.version} at {site.url}: people matched by {self.policy.match_key}, "
            f"leavers' badges set to {self.policy.terminated_status!r}"
        )

    # matching and reading -----------------------------------------------------------------------

    def key_value(self, username: str) -> str:
        """The ``match_key`` value that is ``username``'s; a vendor may derive it (an e-mail domain)."""
        return username

    def username_of(self, value: str) -> str:
        """The username a ``match_key`` value belongs to (the inverse of `key_value`), for bulk reads."""
        return value

    def _cardholder(self, username: str) -> Cardholder | None:
        """The one cardholder whose key field is ``username``'s; two are never guessed between."""
        if not username.strip():
            return None
        key, value = self.policy.match_key, self.key_value(username.strip())
        found = self.driver.find_cardholders(key, value)
        exact = [c for c in found if c.value(key).strip().casefold() == value.casefold()]
        if len(exact) > 1:
            ids = ", ".join(sorted(c.id for c in exact))
            raise errors.AmbiguousAccount(
                f"{len(exact)} cardholders (ids {ids}) have {key} = {value!r}; "
                "nothing was changed: merge or correct them in the PACS",
                system=self.name,
            )
        return exact[0] if exact else None

    def _is_active(self, badge: Badge) -> bool:
        return badge.status.casefold() == self.policy.active_status.casefold()

    def _is_suspended(self, badge: Badge) -> bool:
        """Stopped by a disable (`iam suspend`) with ``suspended_status``: the restore revives it."""
        wanted = self.policy.suspended_status
        return wanted is not None and badge.status.casefold() == wanted.casefold()

    def _is_lost(self, badge: Badge) -> bool:
        return badge.status.casefold() in {s.casefold() for s in self.policy.lost_statuses}

    def _follows_end(self, badge: Badge) -> bool:
        """Active, unmarked, and not already past its own deactivation (a date edit would revive it)."""
        live = badge.deactivate is None or badge.deactivate > self.now()
        return self._is_active(badge) and not self._is_lost(badge) and live

    def _person_follows_end(self, holder: Cardholder) -> bool:
        """Not suspended, and the person's schedule not already over (a date edit would revive it)."""
        live = holder.access_ends is None or holder.access_ends > self.now()
        return holder.suspended is False and live

    def _ends(self, holder: Cardholder, badges: list[Badge]) -> dict[str, str | None]:
        """What an HR end date moves: the person's schedule, or the end of each badge that follows."""
        if self.driver.traits.person_switch:
            if not self._person_follows_end(holder):
                return {}
            return {SCHEDULE: holder.access_ends.isoformat() if holder.access_ends else None}
        return {
            b.key: b.deactivate.isoformat() if b.deactivate else None for b in badges if self._follows_end(b)
        }

    def _assignments(self, holder: Cardholder, badges: list[Badge]) -> list[Assignment]:
        if self.driver.traits.levels_on == "cardholder":
            return self.driver.holder_assignments(holder)
        return [a for b in badges for a in self.driver.assignments_of(b)]

    def _credential(self, badge: Badge) -> Credential:
        detail = f"card {badge.number}, status {badge.status}"
        if badge.deactivate is not None:
            detail += f", deactivates {badge.deactivate.isoformat()}"
        return Credential(BADGE, badge.key, active=self._is_active(badge), detail=detail)

    def _state(
        self, username: str, holder: Cardholder, badges: list[Badge], assignments: list[Assignment]
    ) -> AccountState:
        credentials = tuple(self._credential(b) for b in sorted(badges, key=lambda b: b.key))
        switched = self.driver.traits.person_switch
        return AccountState(
            system=self.name,
            username=username,
            ref=f"cardholder {holder.id}",
            enabled=not holder.suspended if switched else any(c.active for c in credentials),
            entitlements=frozenset(Entitlement(ACCESS_LEVEL, a.level.name) for a in assignments),
            credentials=credentials,
            attributes={
                "cardholder_id": holder.id,
                "display_name": holder.display_name,
                self.policy.match_key: holder.value(self.policy.match_key),
                "suspended": holder.suspended,
                # badges stopped by a disable, set to suspended_status: a termination still ends them
                "suspended_badges": [b.key for b in badges if self._is_suspended(b)],
                # what an HR end date moves: the person's schedule, or each badge that follows it
                "badge_ends": self._ends(holder, badges),
            },
        )

    def read_account(self, username: str) -> AccountState | None:
        holder = self._cardholder(username)
        if holder is None:
            return None
        badges = self.driver.badges_of(holder)
        return self._state(username, holder, badges, self._assignments(holder, badges))

    def iter_accounts(self) -> Iterator[AccountState]:
        """Three paged scans joined here, not one query per cardholder."""
        badges: dict[str, list[Badge]] = {}
        for badge in self.driver.iter_badges():
            badges.setdefault(badge.cardholder_id, []).append(badge)
        on_holder = self.driver.traits.levels_on == "cardholder"
        held: dict[str, list[Assignment]] = {}
        for assignment in self.driver.iter_assignments():
            held.setdefault(assignment.cardholder_id if on_holder else assignment.badge_key, []).append(
                assignment
            )
        for holder in self.driver.iter_cardholders():
            own = badges.get(holder.id, [])
            value = holder.value(self.policy.match_key)
            key = self.username_of(value) if value else f"cardholder:{holder.id}"
            levels = held.get(holder.id, []) if on_holder else [a for b in own for a in held.get(b.key, [])]
            yield self._state(key, holder, own, levels)

    # creating -----------------------------------------------------------------------------------

    def create_account(self, username: str, attributes: Mapping[str, Any]) -> Result:
        """The cardholder, and a badge when ``badge_id`` is given; ``end_date`` becomes its deactivation
        (or, where the PACS schedules the person, the end of the person's access).

        Cards are usually enrolled at the badging office; iam issues one only
        when the caller knows the card number.
        """
        if self._cardholder(username) is not None:
            return Result(Outcome.UNCHANGED, "cardholder exists")
        number = str(attributes.get("badge_id") or "")
        if number and not self.policy.badge_type:
            raise errors.InvalidAttribute(f"set badge_type to issue badge {number}", system=self.name)
        end = self._end_of(attributes.get("end_date"))  # a bad date is refused before anything is written
        holder = self.driver.create_cardholder(
            NewCardholder(
                key_field=self.policy.match_key,
                key_value=self.key_value(username),
                first_name=str(attributes.get("given_name") or ""),
                last_name=str(attributes.get("family_name") or username),
                email=str(attributes.get("email") or ""),
            )
        )
        created = f"cardholder {holder.id}"
        if end is not None and self.driver.traits.person_switch:  # the person's schedule carries the end
            self.driver.set_access_ends(holder, self._target(end))
            created += f", access until {self._target(end).isoformat()}"
        if not number:
            return Result(Outcome.CREATED, f"{created}, no badge yet")
        badge = self.driver.create_badge(
            holder,
            NewBadge(number, self.policy.badge_type or "", self.policy.active_status, self.now(), end),
        )
        until = f" until {end.isoformat()}" if end else ""
        return Result(Outcome.CREATED, f"{created}, badge {badge.key}{until}")

    def _end_of(self, end_date: Any) -> datetime | None:
        """The last day works through midnight at the site: deactivate at the start of the next."""
        if not end_date:
            return None
        day = _day(end_date)
        if day is None:
            raise errors.InvalidAttribute(
                f"end_date {str(end_date)!r} is not a date (YYYY-MM-DD); nothing was changed",
                system=self.name,
            )
        if day == date.max:  # HR's "no end date" has no day after it: its own midnight, the last one
            return datetime.combine(day, time.min, tzinfo=self.policy.timezone)
        return datetime.combine(day + timedelta(days=1), time.min, tzinfo=self.policy.timezone)

    # following HR's end date --------------------------------------------------------------------

    def attribute_delta(
        self, state: AccountState, attributes: Mapping[str, Any]
    ) -> contract.AttributeDelta | None:
        """The end date, when a badge that follows it would not end where `update_account` puts it."""
        ends = self._end_of(attributes.get("end_date"))
        if ends is None:
            return None  # no HR end date: the site's own badge dates stand
        target = self._target(ends)
        held = state.attributes.get("badge_ends", {})
        if all(d is not None and datetime.fromisoformat(d) == target for d in held.values()):
            return None
        return contract.AttributeDelta(replace={"end_date": [str(attributes["end_date"])]})

    def update_account(self, username: str, delta: contract.AttributeDelta) -> Result:
        """Move each following badge's deactivation to the end of HR's end date, earlier or later.

        Lost, stolen, terminated and already expired badges are never touched.
        """
        ends = self._delta_end(delta)
        holder = self._cardholder(username)
        if holder is None:
            return _NO_ACCOUNT
        target = self._target(ends)
        until = target.isoformat() + ("" if target == ends else " (now: the end date has passed)")
        if self.driver.traits.person_switch:
            return self._follow_with_schedule(holder, target, until)
        following = [b for b in self.driver.badges_of(holder) if self._follows_end(b)]
        moved = [b for b in following if b.deactivate != target]
        for badge in moved:
            self.driver.set_badge(badge, badge.status, target)
        if moved:
            return Result(Outcome.UPDATED, f"badge(s) {_keys(moved)} now end {until}")
        if following:
            return Result(Outcome.UNCHANGED, f"badge(s) {_keys(following)} already end {until}")
        return Result(Outcome.UNCHANGED, "no active, unexpired badge to follow the end date")

    def _follow_with_schedule(self, holder: Cardholder, target: datetime, until: str) -> Result:
        """The person's access schedule ends at ``target``; a suspended person or ended schedule is left."""
        if not self._person_follows_end(holder):
            return Result(Outcome.UNCHANGED, f"cardholder {holder.id} is suspended or their access has ended")
        if holder.access_ends == target:
            return Result(Outcome.UNCHANGED, f"access of cardholder {holder.id} already ends {until}")
        self.driver.set_access_ends(holder, target)
        return Result(Outcome.UPDATED, f"access of cardholder {holder.id} now ends {until}")

    def _target(self, ends: datetime) -> datetime:
        """Where a following badge's deactivation goes: the end, or now once it has passed."""
        return max(ends, self.now())

    def _delta_end(self, delta: contract.AttributeDelta) -> datetime:
        """The one thing a badge follows is ``end_date``: anything else is refused before any change."""
        names = {*delta.add, *delta.remove, *delta.replace}
        values = delta.replace.get("end_date") or []
        if names != {"end_date"} or delta.add or delta.remove or len(values) != 1:
            raise errors.InvalidAttribute(
                f"a badge follows only a replaced end_date, not {sorted(names)}; nothing was changed",
                system=self.name,
            )
        ends = self._end_of(values[0])
        if ends is None:
            raise errors.InvalidAttribute(
                "an empty end_date cannot end a badge (without one, badge dates are left to the site); "
                "nothing was changed",
                system=self.name,
            )
        return ends

    # entitlements -------------------------------------------------------------------------------

    def _level_name(self, entitlement: Entitlement) -> str:
        if entitlement.kind != ACCESS_LEVEL:
            raise errors.InvalidAttribute(
                f"a badge system holds {ACCESS_LEVEL} entitlements, not {entitlement.kind}", system=self.name
            )
        return entitlement.value

    def grant(self, username: str, entitlement: Entitlement) -> Result:
        """The level on every active badge of the person (a second card works the same doors).

        Where levels are held by the person, the person holds it, badge or not yet.
        """
        name = self._level_name(entitlement)
        holder = self._cardholder(username)
        if holder is None:
            return _NO_ACCOUNT
        level = self.driver.access_level(name)
        if level is None:
            raise errors.InvalidAttribute(f"no access level named {name!r} at this site", system=self.name)
        if self.driver.traits.levels_on == "cardholder":
            if level.id in {a.level.id for a in self.driver.holder_assignments(holder)}:
                return Result(Outcome.UNCHANGED, f"held by cardholder {holder.id}")
            self.driver.assign_holder(holder, level)
            return Result(Outcome.UPDATED, f"assigned to cardholder {holder.id}")
        active = [b for b in self.driver.badges_of(holder) if self._is_active(b)]
        if not active:
            raise errors.StateConflict(
                f"cardholder {holder.id} has no active badge to carry access level "
                f"{name!r}; issue a badge first",
                system=self.name,
            )
        missing = [b for b in active if level.id not in {a.level.id for a in self.driver.assignments_of(b)}]
        for badge in missing:
            self.driver.assign(badge, level)
        if not missing:
            return Result(Outcome.UNCHANGED, f"held on {len(active)} badge(s)")
        return Result(Outcome.UPDATED, f"assigned to badge(s) {', '.join(b.key for b in missing)}")

    def revoke(self, username: str, entitlement: Entitlement) -> Result:
        """The level off every badge of the person, whatever the badge's status."""
        name = self._level_name(entitlement).casefold()
        holder = self._cardholder(username)
        if holder is None:
            return _NO_ACCOUNT
        if self.driver.traits.levels_on == "cardholder":
            held = [a for a in self.driver.holder_assignments(holder) if a.level.name.casefold() == name]
            for assignment in held:
                self.driver.unassign_holder(holder, assignment.level)
            return Result(Outcome.UPDATED, f"removed from cardholder {holder.id}") if held else _NOT_HELD
        removed: list[str] = []
        for badge in self.driver.badges_of(holder):
            for assignment in self.driver.assignments_of(badge):
                if assignment.level.name.casefold() == name:
                    self.driver.unassign(badge, assignment.level)
                    removed.append(badge.key)
        if not removed:
            return Result(Outcome.UNCHANGED, "not held")
        return Result(Outcome.UPDATED, f"removed from badge(s) {', '.join(removed)}")

    # badges ---------------------------------------------------------------------------------------

    def _deactivate(self, badge: Badge) -> Result:
        if self._is_lost(badge):
            return Result(Outcome.UNCHANGED, f"badge {badge.key} is marked {badge.status}: mark kept")
        if not self._is_active(badge) and not self._is_suspended(badge):
            return Result(Outcome.UNCHANGED, f"badge {badge.key} is already {badge.status}")
        now = self.now()
        until = now if badge.deactivate is None else min(badge.deactivate, now)  # never extend it
        self.driver.set_badge(badge, self.policy.terminated_status, until)
        return Result(Outcome.UPDATED, f"badge {badge.key} set to {self.policy.terminated_status}")

    def revoke_credential(self, username: str, credential_id: str) -> Result:
        holder = self._cardholder(username)
        if holder is None:
            return _NO_ACCOUNT
        badge = next((b for b in self.driver.badges_of(holder) if b.key == credential_id), None)
        if badge is None:
            return Result(Outcome.ABSENT, f"cardholder {holder.id} has no badge {credential_id}")
        return self._deactivate(badge)

    def disable(self, username: str) -> Result:
        """Every active badge deactivated; where the PACS has a person switch, the person suspended."""
        holder = self._cardholder(username)
        if holder is None:
            return _NO_ACCOUNT
        if self.driver.traits.person_switch:
            if holder.suspended:
                return Result(Outcome.UNCHANGED, f"cardholder {holder.id} is already suspended")
            self.driver.suspend(holder, True)
            return Result(Outcome.UPDATED, f"cardholder {holder.id} suspended")
        active = [b for b in self.driver.badges_of(holder) if self._is_active(b)]
        if not active:
            return Result(Outcome.UNCHANGED, "no active badge")
        if self.policy.suspended_status is not None:
            for badge in active:  # its deactivation date is kept as it is
                self.driver.set_badge(badge, self.policy.suspended_status, None)
            return Result(Outcome.UPDATED, f"badge(s) {_keys(active)} set to {self.policy.suspended_status}")
        results = [self._deactivate(b) for b in active]
        return Result(Outcome.UPDATED, "; ".join(r.detail for r in results))

    def enable(self, username: str) -> Result:
        """`unchanged` while a badge is active; otherwise refused: a badge is reissued, never revived."""
        holder = self._cardholder(username)
        if holder is None:
            return _NO_ACCOUNT
        if self.driver.traits.person_switch:  # lifting a suspension revives no removed credential
            if not holder.suspended:
                return Result(Outcome.UNCHANGED, f"cardholder {holder.id} is not suspended")
            self.driver.suspend(holder, False)
            return Result(Outcome.UPDATED, f"cardholder {holder.id} no longer suspended")
        badges = self.driver.badges_of(holder)
        suspended = [b for b in badges if self._is_suspended(b)]
        for badge in suspended:  # only what a disable suspended: a terminated card is never revived
            self.driver.set_badge(badge, self.policy.active_status, None)
        if suspended:
            return Result(Outcome.UPDATED, f"badge(s) {_keys(suspended)} set to {self.policy.active_status}")
        if any(self._is_active(b) for b in badges):
            return Result(Outcome.UNCHANGED, "has an active badge")
        raise errors.Unsupported(
            f"iam does not reactivate badges (a returned card may have been reissued or "
            f"destroyed); issue cardholder {holder.id} a new badge at the badging office",
            system=self.name,
        )

    # termination ----------------------------------------------------------------------------------

    def termination_steps(self, state: AccountState) -> list[contract.StepSpec]:
        """Each active badge, then each access level found by reading.

        Not the default plan: its `disable` would deactivate every badge at
        once and leave the per-badge steps with nothing to do; one step per
        badge journals which card was stopped, and resumes card by card. Where
        the PACS has a person switch, the person is suspended first: that
        stops every credential at once.
        """
        steps = []
        if self.driver.traits.person_switch and state.attributes.get("suspended") is False:
            steps.append(contract.StepSpec(contract.Op.DISABLE, description="suspend the cardholder"))
        suspended = set(state.attributes.get("suspended_badges") or ())
        steps += [
            contract.StepSpec(contract.Op.REVOKE_CREDENTIAL, c.id, f"deactivate badge {c.id} ({c.detail})")
            for c in state.credentials
            if c.active or c.id in suspended
        ]
        steps += [
            contract.StepSpec(contract.Op.REVOKE, str(e), f"remove access level {e.value}")
            for e in sorted(state.entitlements)
        ]
        return steps


def _keys(badges: list[Badge]) -> str:
    return ", ".join(b.key for b in badges)


def _day(value: Any) -> date | None:
    """HR's YYYY-MM-DD, or a date; None otherwise (`date.fromisoformat` alone also takes 20250310)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    text = str(value)
    try:
        return date.fromisoformat(text) if _ISO_DATE.fullmatch(text) else None
    except ValueError:  # 2025-02-30
        return None
