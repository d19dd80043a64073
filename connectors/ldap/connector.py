"""The LDAP connector: accounts, group memberships and complete termination.

Works with OpenLDAP (groupOfNames, groupOfUniqueNames, posixGroup; disabled
with ppolicy's ``pwdAccountLockedTime`` by default) and Active Directory
(``userAccountControl`` ACCOUNTDISABLE, ``member``, and the primary group
held through ``primaryGroupID``). Group memberships are found by searching
every group that names the account, never only those a policy knows. A
disable counts only where the server enforces it (`connectors.ldap.disabling`).
HR's facts are followed through a configured attribute map
(`connectors.ldap.attributes`). Every filter value and DN component is escaped.

A read that could not see everything raises (see `connectors.ldap.session`
and `connectors.ldap.visibility`): a missing or hidden base, or groups whose
members the bind account may not see, never read as "no account" or "no
groups left".
"""

from __future__ import annotations

import functools
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import ldap3
from iam.connectors.ldap.attributes import AttributeMap
from iam.connectors.ldap.disabling import disable_method
from iam.connectors.ldap.lockout import LockoutPolicies
from iam.connectors.ldap.memberships import Memberships
from iam.connectors.ldap.primary_group import PrimaryGroups
from iam.connectors.ldap.session import (
    ALREADY_EXISTS,
    NO_SUCH_ATTRIBUTE,
    NO_SUCH_OBJECT,
    OBJECT_CLASS_VIOLATION,
    UNWILLING_TO_PERFORM,
    VALUE_EXISTS,
    LdapSession,
)
from iam.connectors.ldap.settings import LdapSettings
from iam.connectors.ldap.spellings import Spellings
from iam.connectors.ldap.visibility import GroupVisibility, group_class
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn, safe_dn, to_dn

from iam import contract, errors
from iam.dn import first_ava
from iam.dn import norm as _norm
from iam.dn import same as _same_dn
from iam.dn import under as _under
from iam.dn import within as _within
from iam.model import AccountState, Entitlement, Outcome, Result

LOCKED_PASSWORD_PREFIX = "{CRYPT}!"  # crypt() never yields "!": no password matches
#: How long an entry just read or written is trusted by the next step instead of searching again.
RECENT_SECONDS = 30.0
#: How long a proof that the groups are all visible holds before a read proves it again.
PROOF_SECONDS = 60.0

#: Groups asked for a page at a time in a bulk read (at most; a smaller ``page_size`` wins). A
#: group entry carries every member's DN: 500 groups of a 100,000-person directory came as one
#: page of some 300,000 values, which ldap3 decodes whole (most of the read's peak memory).
GROUPS_A_PAGE = 50

_MEMBER_ATTRS = {
    "groupofnames": "member",
    "groupofuniquenames": "uniquemember",
    "posixgroup": "memberuid",
    "group": "member",
}


