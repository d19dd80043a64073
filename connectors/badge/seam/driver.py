"""Seam's access control API (``/acs/...``) as a `BadgeDriver`: one access control system of a workspace.

How Seam's model maps onto the badge core's:

- a cardholder is an ``acs_user`` of the configured ``acs_system_id``
  (a Brivo account, a Salto site, an Alta org...); Seam has a person-level
  switch (``is_suspended``) and schedule (``access_schedule``), so the
  driver's traits say ``person_switch``;
- access levels are access groups, held by the person
  (``levels_on="cardholder"``), whether or not a credential exists yet;
- a badge is an ``acs_credential`` (card, code, mobile key). Seam keeps no
  status per credential: one that exists works while its user is not
  suspended, so every credential reads as the policy's active status, and
  setting one to the terminated status deletes it (Seam's only way to
  revoke a credential; the user record, suspended, keeps the history in
  Seam's events). A credential's own dates are never moved: an HR end date
  moves the person's ``access_schedule``, which covers them all.

Every read of the system first proves ``acs_system_id`` is visible to the
API key: Seam lists the users of a system it cannot see as none, which
must never read as "nobody has access".
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from iam.connectors.badge.model import (
    AccessLevel,
    Assignment,
    Badge,
    Cardholder,
    NewBadge,
    NewCardholder,
    Site,
    Traits,
)
from iam.connectors.badge.seam.session import SeamSession

from iam import errors

if TYPE_CHECKING:
    from iam.connectors.badge.seam import SeamSettings

#: The acs_user fields that hold a person's name, refused as match_key.
NAME_FIELDS = ("full_name", "display_name", "first_name", "last_name")
#: Where a new person's key goes when iam creates them.
CREATABLE_KEYS = ("email_address", "phone_number")


def to_wire(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, as Seam's date fields take them."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def from_wire(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class SeamDriver:
    """The ``acs`` routes of one workspace's API key, for one access control system."""

    traits = Traits(levels_on="cardholder", person_switch=True)

    def __init__(self, session: SeamSession, settings: SeamSettings) -> None:
        self.session = session
        self.system_id = settings.acs_system_id
        self.active = settings.active_status
        self.terminated = settings.terminated_status
        self._visible = False

    def close(self) -> None:
        self.session.close()

    # the system -----------------------------------------------------------------------------------

    def _system(self) -> dict[str, Any]:
        try:
            answer = self.session.call(
                f"read access control system {self.system_id}",
                "/acs/systems/get",
                {"acs_system_id": self.system_id},
            )
        except errors.NoSuchObject:
            raise errors.IncompleteRead(
                f"access control system {self.system_id} is not in the API key's workspace: its users "
                "cannot be read, which is not the same as none; set acs_system_id to a system that "
                "/acs/systems/list shows",
                system=self.session.system,
            ) from None
        system = answer.get("acs_system")
        if not isinstance(system, dict):
            raise errors.IncompleteRead(
                f"Seam answered no acs_system for {self.system_id}", system=self.session.system
            )
        self._visible = True
        return system

    def _prove(self) -> None:
        if not self._visible:
            self._system()

    def site(self) -> Site:
        system = self._system()
        kind = system.get("external_type_display_name") or system.get("external_type") or "access system"
        return Site(self.session.url, f"Seam {kind}", str(system.get("name") or self.system_id))

    def status_names(self) -> list[str]:
        """Seam has no credential statuses: the two the rules speak of, exist or removed."""
        return [self.active, self.terminated]

    def prove_readable(self) -> None:
        """One listing of each thing reads look at: a refusal surfaces here, not as "no access"."""
        self._prove()
        scope = {"acs_system_id": self.system_id}
        for route, key in (
            ("/acs/users/list", "acs_users"),
            ("/acs/access_groups/list", "acs_access_groups"),
            ("/acs/credentials/list", "acs_credentials"),
        ):
            next(self.session.listing(f"prove {route} can be read", route, key, scope), None)

    # people ---------------------------------------------------------------------------------------

    def _cardholder(self, user: Mapping[str, Any]) -> Cardholder:
        schedule = user.get("access_schedule") or {}
        return Cardholder(
            id=str(user.get("acs_user_id")),
            fields=dict(user),
            last_name=str(user.get("full_name") or user.get("display_name") or ""),
            suspended=bool(user.get("is_suspended")),
            access_ends=from_wire(schedule.get("ends_at")) if isinstance(schedule, dict) else None,
        )

    def _users(self, what: str) -> Iterator[Cardholder]:
        self._prove()
        users = self.session.listing(what, "/acs/users/list", "acs_users", {"acs_system_id": self.system_id})
        return (self._cardholder(u) for u in users)

    def find_cardholders(self, field_name: str, value: str) -> list[Cardholder]:
        """Seam filters users by system only: the match is made here, on every user of the system."""
        users = self._users(f"list the users of {self.system_id} to find {field_name} {value}")
        return [c for c in users if c.value(field_name).strip().casefold() == value.casefold()]

    def iter_cardholders(self) -> Iterator[Cardholder]:
        return self._users(f"list the users of {self.system_id}")

    def suspend(self, cardholder: Cardholder, suspended: bool) -> None:
        route = "/acs/users/suspend" if suspended else "/acs/users/unsuspend"
        verb = "suspend" if suspended else "unsuspend"
        self.session.call(f"{verb} user {cardholder.id}", route, {"acs_user_id": cardholder.id})

    def set_access_ends(self, cardholder: Cardholder, ends: datetime) -> None:
        """Seam's schedule needs a start too: the one it has, else when the user was created."""
        schedule = cardholder.fields.get("access_schedule") or {}
        began = from_wire(schedule.get("starts_at") or cardholder.fields.get("created_at")) or ends
        starts = to_wire(min(began, ends))
        body = {
            "acs_user_id": cardholder.id,
            "access_schedule": {"starts_at": starts, "ends_at": to_wire(ends)},
        }
        self.session.call(
            f"end the access of user {cardholder.id} at {to_wire(ends)}", "/acs/users/update", body
        )

    def create_cardholder(self, new: NewCardholder) -> Cardholder:
        if new.key_field not in CREATABLE_KEYS:
            raise errors.InvalidAttribute(
                f"iam can create Seam users matched by {' or '.join(CREATABLE_KEYS)}, not {new.key_field}",
                system=self.session.system,
            )
        body: dict[str, Any] = {
            "acs_system_id": self.system_id,
            "full_name": " ".join(p for p in (new.first_name, new.last_name) if p) or new.key_value,
            new.key_field: new.key_value,
        }
        if new.email and new.key_field != "email_address":
            body["email_address"] = new.email
        answer = self.session.call(
            f"create the user with {new.key_field} {new.key_value}", "/acs/users/create", body
        )
        return self._cardholder(answer.get("acs_user") or {})

    # credentials ----------------------------------------------------------------------------------

    def _badge(self, credential: Mapping[str, Any]) -> Badge:
        number = credential.get("card_number") or credential.get("code") or credential.get("display_name")
        return Badge(
            key=str(credential.get("acs_credential_id")),
            number=str(number or credential.get("access_method") or ""),
            cardholder_id=str(credential.get("acs_user_id")),
            status=self.active,
            activate=from_wire(credential.get("starts_at")),
            deactivate=from_wire(credential.get("ends_at")),
        )

    def badges_of(self, cardholder: Cardholder) -> list[Badge]:
        found = self.session.listing(
            f"list the credentials of user {cardholder.id}",
            "/acs/credentials/list",
            "acs_credentials",
            {"acs_user_id": cardholder.id},
        )
        return [self._badge(c) for c in found]

    def iter_badges(self) -> Iterator[Badge]:
        self._prove()
        found = self.session.listing(
            f"list the credentials of {self.system_id}",
            "/acs/credentials/list",
            "acs_credentials",
            {"acs_system_id": self.system_id},
        )
        return (self._badge(c) for c in found)

    def set_badge(self, badge: Badge, status: str, deactivate: datetime | None) -> None:
        """The terminated status removes the credential; Seam has no other status to give one."""
        if status.casefold() != self.terminated.casefold():
            raise errors.Unsupported(
                f"Seam credentials have no status {status!r}; the person's access schedule carries end dates",
                system=self.session.system,
            )
        with contextlib.suppress(errors.NoSuchObject):  # removed meanwhile: the outcome asked for
            self.session.call(
                f"remove credential {badge.key}", "/acs/credentials/delete", {"acs_credential_id": badge.key}
            )

    def create_badge(self, cardholder: Cardholder, new: NewBadge) -> Badge:
        body: dict[str, Any] = {"acs_user_id": cardholder.id, "access_method": new.badge_type}
        body["card_number" if new.badge_type == "card" else "code"] = new.number
        if new.activate is not None and new.deactivate is not None:
            body.update(starts_at=to_wire(new.activate), ends_at=to_wire(new.deactivate))
        answer = self.session.call(
            f"issue a credential to user {cardholder.id}", "/acs/credentials/create", body
        )
        return self._badge(answer.get("acs_credential") or {})

    # access groups --------------------------------------------------------------------------------

    def _level(self, group: Mapping[str, Any]) -> AccessLevel:
        return AccessLevel(str(group.get("acs_access_group_id")), str(group.get("name") or ""))

    def _groups(self) -> list[dict[str, Any]]:
        self._prove()
        return list(
            self.session.listing(
                f"list the access groups of {self.system_id}",
                "/acs/access_groups/list",
                "acs_access_groups",
                {"acs_system_id": self.system_id},
            )
        )

    def holder_assignments(self, cardholder: Cardholder) -> list[Assignment]:
        groups = self.session.listing(
            f"list the access groups of user {cardholder.id}",
            "/acs/access_groups/list",
            "acs_access_groups",
            {"acs_user_id": cardholder.id},
        )
        return [Assignment(self._level(g), "", cardholder.id) for g in groups]

    def iter_assignments(self) -> Iterator[Assignment]:
        for group in self._groups():
            level = self._level(group)
            members = self.session.listing(
                f"list the users of access group {level.name}",
                "/acs/access_groups/list_users",
                "acs_users",
                {"acs_access_group_id": level.id},
            )
            yield from (Assignment(level, "", str(u.get("acs_user_id"))) for u in members)

    def access_level(self, name: str) -> AccessLevel | None:
        named = [g for g in self._groups() if str(g.get("name") or "").casefold() == name.casefold()]
        if len(named) > 1:
            raise errors.InvalidAttribute(
                f"{len(named)} access groups are named {name!r} in {self.system_id}; rename one in the PACS",
                system=self.session.system,
            )
        return self._level(named[0]) if named else None

    def assign_holder(self, cardholder: Cardholder, level: AccessLevel) -> None:
        body = {"acs_user_id": cardholder.id, "acs_access_group_id": level.id}
        self.session.call(
            f"add user {cardholder.id} to access group {level.name}", "/acs/users/add_to_access_group", body
        )

    def unassign_holder(self, cardholder: Cardholder, level: AccessLevel) -> None:
        body = {"acs_user_id": cardholder.id, "acs_access_group_id": level.id}
        self.session.call(
            f"remove user {cardholder.id} from access group {level.name}",
            "/acs/users/remove_from_access_group",
            body,
        )

    # what Seam does not have ------------------------------------------------------------------------

    def _per_badge(self) -> errors.Unsupported:
        return errors.Unsupported(
            "Seam holds access groups on the user, not on credentials", system=self.session.system
        )

    def assignments_of(self, badge: Badge) -> list[Assignment]:
        raise self._per_badge()

    def assign(self, badge: Badge, level: AccessLevel) -> None:
        raise self._per_badge()

    def unassign(self, badge: Badge, level: AccessLevel) -> None:
        raise self._per_badge()
