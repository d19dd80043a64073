"""Least-privilege policy: roles, birthright rules, time-bound grants, SoD.

Desired state is exactly what a person's roles and unexpired grants name,
per system. Pure functions: a `Policy` and an `Identity` in, data out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from iam.contract import parse_entitlement
from iam.documents import Day, Document, invalid, read_yaml, validate_document
from iam.errors import ConfigError, UserError
from iam.model import DesiredAccount, Entitlement, Identity


class PolicyViolation(UserError):
    """A plan would break a separation-of-duty rule; nothing is changed."""


@dataclass(frozen=True)
class Role:
    name: str
    entitlements: Mapping[str, frozenset[Entitlement]]
    description: str = ""
    #: Given only to people who acknowledged the current policy version (`Acknowledgement`).
    requires_acknowledgement: bool = False


RoleName = Annotated[str, StringConstraints(pattern="^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
EntitlementName = Annotated[str, StringConstraints(pattern="^[a-z][a-z0-9-]*:.+$")]
#: The HR attributes a birthright rule may test.
Attribute = Literal["department", "title", "kind", "site"]


class RoleEntry(Document):
    """One role of the policy file: the entitlements it names per system."""

    description: str = ""
    requires_acknowledgement: bool = Field(
        default=False, description="given only to people who acknowledged require_acknowledgement.version"
    )
    entitlements: dict[str, list[EntitlementName]] = Field(
        description="system name -> entitlements there ('kind:value'); an empty list means an account "
        "with nothing else"
    )

    @model_validator(mode="after")
    def _each_once(self) -> RoleEntry:
        for system, names in self.entitlements.items():
            if len(set(names)) < len(names):
                raise invalid(system, "an entitlement is listed twice")
        return self


class Birthright(Document):
    """A role everyone matching ``when`` holds (everyone, without ``when``)."""

    role: str
    when: dict[Attribute, Annotated[list[str], Field(min_length=1)]] = Field(
        default={}, description="every listed attribute must have one of the listed values"
    )

    def applies_to(self, identity: Identity) -> bool:
        return all(getattr(identity, attr) in values for attr, values in self.when.items())


class Grant(Document):
    """A role given to one person until a day (a time-bound exception, with who asked for it)."""

    username: str
    role: str
    expires: Day = Field(description="the last day the grant holds")
    requester: str
    reason: str = ""

    def active(self, today: date) -> bool:
        return today <= self.expires


class SodRule(Document):
    """Roles no one may hold together (separation of duty)."""

    name: str
    roles: frozenset[str] = Field(min_length=2, strict=False)
    description: str = ""


class Acknowledgement(Document):
    """The policy version people must acknowledge before holding roles that require it."""

    version: str = Field(min_length=1, description='e.g. "2026-01"; HR records policy_ack_version')
    grace_days: int = Field(default=14, ge=0, description="days after `since` before the roles go")
    since: Day | None = Field(
        default=None,
        description='when the version took effect (default: the version read as a date, "2026-01")',
    )

    @model_validator(mode="after")
    def _has_a_start(self) -> Acknowledgement:
        if self.since is None and _version_day(self.version) is None:
            raise invalid("since", f"give since: version {self.version!r} is not a date")
        return self

    @property
    def grace_ends(self) -> date:
        """The last day people without the acknowledgement keep the roles that require it."""
        start = self.since or _version_day(self.version)
        assert start is not None
        return start + timedelta(days=self.grace_days)

    def acknowledged(self, identity: Identity) -> bool:
        return identity.policy_ack_version == self.version


def _version_day(version: str) -> date | None:
    for text in (version, f"{version}-01"):
        try:
            return date.fromisoformat(text)
        except ValueError:
            continue
    return None


class PolicyFile(Document):
    """The access policy (least privilege): nothing is granted that no role or unexpired grant names.

    Roles name entitlements per system; birthright rules give roles from HR
    attributes; grants add a role for a time; separation-of-duty rules
    forbid role combinations.
    """

    roles: dict[RoleName, RoleEntry] = Field(min_length=1)
    birthright: list[Birthright] = []
    grants: list[Grant] = []
    separation_of_duty: list[SodRule] = []
    require_acknowledgement: Acknowledgement | None = Field(
        default=None,
        description="roles marked requires_acknowledgement go only to people who acknowledged this version "
        "(after its grace period; before it, as usual)",
    )


@dataclass(frozen=True)
class Policy:
    roles: Mapping[str, Role]
    birthright: tuple[Birthright, ...] = ()
    grants: tuple[Grant, ...] = ()
    sod: tuple[SodRule, ...] = ()
    acknowledgement: Acknowledgement | None = None
    # memo of birthright roles by the attributes rules read: a sweep asks for
    # thousands of people who share a department, title, kind and site
    _memo: dict[tuple[str, ...], frozenset[str]] = field(default_factory=dict, compare=False, repr=False)
    # each person's grants, indexed once: a sweep asks for every person
    _by_user: dict[str, tuple[Grant, ...]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    # memo of what a set of roles gives in one system: a review asks for every account
    _given: dict[tuple[frozenset[str], str], DesiredAccount] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    @property
    def systems(self) -> set[str]:
        return {system for role in self.roles.values() for system in role.entitlements}

    def named(self, system: str) -> frozenset[Entitlement]:
        """Every entitlement a role names in ``system``, spelt as the policy spells it."""
        named = (role.entitlements.get(system, frozenset()) for role in self.roles.values())
        return frozenset().union(*named)

    def roles_of(self, identity: Identity, today: date) -> set[str]:
        """Birthright roles plus unexpired grants; none for someone not active."""
        if identity.status != "active":
            return set()
        roles = set(self._born(identity)) | {
            g.role for g in self.grants_of(identity.username) if g.active(today)
        }
        return roles - self._withheld(identity, roles, today)

    def _born(self, identity: Identity) -> frozenset[str]:
        """The birthright roles of ``identity`` (whatever its status)."""
        key = (identity.department, identity.title, identity.kind, identity.site)
        born = self._memo.get(key)
        if born is None:
            born = self._memo[key] = frozenset(b.role for b in self.birthright if b.applies_to(identity))
        return born

    def grants_of(self, username: str) -> tuple[Grant, ...]:
        """The grants naming ``username`` (active or not), in the policy's order."""
        if self.grants and not self._by_user:
            index: dict[str, list[Grant]] = {}
            for grant in self.grants:
                index.setdefault(grant.username, []).append(grant)
            self._by_user.update({name: tuple(held) for name, held in index.items()})
        return self._by_user.get(username, ())

    def withheld(self, identity: Identity, today: date) -> set[str]:
        """The roles ``identity`` would hold but may not: they require an acknowledgement of the
        current policy version that the person has not given, and its grace period is over."""
        ack, self_ = self.acknowledgement, replace(self, acknowledgement=None)
        if ack is None:
            return set()
        return self._withheld(identity, self_.roles_of(identity, today), today)

    def _withheld(self, identity: Identity, roles: Iterable[str], today: date) -> set[str]:
        ack = self.acknowledgement
        if ack is None or ack.acknowledged(identity) or today <= ack.grace_ends:
            return set()
        return {r for r in roles if self.roles[r].requires_acknowledgement}

    def violations(self, roles: Iterable[str]) -> list[SodRule]:
        held = set(roles)
        return [rule for rule in self.sod if rule.roles <= held]

    def desired(
        self, identity: Identity, today: date, systems: Iterable[str], check_sod: bool = True
    ) -> dict[str, DesiredAccount]:
        """What each configured system should hold for this person.

        Raises `PolicyViolation` naming the rule when the roles conflict
        (unless ``check_sod`` is off, as a review does to report it instead).
        """
        roles = self.roles_of(identity, today)
        broken = self.violations(roles) if check_sod else []
        if broken:
            names = ", ".join(f"{r.name} ({' + '.join(sorted(r.roles))})" for r in broken)
            raise PolicyViolation(f"{identity.username}: separation of duty forbids holding {names}")
        out: dict[str, DesiredAccount] = {}
        for system in systems:
            given = self.given(frozenset(roles), system)
            out[system] = DesiredAccount(given.entitlements, identity.attributes(), account=given.account)
        return out

    def reviewed(self, identity: Identity, today: date, system: str) -> DesiredAccount:
        """`desired` in one system as an access review compares it: no SoD check (the review
        reports conflicts), no HR attributes (a review compares entitlements)."""
        if (
            identity.status == "active"
            and self.acknowledgement is None
            and not self.grants_of(identity.username)
        ):
            return self.given(self._born(identity), system)  # most people: their birthright roles only
        return self.given(frozenset(self.roles_of(identity, today)), system)

    def given(self, roles: frozenset[str], system: str) -> DesiredAccount:
        """What ``roles`` give in ``system`` (no attributes); ``account`` False when none names it."""
        found = self._given.get((roles, system))
        if found is None:
            named = [
                self.roles[r].entitlements[system] for r in roles if system in self.roles[r].entitlements
            ]
            ents: frozenset[Entitlement] = frozenset().union(*named) if named else frozenset()
            found = self._given[roles, system] = DesiredAccount(ents, account=bool(named))
        return found