class LdapConnector(
    contract.Connector,
    contract.Readable,
    contract.Creatable,
    contract.Updatable,
    contract.Entitling,
    contract.Disableable,
    contract.PasswordLockable,
    contract.Archivable,
    contract.Terminable,
    contract.Deletable,
):
    """An LDAP directory reached with ldap3."""

    settings_model = LdapSettings
    settings: LdapSettings

    def __init__(
        self,
        name: str,
        settings: Mapping[str, Any] | LdapSettings,
        connection_factory: Callable[[], ldap3.Connection] | None = None,
    ) -> None:
        super().__init__(name, settings)
        s = self.settings
        self.flavor = s.flavor
        self.base_dn = s.base_dn
        self.users_dn = s.users_dn
        self.groups_dn = s.groups_dn
        self.leavers_dn = s.leavers_dn
        self.user_attr = s.user_attribute
        self.user_class = s.user_object_class
        self.disable_cfg = s.disable
        self.placeholder = s.empty_group_member
        self.page_size = s.page_size
        self.last_login_attr = s.last_login_attribute
        self.session = LdapSession(name, s, connection_factory)
        self.lockout = LockoutPolicies(
            self.session,
            self.base_dn,
            self._class_filter(),
            self.disable_cfg.policy_dn,
            self.page_size,
        )
        probe = (self.users_dn, self.user_class, self.user_attr) if self.flavor != "ad" else None
        self.disabling = disable_method(self.disable_cfg, self.session, self.lockout, probe)
        self.primary = PrimaryGroups(self.session, s.primary_group_rid)
        self.attribute_map = AttributeMap(s.attributes)
        self._group_attr: dict[str, str] = {}
        self.spellings = Spellings(name)
        self._dns: dict[str, str] = {}
        #: Each account's entry as last read or written, and when: a termination's steps act on what
        #: the plan just read instead of searching again (the read-back judges the result).
        self._entries: dict[str, tuple[float, dict[str, Any]]] = {}
        self._cache_lock = threading.Lock()
        group_classes = (
            ["group"] if self.flavor == "ad" else ["groupofnames", "groupofuniquenames", "posixgroup"]
        )
        self._visibility = GroupVisibility(self.session, self.groups_dn, group_classes, self.page_size)
        #: When the groups were last proven visible (`_groups_visible`); None: not yet.
        self._groups_proven_at: float | None = None
        self.clock: Callable[[], float] = time.monotonic
        self._reach: bool | None = None  # see `_groups_in_reach`
        self._groups_top: str | None = None

    # base -------------------------------------------------------------------

    def use_spellings(self, named: Iterable[Entitlement]) -> None:
        self.spellings.learn(named)

    def spelt(self, entitlement: Entitlement) -> Entitlement:
        return self.spellings.group(entitlement.value) if entitlement.kind == "group" else entitlement

    def check(self) -> str:
        places = self._check_places()
        groups = self._visibility.prove()
        who = self.session.bind_dn or "anonymous"
        described = (
            f"bound to {self.session.url} as {who}; {places} readable; {groups}; {self.prove_disable()}"
        )
        return described + self._class_note()

    def _class_note(self) -> str:
        """A ``user_object_class`` the accounts match but do not list (a parent class such as
        ``person``): every read then takes the long way (three searches, not one)."""
        one = self.session.first(
            self.users_dn,
            self._user_filter(),
            ["objectClass"],
            setting="users_dn",
            what="read an account's classes",
        )
        classes = [] if one is None else one["attrs"].get("objectclass", [])
        if one is None or not classes or self.user_class.lower() in {c.lower() for c in classes}:
            return ""  # no account yet, or its classes unreadable: nothing to say
        return (
            f"; note: accounts match user_object_class {self.user_class} but do not list it "
            f"({one['dn']} lists {', '.join(classes)}), so each read takes three searches instead of one: "
            "name the class they list"
        )

    def _check_places(self) -> str:
        """Every DN the settings name exists and is visible to the bind account; names them."""
        given = self.settings.model_fields_set | {"base_dn"}  # users_dn and groups_dn default to it
        named = [k for k in ("base_dn", "users_dn", "groups_dn", "leavers_dn", "archive_dn") if k in given]
        named = [k for k in named if getattr(self.settings, k)]
        for key in named:
            self._check_place(key)
        # Named here, before another read meets it. The filter matches no account or group:
        # a server sends the continuation references below the base whatever the filter.
        self.session.search(
            self.base_dn,
            "(objectClass=referral)",
            ["1.1"],
            setting="base_dn",
            page_size=self.page_size,
            what="look for parts of base_dn another server holds",
        )
        return ", ".join(named)

    def _check_place(self, key: str, attributes: tuple[str, ...] = ("1.1",)) -> dict[str, Any]:
        """The entry the setting ``key`` names, as the server gives it: it exists and the bind
        account sees it, or `IncompleteRead`."""
        dn = getattr(self.settings, key)
        what = f"read {key}"
        return self.session.search(
            dn, "(objectClass=*)", list(attributes), setting=key, scope=ldap3.BASE, what=what
        )[0]

    def _groups_visible(self) -> None:
        """Prove that group reads see every group and member (`visibility`), again once the proof
        is `PROOF_SECONDS` old: ``iam serve`` keeps one connector for days, while an ACL or a new
        branch below ``groups_dn`` can start hiding members at any time. How one search from
        ``base_dn`` reaches the groups (`_groups_in_reach`) is proven again with it."""
        now = self.clock()
        with self._cache_lock:
            if self._groups_proven_at is not None and now - self._groups_proven_at < PROOF_SECONDS:
                return
        self._visibility.prove()
        with self._cache_lock:
            self._groups_proven_at = now
            self._reach = None

    def prove_disable(self) -> str:
        """Why this directory enforces the configured disable; raises naming the fix when it would not."""
        return self.disabling.prove()

    def close(self) -> None:
        self.session.close()

    # reading ------------------------------------------------------------------

    def _class_filter(self) -> str:
        # In AD computer accounts are users too (computer derives from user): people only.
        category = "(objectCategory=person)" if self.flavor == "ad" else ""
        return f"(objectClass={escape_filter_chars(self.user_class)}){category}"

    def _user_filter(self, username: str | None = None) -> str:
        value = "*" if username is None else escape_filter_chars(username)
        return f"(&{self._class_filter()}({self.user_attr}={value}))"

    def _user_attributes(self) -> list[str]:
        attrs = [
            self.user_attr,
            "cn",
            "mail",
            "userPassword",
            self.last_login_attr,
            "whenCreated" if self.flavor == "ad" else "createTimestamp",
            *self.disabling.read_attributes(),
            *self.attribute_map.read_attributes(),
            *(PrimaryGroups.read_attributes if self.flavor == "ad" else ()),
        ]
        return list(dict.fromkeys(a for a in attrs if a))

    def _find_user(self, username: str) -> dict[str, Any] | None:
        found = self.session.search(
            self.base_dn,
            self._user_filter(username),
            self._user_attributes(),
            setting="base_dn",
            what=f"look up {username}",
        )
        if len(found) > 1:
            raise self._ambiguous(username, found)
        if not found:
            self._forget_account(username)
            return None
        self._found(username, found[0])
        return found[0]

    def _ambiguous(self, username: str, entries: list[dict[str, Any]]) -> errors.AmbiguousAccount:
        dns = ", ".join(e["dn"] for e in entries)
        return errors.AmbiguousAccount(f"{len(entries)} entries have {self.user_attr}={username}: {dns}")

    def _found(self, username: str, entry: dict[str, Any]) -> None:
        with self._cache_lock:
            self._dns[username] = entry["dn"]
        self._remember(username, entry)

    def _forget_account(self, username: str) -> None:
        with self._cache_lock:
            self._dns.pop(username, None)
            self._entries.pop(username, None)

    def _remember(self, username: str, entry: dict[str, Any]) -> None:
        """Keep ``entry`` for the next step; entries past `RECENT_SECONDS` are dropped, so a
        long-lived process (``iam serve``, a schedule) holds only the last moments' reads."""
        now = time.monotonic()
        with self._cache_lock:
            self._entries.pop(username, None)  # re-inserted last: the dict stays oldest first
            self._entries[username] = (now, entry)
            while now - next(iter(self._entries.values()))[0] >= RECENT_SECONDS:
                del self._entries[next(iter(self._entries))]

    def _recent_entry(self, username: str) -> dict[str, Any] | None:
        """The entry a moment ago (the plan's read, or the last step's write), else read it now."""
        with self._cache_lock:
            seen = self._entries.get(username)
        if seen is not None and time.monotonic() - seen[0] < RECENT_SECONDS:
            return seen[1]
        return self._find_user(username)

    def _wrote(self, username: str, entry: dict[str, Any], attrs: Mapping[str, list[str]]) -> None:
        """Keep what a step wrote in the remembered entry, for the next step of the same termination."""
        self._remember(username, {**entry, "attrs": {**entry["attrs"], **attrs}})

    def _dn(self, username: str) -> str | None:
        with self._cache_lock:
            cached = self._dns.get(username)
        if cached:
            return cached
        entry = self._find_user(username)
        return entry["dn"] if entry else None

    def _group_filter(self, dn: str, names: Sequence[str]) -> str:
        """Groups naming the account ``dn`` (or, for posixGroup, one of its ``names``)."""
        edn = escape_filter_chars(dn)
        if self.flavor == "ad":
            return f"(&(objectClass=group)(member={edn}))"
        uids = "".join(f"(memberUid={escape_filter_chars(name)})" for name in names)
        return (
            f"(|(&(objectClass=groupOfNames)(member={edn}))"
            f"(&(objectClass=groupOfUniqueNames)(uniqueMember={edn}))"
            f"(&(objectClass=posixGroup)(|{uids})))"
        )

    def _member_names(self, entry: Mapping[str, Any], username: str) -> list[str]:
        """The names a posixGroup may list the account by: each value its entry stores, as stored
        and in lower case (`_names_stored`), and the name it was asked by.

        ``memberUid`` is compared exactly (caseExactIA5Match) while the account's name is not:
        ``(uid=carol)`` finds ``uid: Carol``, whom a posixGroup lists as ``Carol``.
        """
        return list(dict.fromkeys([*_names_stored(entry["attrs"], self.user_attr), username]))

    def _groups_of(self, dn: str, username: str, names: Sequence[str]) -> list[tuple[str, str]]:
        """Every group naming the account, as (group DN, membership attribute)."""
        self._groups_visible()  # a filter on a member attribute it may not search matches nothing
        found = self.session.search(
            self.groups_dn,
            self._group_filter(dn, names),
            ["objectClass"],
            setting="groups_dn",
            page_size=self.page_size,
            what=f"find groups of {username}",
        )
        return [self._group(entry) for entry in found]

    def _group(self, entry: dict[str, Any]) -> tuple[str, str]:
        """A group entry as (DN, membership attribute), the attribute kept for the steps."""
        attr = _membership_attr(entry)
        with self._cache_lock:
            self._group_attr[_norm(entry["dn"])] = attr
        return entry["dn"], attr

    def _read(self, username: str) -> tuple[dict[str, Any], list[tuple[str, str]]] | None:
        """The account's entry and every group naming it: one search where it can be, else two.

        A group filter needs the account's DN before the account is read: the
        DN last seen, or where `create_account` puts it. One search from
        ``base_dn`` asks for the account and for the groups naming that DN.
        When the account is elsewhere, or an entry could have matched either
        half of the filter, the answer is not trusted for groups and they
        are searched the long way (`_groups_of`): never fewer groups than it.
        """
        guess = self._guess_dn(username)
        if guess is None:
            return self._read_the_long_way(username)
        found = self.session.search(
            self.base_dn,
            f"(|{self._user_filter(username)}{self._group_filter(guess, [username])})",
            list(dict.fromkeys([*self._user_attributes(), "objectClass"])),
            setting="base_dn",
            page_size=self.page_size,
            what=f"look up {username} and their groups",
        )
        users: list[dict[str, Any]] = []
        groups: list[dict[str, Any]] = []
        for entry in found:
            kind = self._matched(entry, username)
            if kind is None:  # which half it matched cannot be told
                return self._read_the_long_way(username)
            if kind == "user":
                users.append(entry)
            elif self._groups_top is None or _within(entry["dn"], self._groups_top):
                groups.append(entry)  # else not below groups_dn: not one of the groups' search either
        if len(users) > 1:
            raise self._ambiguous(username, users)
        if not users:
            if groups:  # an account no half of the filter showed plainly: "no account" is not proven
                return self._read_the_long_way(username)
            self._forget_account(username)
            return None
        entry = users[0]
        self._found(username, entry)
        names = self._member_names(entry, username)
        # the groups found name another DN than the account's, or posixGroups another name
        if not _same_dn(entry["dn"], guess) or (names != [username] and self.flavor != "ad"):
            return entry, self._groups_of(entry["dn"], username, names)
        return entry, [self._group(g) for g in groups]

    def _read_the_long_way(self, username: str) -> tuple[dict[str, Any], list[tuple[str, str]]] | None:
        """The account's own search, then the groups naming the DN it has."""
        entry = self._find_user(username)
        if entry is None:
            return None
        return entry, self._groups_of(entry["dn"], username, self._member_names(entry, username))

    def _guess_dn(self, username: str) -> str | None:
        """Where the account most likely is, for `_read`; None when one search from ``base_dn``
        is not proven to reach the groups (`_groups_in_reach`)."""
        if not self._groups_in_reach():
            return None
        with self._cache_lock:
            seen = self._dns.get(username)
        if seen:
            return seen
        rdn_attr = "cn" if self.flavor == "ad" else self.user_attr
        return f"{rdn_attr}={escape_rdn(username)},{self.users_dn}"

    def _groups_in_reach(self) -> bool:
        """Whether one search from ``base_dn`` sees every group a search from ``groups_dn`` sees,
        proven once per connector (after `_groups_visible`).

        Proven when ``groups_dn`` is ``base_dn``'s very entry, or when a search from
        ``base_dn`` finds ``groups_dn``'s very entry: the same ``entryUUID`` (AD:
        ``objectGUID``), not merely the same DN, which an entry left behind in another
        database may share. A ``groups_dn`` another database holds without glue is not
        found; one behind a continuation reference (another domain) fails the search,
        unless ``ignore_references`` names it, and is then not found. Keeps the DN the
        server gives ``groups_dn`` (`_groups_top`): the groups' DNs end with that
        spelling, not necessarily the settings'.
        """
        self._groups_visible()
        with self._cache_lock:
            if self._reach is not None:
                return self._reach
        reach, top = self._prove_reach()
        with self._cache_lock:
            self._reach, self._groups_top = reach, top
        return reach

    def _prove_reach(self) -> tuple[bool, str | None]:
        """(reached, ``groups_dn`` as the server spells it, or None when it is ``base_dn``)."""
        if self.groups_dn == self.base_dn:  # the default: the very same text, so the very same entry
            return True, None
        top = self._check_place("groups_dn", _ENTRY_IDS)
        key = _entry_id(top)
        if key is None:  # no identity to compare: not proven
            return False, None
        if _entry_id(self._check_place("base_dn", _ENTRY_IDS)) == key:
            return True, None
        attr, value = first_ava(top["dn"])
        found = self.session.search(
            self.base_dn,
            f"({escape_filter_chars(attr)}={escape_filter_chars(value)})",
            list(_ENTRY_IDS),
            setting="base_dn",
            page_size=self.page_size,
            what="find groups_dn below base_dn",
        )
        return any(_entry_id(e) == key for e in found), top["dn"]

    def _matched(self, entry: dict[str, Any], username: str) -> str | None:
        """Which half of `_read`'s filter ``entry`` answered: ``"user"``, ``"group"``, or None when it
        could be either or neither (a group that has the account's class or name, as an account that
        is its own posixGroup; a class only the server knows the hierarchy of). Names are compared
        without case or repeated spaces, a little looser than a server: a near miss asks again."""
        attrs = entry["attrs"]
        classes = {c.lower() for c in attrs.get("objectclass", [])}
        named = _loose(username) in {_loose(v) for v in attrs.get(self.user_attr.lower(), [])}
        account = self.user_class.lower() in classes
        if not classes.isdisjoint(_MEMBER_ATTRS):
            return None if named or account else "group"
        return "user" if named and account else None

    def _state(self, username: str, entry: dict[str, Any], held: frozenset[Entitlement]) -> AccountState:
        """The account as read, with ``held``, the groups naming it."""
        if self.flavor == "ad":
            primary = self.primary.beyond_baseline(entry)
            held = held | {self.spellings.group(primary)} if primary else held
        attrs = entry["attrs"]
        written = self.disabling.written(attrs)
        ineffective = self.disabling.ineffective(attrs) if written else ""
        return AccountState(
            system=self.name,
            username=username,
            ref=entry["dn"],
            enabled=not written or bool(ineffective),
            entitlements=held,
            password_usable=self._password_usable(attrs),
            attributes={
                "cn": _first(attrs, "cn"),
                "mail": _first(attrs, "mail"),
                **self.attribute_map.held(attrs),
            },
            last_login=_timestamp(_first(attrs, self.last_login_attr)),
            created=_timestamp(_first(attrs, "createtimestamp") or _first(attrs, "whencreated")),
            disable_ineffective=ineffective,
        )

    def read_account(self, username: str) -> AccountState | None:
        found = self._read(username)
        if found is None:
            return None
        entry, groups = found
        return self._state(username, entry, frozenset(self.spellings.group(dn) for dn, _ in groups))

    def iter_accounts(self) -> Iterator[AccountState]:
        """Every account with its groups, in two paged passes (groups, then users), never one query each."""
        self._groups_visible()
        members = Memberships(self.spellings.group)
        shown_empty: dict[str, str] = {}
        group_filter = (
            "(objectClass=group)"
            if self.flavor == "ad"
            else ("(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))")
        )
        for group in self.session.iter_search(  # page by page: memory holds the memberships, not the entries
            self.groups_dn,
            group_filter,
            ["objectClass", "member", "uniqueMember", "memberUid"],
            setting="groups_dn",
            page_size=min(self.page_size, GROUPS_A_PAGE),
            what="list groups",
        ):
            attr = _membership_attr(group)
            with self._cache_lock:
                self._group_attr[_norm(group["dn"])] = attr
            if not group["attrs"].get(attr):
                shown_empty[group["dn"]] = group_class(group)
            members.add(group, attr)
        members.seal()
        if shown_empty:  # empty, or members it may not read: only the directory can tell
            self._visibility.prove_empty(shown_empty)
        entries = self.session.iter_search(  # streamed: each account is handed out as its page arrives
            self.base_dn,
            self._user_filter(),
            self._user_attributes(),
            setting="base_dn",
            page_size=self.page_size,
            what="list accounts",
        )
        for entry in entries:
            username = _first(entry["attrs"], self.user_attr.lower())
            if not username:  # it matched (user_attr=*): an account, whose name was kept from iam
                raise errors.IncompleteRead(
                    f"list accounts: {entry['dn']} has a {self.user_attr}, but it did not come back: "
                    f"{self.session.bind_dn or 'anonymous'} may search {self.user_attr} but not read it, "
                    f"or {self.session.where('user_attribute')} names it by another of its names "
                    "(give the name the server answers with, such as uid)"
                )
            names = _names_stored(entry["attrs"], self.user_attr)  # each name a posixGroup may list it by
            yield self._state(username, entry, members.of(entry["dn"], names))

    def _enabled(self, attrs: Mapping[str, list[str]]) -> bool:
        """Not disabled, or disabled in a way the server would not enforce."""
        return not self.disabling.written(attrs) or bool(self.disabling.ineffective(attrs))

    def _password_usable(self, attrs: Mapping[str, list[str]]) -> bool | None:
        if self.flavor == "ad":
            return None if self._enabled(attrs) else False  # unicodePwd is unreadable
        values = attrs.get("userpassword")
        if values is None:
            return None if self.session.bind_dn is None else False
        return not all(v.startswith(LOCKED_PASSWORD_PREFIX) for v in values)

    # changing -----------------------------------------------------------------

    def create_account(self, username: str, attributes: Mapping[str, Any]) -> Result:
        if self._dn(username):
            return Result(Outcome.UNCHANGED, "account exists")
        # AD names every user by cn (an sAMAccountName RDN is a naming violation) and shows displayName.
        rdn_attr = "cn" if self.flavor == "ad" else self.user_attr
        dn = f"{rdn_attr}={escape_rdn(username)},{self.users_dn}"
        display = attributes.get("display_name") or username
        mapped, notes = self.attribute_map.for_create(attributes, self._manager_dn)
        attrs: dict[str, Any] = {
            self.user_attr: username,
            "cn": username if self.flavor == "ad" else display,
            "sn": attributes.get("family_name") or username,
            **({"displayName": display} if self.flavor == "ad" else {}),
            **mapped,
        }
        try:
            self.session.add(dn, [self.user_class], attrs, f"create {dn}")
        except errors.NoSuchObject as exc:
            raise errors.PermanentError(
                f"cannot create {dn}: users_dn {self.users_dn} does not exist "
                "(create it in the directory, or fix users_dn)"
            ) from exc
        with self._cache_lock:
            self._dns[username] = dn
        return Result(Outcome.CREATED, "; ".join([dn, *notes]))

    def attribute_delta(
        self, state: AccountState, attributes: Mapping[str, Any]
    ) -> contract.AttributeDelta | None:
        """The mapped HR fields the entry does not follow yet (``attributes`` setting)."""

        def lookup(username: str) -> str | None:
            try:
                return self._manager_dn(username)
            except errors.ConnectorError:  # planning never fails on it: the update looks again
                return None

        return self.attribute_map.delta(state.attributes, attributes, lookup)

    def update_account(self, username: str, delta: contract.AttributeDelta) -> Result:
        """Make the entry follow HR's values in one modify, after reading it again."""
        entry = self._find_user(username)
        if entry is None:
            return Result(Outcome.ABSENT, "no account")
        changes, fields, notes = self.attribute_map.changes(entry["attrs"], delta, self._manager_dn)
        if changes:
            what = f"update {', '.join(fields)} of {username}"
            code = self.session.modify(entry["dn"], changes, what)
            if code == NO_SUCH_OBJECT:
                return Result(Outcome.ABSENT, "no account")
            if code == OBJECT_CLASS_VIOLATION:
                raise errors.InvalidAttribute(f"{what}: the entry's object classes do not allow it (LDAP 65)")
        detail = [f"{', '.join(fields)} now follow HR" if fields else "already follows HR", *notes]
        return Result(Outcome.UPDATED if changes else Outcome.UNCHANGED, "; ".join(detail))

    def _manager_dn(self, username: str) -> str | None:
        """The manager's entry; None when there is none (or more than one, which names nobody)."""
        try:
            return self._dn(username)
        except errors.AmbiguousAccount:
            return None

    def _group_membership(self, group_dn: str) -> str:
        with self._cache_lock:
            attr = self._group_attr.get(_norm(group_dn))
        if attr:
            return attr
        found = self.session.read_entry(group_dn, ["objectClass"], f"read group {group_dn}")
        if found is None:
            raise errors.InvalidAttribute(f"group {group_dn} does not exist")
        attr = _membership_attr(found)
        with self._cache_lock:
            self._group_attr[_norm(group_dn)] = attr
        return attr

    def _member_value(self, attr: str, username: str, dn: str) -> str:
        """What a group of membership ``attr`` lists the account by: its DN, or (posixGroup) the
        name its entry stores, which ``memberUid`` must match exactly."""
        if attr != "memberuid":
            return dn
        entry = self._recent_entry(username)
        return self._member_names(entry, username)[0] if entry else username

    def grant(self, username: str, entitlement: Entitlement) -> Result:
        group = _group_dn(entitlement)
        dn = self._dn(username)
        if dn is None:
            return Result(Outcome.ABSENT, "no account")
        attr = self._group_membership(group)
        code = self.session.modify(
            group,
            {attr: [(ldap3.MODIFY_ADD, [self._member_value(attr, username, dn)])]},
            f"add {username} to {group}",
            accept=frozenset({ALREADY_EXISTS}),  # AD's answer for a member already there
        )
        if code == NO_SUCH_OBJECT:
            raise errors.InvalidAttribute(f"group {group} does not exist")
        return Result(Outcome.UNCHANGED if code in (VALUE_EXISTS, ALREADY_EXISTS) else Outcome.UPDATED, group)

    def revoke(self, username: str, entitlement: Entitlement) -> Result:
        group = _group_dn(entitlement)
        was_primary = self.flavor == "ad" and self._leave_primary_group(username, group)
        dn = self._dn(username)
        if dn is None:
            return Result(Outcome.ABSENT, "no account")
        result = self._remove_member(username, dn, group)
        return Result(Outcome.UPDATED, group) if was_primary else result

    def _leave_primary_group(self, username: str, group: str) -> bool:
        """AD: when ``group`` is the user's primary group, make the baseline group primary instead.

        AD then lists the user in the old group's ``member``, which the caller removes.
        """
        entry = self._find_user(username)
        primary = None if entry is None else self.primary.beyond_baseline(entry)
        if entry is None or primary is None or _norm(primary) != _norm(group):
            return False
        self.primary.to_baseline(entry, username)
        return True

    def _remove_member(self, username: str, dn: str, group: str) -> Result:
        attr = self._group_membership(group)
        if attr != "memberuid":
            return self._remove_value(username, group, attr, dn)
        entry = self._recent_entry(username)
        names = self._member_names(entry, username) if entry else [username]
        # each name the group may list, apart: a delete of several fails whole if one is absent
        removed = [self._remove_value(username, group, attr, name) for name in names]
        changed = any(r.outcome is Outcome.UPDATED for r in removed)
        return Result(Outcome.UPDATED if changed else Outcome.UNCHANGED, group)

    def _remove_value(self, username: str, group: str, attr: str, value: str) -> Result:
        """Delete one member ``value`` from ``group``; unchanged when it was not there."""
        what = f"remove {username} from {group}"
        code = self.session.modify(
            group, {attr: [(ldap3.MODIFY_DELETE, [value])]}, what, accept=frozenset({UNWILLING_TO_PERFORM})
        )
        if code == UNWILLING_TO_PERFORM:
            # AD's answer for a member that is not there (Samba: one removed before), but
            # also for real refusals: only reading the group tells them apart.
            if self._holds(group, attr, value):
                raise errors.Unsupported(f"{what}: the directory is unwilling to perform it (LDAP 53)")
            code = NO_SUCH_ATTRIBUTE
        if code == OBJECT_CLASS_VIOLATION:  # the last member of a group that must have one
            code = self.session.modify(
                group,
                {attr: [(ldap3.MODIFY_REPLACE, [self.placeholder])]},
                f"remove last member {username} from {group}",
            )
        if code in (NO_SUCH_ATTRIBUTE, NO_SUCH_OBJECT):
            return Result(Outcome.UNCHANGED, group)
        return Result(Outcome.UPDATED, group)

    def _holds(self, group: str, attr: str, value: str) -> bool:
        flt = f"({attr}={escape_filter_chars(value)})"
        return self.session.read_entry(group, ["1.1"], f"read {group}", flt) is not None

    def disable(self, username: str) -> Result:
        return self._set_enabled(username, False)

    def enable(self, username: str) -> Result:
        return self._set_enabled(username, True)

    def _set_enabled(self, username: str, enabled: bool) -> Result:
        """Write or remove the disable; a disable the server would not enforce is an error, not a success.

        The disable is written even then: it takes effect once the server is
        fixed, and what remains of the run names the fix.
        """
        entry = self._recent_entry(username) if not enabled else self._find_user(username)
        if entry is None:
            return Result(Outcome.ABSENT, "no account")
        attrs = entry["attrs"]
        written = self.disabling.written(attrs)
        what = f"{'enable' if enabled else 'disable'} {username}"
        if written != enabled:  # enabling a clean entry, or disabling one already disabled
            outcome = Outcome.UNCHANGED
        else:
            code = self.session.modify(entry["dn"], self.disabling.changes(attrs, enabled), what)
            if code == NO_SUCH_OBJECT:  # gone since it was read: nothing left to disable
                return Result(Outcome.ABSENT, "no account")
            self._forget_entry(username)
            outcome = Outcome.UPDATED
        if not enabled:
            ineffective = self.disabling.ineffective(attrs)
            if ineffective:
                raise errors.PermanentError(f"{what}: {ineffective}")
        return Result(outcome)

    def lock_password(self, username: str) -> Result:
        entry = self._recent_entry(username)
        if entry is None:
            return Result(Outcome.ABSENT, "no account")
        if self._password_usable(entry["attrs"]) is False:
            return Result(Outcome.UNCHANGED)
        token = secrets.token_urlsafe(32)
        change: dict[str, Any]
        if self.flavor == "ad":
            change = {"unicodePwd": [(ldap3.MODIFY_REPLACE, [f'"{token}"'.encode("utf-16-le")])]}
        else:
            change = {"userPassword": [(ldap3.MODIFY_REPLACE, [LOCKED_PASSWORD_PREFIX + token])]}
        code = self.session.modify(entry["dn"], change, f"lock the password of {username}")
        if code == NO_SUCH_OBJECT:  # gone since it was read: nothing left to lock
            return Result(Outcome.ABSENT, "no account")
        self._wrote(username, entry, {"userpassword": [LOCKED_PASSWORD_PREFIX]})
        return Result(Outcome.UPDATED)

    def _forget_entry(self, username: str) -> None:
        with self._cache_lock:
            self._entries.pop(username, None)

    def termination_steps(self, state: AccountState) -> list[contract.StepSpec]:
        """The default order; a disable already written but not enforced is not written again.

        Writing it again changes nothing: what remains names what to fix on the server.
        """
        steps = super().termination_steps(state)
        if state.disable_ineffective:
            steps = [s for s in steps if s.op != contract.Op.DISABLE]
        return steps

    def needs_archive(self, state: AccountState) -> bool:
        return bool(self.leavers_dn) and not _under(state.ref, self.leavers_dn or "")

    def archive(self, username: str) -> Result:
        if not self.leavers_dn:
            raise errors.Unsupported("no leavers_dn is configured")
        return self._move(username, self.leavers_dn, lambda dn: _under(dn, self.leavers_dn or ""))

    def _set_aside(self, dn: str) -> bool:
        """Under ``leavers_dn`` or ``archive_dn``: where no active account belongs."""
        return any(place and _under(dn, place) for place in (self.leavers_dn, self.settings.archive_dn))

    def needs_restore(self, state: AccountState) -> bool:
        return self._set_aside(state.ref)

    def restore(self, username: str) -> Result:
        """A rehire's account goes back from ``leavers_dn`` (or ``archive_dn``) to ``users_dn``."""
        return self._move(username, self.users_dn, lambda dn: not self._set_aside(dn))

    def _move(self, username: str, parent: str, done: Callable[[str], bool]) -> Result:
        entry = self._find_user(username)  # read again: the cached DN may be from before a move
        if entry is None:
            return Result(Outcome.ABSENT, "no account")
        dn = entry["dn"]
        if done(dn):
            return Result(Outcome.UNCHANGED)
        rdn = to_dn(dn)[0]  # AD names such as "CN=Doe\, Jane" hold escaped commas
        what = f"move {username} to {parent}"
        code = self.session.move(dn, rdn, parent, what)
        if code == ALREADY_EXISTS:
            raise errors.AlreadyExists(f"{what}: {rdn},{parent} already exists; move or rename one of them")
        if code == NO_SUCH_OBJECT:
            # the account is gone, or the parent is ("new superior not found"): only the second is an error
            self._check_place(
                "users_dn"
                if parent == self.users_dn
                else ("archive_dn" if parent == self.settings.archive_dn else "leavers_dn")
            )
            return Result(Outcome.ABSENT, "no account")
        with self._cache_lock:
            self._dns[username] = f"{rdn},{parent}"
        return Result(Outcome.UPDATED, parent)

    def counts_as_deleted(self, state: AccountState) -> bool:
        """An entry moved to ``archive_dn`` by a retention delete."""
        archive = self.settings.archive_dn
        return bool(archive) and _under(state.ref, archive or "")

    def delete_account(self, username: str) -> Result:
        """Delete the entry, or with ``archive_dn`` move it there (`unchanged` once it is)."""
        archive = self.settings.archive_dn
        if archive:
            return self._move(username, archive, lambda dn: _under(dn, archive))
        dn = self._dn(username)
        if dn is None:
            return Result(Outcome.ABSENT, "no account")
        code = self.session.delete(dn, f"delete {dn}")
        with self._cache_lock:
            self._dns.pop(username, None)
        return Result(Outcome.UNCHANGED if code == NO_SUCH_OBJECT else Outcome.UPDATED, dn)


