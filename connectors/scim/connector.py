"""A SaaS application through SCIM 2.0 (RFC 7643/7644): users, groups, ``active``.

Termination is ``active: false`` (read back: a service that accepts the
switch but does not keep it has not disabled anyone), then removal from
every group that lists the person, found by reading every group rather
than trusting the User's own ``groups`` alone. Accounts are deleted only by
the retention step (`delete_account`), never by a termination.

How it writes follows the service's ``ServiceProviderConfig``: PATCH where
supported, else GET and PUT of the whole resource; a filter
(``userName eq "..."``, escaped) where supported, else a paged listing
compared here (also when a case-exact filter, on ``externalId``, finds
nobody); ``If-Match`` with the version read where the service keeps ETags,
so a change made in between is refused (a retry reads again) rather than
overwritten. Bulk is never used.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx
from iam.connectors.scim import resources as res
from iam.connectors.scim.session import Answer, ScimSession
from iam.connectors.scim.settings import ScimSettings

from iam import contract, errors
from iam.model import AccountState, Entitlement, Outcome, Result

GROUP = "group"
_NO_ACCOUNT = Result(Outcome.ABSENT, "no such user")


class ScimConnector(
    contract.Connector,
    contract.Readable,
    contract.Creatable,
    contract.Entitling,
    contract.Disableable,
    contract.Terminable,
    contract.Deletable,
):
    """One application's SCIM endpoint; ``transport`` (httpx's) is for embedding."""

    settings_model = ScimSettings
    settings: ScimSettings

    def __init__(
        self,
        name: str,
        settings: Mapping[str, Any] | ScimSettings,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(name, settings)
        self.session = ScimSession(name, self.settings, transport)
        self.key = self.settings.username_attribute

    def close(self) -> None:
        self.session.close()

    def check(self) -> str:
        features = self.session.features()
        for resource in ("Users", "Groups"):
            next(self.session.listing(f"prove {resource} can be listed", resource), None)
        return f"SCIM at {self.session.url}: {features.describe()}; people matched by {self.key}"

    # reading ------------------------------------------------------------------------------------------

    def _user(self, username: str) -> dict[str, Any] | None:
        """The one User whose username attribute is ``username``, compared without regard to case.

        A service's filter compares ``externalId`` (and every attribute here but
        ``userName``) case-exactly (RFC 7643 §3.1), so a filter that finds nobody
        is confirmed by the listing compared here: "Carol" must not read as no
        account for "carol" on one service and be found on one that cannot filter.
        """
        if not username.strip():
            return None
        if self.session.features().filter:
            found = self.session.listing(
                f"find the user {username}", "Users", filter_=f"{self.key} eq {res.literal(username)}"
            )
            exact = self._named(username, found)
            if exact or self.key.casefold() == "username":
                return self._one(username, exact)
        listed = self.session.listing(f"list users to find {username}", "Users")
        return self._one(username, self._named(username, listed))

    def _named(self, username: str, users: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return [u for u in users if res.text(u, self.key).casefold() == username.casefold()]

    def _one(self, username: str, exact: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The user, or None; two are never guessed between."""
        if len(exact) > 1:
            ids = ", ".join(sorted(res.text(u, "id") for u in exact))
            raise errors.AmbiguousAccount(
                f"{len(exact)} users (ids {ids}) have {self.key} = {username!r}; nothing was changed: "
                "merge or correct them in the application",
                system=self.name,
            )
        return exact[0] if exact else None

    def _groups(self) -> list[dict[str, Any]]:
        return list(self.session.listing("list groups", "Groups"))

    def _state(self, username: str, user: Mapping[str, Any], groups: list[dict[str, Any]]) -> AccountState:
        uid = res.text(user, "id")
        held = {res.group_name(g) for g in groups if uid in res.member_ids(g)}
        # the User's own read-only list as well: a group iam could not list must not be missed
        for ref in res.attribute(user, "groups") or []:
            if isinstance(ref, dict) and ref.get("value") is not None:
                known = [g for g in groups if res.text(g, "id") == str(ref["value"])]
                held.add(res.group_name(known[0]) if known else str(ref.get("display") or ref["value"]))
        active = res.attribute(user, "active")
        return AccountState(
            system=self.name,
            username=username,
            ref=f"User {uid}",
            enabled=active is not False,
            entitlements=frozenset(Entitlement(GROUP, g) for g in held),
            attributes={"id": uid, "userName": res.text(user, "userName"), "active": active},
            disable_ineffective="" if active is not None else "the service does not say the user is inactive",
        )

    def read_account(self, username: str) -> AccountState | None:
        user = self._user(username)
        if user is None:
            return None
        return self._state(username, user, self._groups())

    def iter_accounts(self) -> Iterator[AccountState]:
        """Two paged listings joined here, not one query per user."""
        groups = self._groups()
        for user in self.session.listing("list users", "Users"):
            username = res.text(user, self.key) or f"scim:{res.text(user, 'id')}"
            yield self._state(username, user, groups)

    # writing users ----------------------------------------------------------------------------------

    def create_account(self, username: str, attributes: Mapping[str, Any]) -> Result:
        if self._user(username) is not None:
            return Result(Outcome.UNCHANGED, "user exists")
        body = res.new_user(username, self.key, attributes)
        created = self.session.call(f"create the user {username}", "POST", "/Users", body=body).body
        return Result(Outcome.CREATED, f"User {res.text(created, 'id')}")

    def _reread(self, what: str, kind: str, rid: str) -> Answer:
        return self.session.call(what, "GET", f"/{kind}/{quote(rid, safe='')}")

    def _set_active(self, username: str, active: bool) -> Result:
        user = self._user(username)
        if user is None:
            return _NO_ACCOUNT
        uid = res.text(user, "id")
        if res.attribute(user, "active") is active:
            return Result(Outcome.UNCHANGED, f"User {uid} already {'active' if active else 'inactive'}")
        what = f"set {username} active: {str(active).lower()}"
        features = self.session.features()
        current = self._reread(f"read the user {username}", "Users", uid)
        if_match = current.etag if features.etag else None
        if features.patch:
            body = res.patch({"op": "replace", "path": "active", "value": active})
            self.session.call(what, "PATCH", f"/Users/{quote(uid, safe='')}", body=body, if_match=if_match)
        else:
            body = {**res.for_put(current.body), "active": active}
            self.session.call(what, "PUT", f"/Users/{quote(uid, safe='')}", body=body, if_match=if_match)
        after = res.attribute(self._reread(f"read {username} back", "Users", uid).body, "active")
        if after is not active:
            raise errors.Unsupported(
                f"{what}: the service accepted it but answers active: {after!r}: it does not keep the "
                "switch, so nobody was disabled; remove the person's access in the application itself",
                system=self.name,
            )
        return Result(Outcome.UPDATED, f"User {uid} {'active' if active else 'inactive'}")

    def disable(self, username: str) -> Result:
        """``active: false``, then read back: a switch the service does not keep is an error."""
        return self._set_active(username, False)

    def enable(self, username: str) -> Result:
        return self._set_active(username, True)

    def delete_account(self, username: str) -> Result:
        """The retention step: DELETE /Users/{id}; never part of a termination."""
        user = self._user(username)
        if user is None:
            return _NO_ACCOUNT
        uid = res.text(user, "id")
        try:
            self.session.call(f"delete the user {username}", "DELETE", f"/Users/{quote(uid, safe='')}")
        except errors.NoSuchObject:
            return Result(Outcome.ABSENT, f"User {uid} was already gone")
        return Result(Outcome.UPDATED, f"User {uid} deleted")

    # groups -------------------------------------------------------------------------------------------

    def _group(self, value: str) -> dict[str, Any]:
        """The group policy names, by displayName (or id); refused when none or two match."""
        if self.session.features().filter:
            found = list(
                self.session.listing(
                    f"find the group {value}", "Groups", filter_=f"displayName eq {res.literal(value)}"
                )
            )
        else:
            found = self._groups()
        named = [g for g in found if res.text(g, "displayName").casefold() == value.casefold()]
        if len(named) > 1:
            raise errors.InvalidAttribute(
                f"{len(named)} groups are named {value!r}; name the group by its id in policy",
                system=self.name,
            )
        if named:
            return named[0]
        try:
            return self._reread(f"read the group {value}", "Groups", value).body
        except (errors.NoSuchObject, errors.InvalidAttribute):
            raise errors.InvalidAttribute(
                f"no group named {value!r} (displayName or id) in the application", system=self.name
            ) from None

    def _group_value(self, entitlement: Entitlement) -> str:
        if entitlement.kind != GROUP:
            raise errors.InvalidAttribute(
                f"a SCIM application holds {GROUP} entitlements, not {entitlement.kind}", system=self.name
            )
        return entitlement.value

    def _membership(self, username: str, entitlement: Entitlement, add: bool) -> Result:
        value = self._group_value(entitlement)
        user = self._user(username)
        if user is None:
            return _NO_ACCOUNT
        uid, gid = res.text(user, "id"), res.text(self._group(value), "id")
        current = self._reread(f"read the group {value}", "Groups", gid)
        if (uid in res.member_ids(current.body)) == add:
            return Result(Outcome.UNCHANGED, "held" if add else "not held")
        what = f"{'add' if add else 'remove'} {username} {'to' if add else 'from'} group {value}"
        features = self.session.features()
        if_match = current.etag if features.etag else None
        path = f"/Groups/{quote(gid, safe='')}"
        if features.patch:
            op = (
                {"op": "add", "path": "members", "value": [{"value": uid}]}
                if add
                else {"op": "remove", "path": f"members[value eq {res.literal(uid)}]"}
            )
            self.session.call(what, "PATCH", path, body=res.patch(op), if_match=if_match)
        else:
            members = [m for m in res.attribute(current.body, "members") or [] if str(m.get("value")) != uid]
            if add:
                members.append({"value": uid})
            body = {**res.for_put(current.body), "members": members}
            self.session.call(what, "PUT", path, body=body, if_match=if_match)
        return Result(Outcome.UPDATED, f"{'added to' if add else 'removed from'} Group {gid}")

    def grant(self, username: str, entitlement: Entitlement) -> Result:
        return self._membership(username, entitlement, add=True)

    def revoke(self, username: str, entitlement: Entitlement) -> Result:
        return self._membership(username, entitlement, add=False)