def parse_policy(data: object, label: str = "<policy>", node: object = None) -> Policy:
    document = validate_document(PolicyFile, data, label, node)
    roles = {
        name: Role(
            name,
            {
                system: frozenset(parse_entitlement(e) for e in ents)
                for system, ents in body.entitlements.items()
            },
            body.description,
            body.requires_acknowledgement,
        )
        for name, body in document.roles.items()
    }

    def known(roles_named: Iterable[str], where: str) -> None:
        for role in sorted(roles_named):
            if role not in roles:
                raise ConfigError(
                    f"{label}: {where}: unknown role {role!r}; roles: {', '.join(sorted(roles))}"
                )

    for i, b in enumerate(document.birthright):
        known([b.role], f"birthright[{i}]")
    for i, g in enumerate(document.grants):
        known([g.role], f"grants[{i}]")
    for i, r in enumerate(document.separation_of_duty):
        known(r.roles, f"separation_of_duty[{i}]")
    return Policy(
        roles,
        tuple(document.birthright),
        tuple(document.grants),
        tuple(document.separation_of_duty),
        document.require_acknowledgement,
    )


def load_policy(path: Path) -> Policy:
    if not path.exists():
        raise ConfigError(f"{path}: policy file not found (set `policy:` in the configuration)")
    data, node = read_yaml(path)
    return parse_policy(data, str(path), node)