def _membership_attr(entry: dict[str, Any]) -> str:
    classes = {c.lower() for c in entry["attrs"].get("objectclass", [])}
    for cls, attr in _MEMBER_ATTRS.items():
        if cls in classes:
            return attr
    raise errors.InvalidAttribute(f"{entry['dn']} is not a group this connector understands")


#: What tells two entries apart whatever their DNs: OpenLDAP's ``entryUUID``, AD's ``objectGUID``.
_ENTRY_IDS = ("entryUUID", "objectGUID")


def _entry_id(entry: dict[str, Any]) -> str | None:
    for name in _ENTRY_IDS:
        values = entry["attrs"].get(name.lower())
        if values:
            return f"{name}:{values[0]}"
    return None


def _loose(name: str) -> str:
    return " ".join(name.split()).casefold()


def _group_dn(entitlement: Entitlement) -> str:
    if entitlement.kind != "group":
        raise errors.Unsupported(f"LDAP holds groups, not {entitlement.kind}")
    try:
        return safe_dn(entitlement.value)
    except Exception:
        raise errors.InvalidAttribute(f"not a valid DN: {entitlement.value!r}") from None


def _names_stored(attrs: Mapping[str, list[str]], user_attr: str) -> list[str]:
    """The names an entry stores, as stored, then in lower case: ``memberUid`` is compared exactly,
    and a posixGroup may list ``Carol`` by the spelling HR and iam use (``carol``)."""
    stored = attrs.get(user_attr.lower(), [])
    return list(dict.fromkeys([*stored, *(name.lower() for name in stored)]))


def _first(attrs: Mapping[str, list[str]], name: str) -> str | None:
    values = attrs.get(name.lower())
    return values[0] if values else None


def _timestamp(value: str | None) -> datetime | None:
    """LDAP GeneralizedTime (OpenLDAP) or Windows FILETIME (AD) as an aware datetime."""
    return _parse_timestamp(value) if value else None


@functools.lru_cache(maxsize=4096)  # a bulk read meets the same second many times (entries made in bulk)
def _parse_timestamp(value: str) -> datetime | None:
    if value.isdigit():  # AD: 100-ns intervals since 1601
        return (
            datetime(1601, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(value) // 10)
            if int(value)
            else None
        )
    digits = value[:14]
    try:
        if len(digits) == 14 and digits.isascii() and digits.isdigit():  # what servers send; strptime: 10 µs
            y, mo, d, h, mi, sec = (int(digits[a:b]) for a, b in _GENERALIZED_TIME)
            return datetime(y, mo, d, h, mi, sec, tzinfo=UTC)
        return datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


_GENERALIZED_TIME = ((0, 4), (4, 6), (6, 8), (8, 10), (10, 12), (12, 14))