def held_roles(policy: Policy, held: Mapping[str, frozenset[Entitlement]]) -> set[str]:
    """Roles whose every entitlement the person actually holds (for SoD reviews).

    Only roles that matter to a separation-of-duty rule are checked.
    """
    out = set()
    for name in sod_roles(policy):
        named = [(system, ents) for system, ents in policy.roles[name].entitlements.items() if ents]
        if named and all(ents <= held.get(system, frozenset()) for system, ents in named):
            out.add(name)
    return out


def sod_roles(policy: Policy) -> set[str]:
    return {r for rule in policy.sod for r in rule.roles}


def sod_systems(policy: Policy) -> set[str]:
    """The systems whose holdings decide separation of duty."""
    return {system for name in sod_roles(policy) for system in policy.roles[name].entitlements}


def new_conflicts(
    policy: Policy,
    held: Mapping[str, frozenset[Entitlement]],
    changes: Iterable[tuple[str, bool, Entitlement]],
) -> list[SodRule]:
    """The SoD rules that ``changes`` (system, grant?, entitlement) would break and ``held`` does not.

    Judged on what the person would really hold, whatever made the plan: a
    remediation or a certification knows nothing of roles, only entitlements.
    """
    after = {system: set(ents) for system, ents in held.items()}
    for system, grant, entitlement in changes:
        ents = after.setdefault(system, set())
        if grant:
            ents.add(entitlement)
        else:
            ents.discard(entitlement)
    before = set(policy.violations(held_roles(policy, held)))
    frozen = {system: frozenset(ents) for system, ents in after.items()}
    return [rule for rule in policy.violations(held_roles(policy, frozen)) if rule not in before]
