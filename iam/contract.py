"""The connector contract: a small base class plus one mixin per capability.

A connector declares what it can do by the mixins it inherits (the ConnId
idea): the registry derives the capability set from the class, and the
engine plans only operations a system can perform. Every operation is
idempotent and returns a `Result`; "already done" is `unchanged`, a missing
account is `absent`. Failures raise the types in `iam.errors`. Connectors
never retry: the engine does.

"Could not look" is never "nothing there". A read answers None or an empty
iterator only when it saw the whole place it is configured to read and that
place holds nothing. A read that did not see everything (its place is
missing, the account iam uses may not see all of it, a limit or a listing
cut it short, the system did not answer) raises instead, so a termination
is never reported complete on an empty view: `errors.IncompleteRead` or
`errors.PermissionDenied` when a person must change something, a
`errors.TransientError` when a retry can help. `Connector.check` proves the
same for every place the settings name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from iam.errors import Unsupported
from iam.model import AccountState, Entitlement, Outcome, Result
from iam.settings import ConnectorSettings, validate_settings


class Capability(StrEnum):
    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    ENTITLE = "entitle"
    DISABLE = "disable"
    LOCK_PASSWORD = "lock_password"
    END_SESSIONS = "end_sessions"
    REVOKE_CREDENTIALS = "revoke_credentials"
    ARCHIVE = "archive"
    TERMINATE = "terminate"
    DELETE = "delete"
    MAINTAIN = "maintain"


class Op(StrEnum):
    """Step operations; each maps to one method of one capability."""

    CREATE = "create"
    UPDATE = "update"
    GRANT = "grant"
    REVOKE = "revoke"
    ENABLE = "enable"
    DISABLE = "disable"
    LOCK_PASSWORD = "lock_password"
    END_SESSIONS = "end_sessions"
    REVOKE_CREDENTIAL = "revoke_credential"
    ARCHIVE = "archive"
    RESTORE = "restore"
    DELETE = "delete"


@dataclass(frozen=True)
class StepSpec:
    """One operation a connector asks the engine to run, in order."""

    op: Op
    target: str | None = None
    description: str = ""
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AttributeDelta:
    """One atomic change: values to add, remove and replace together."""

    add: Mapping[str, list[str]] = field(default_factory=dict)
    remove: Mapping[str, list[str]] = field(default_factory=dict)
    replace: Mapping[str, list[str]] = field(default_factory=dict)


class Connector(ABC):
    """Base of every connector: configuration, reachability, cleanup.

    ``settings`` is the system's block from the configuration (or a mapping
    given in code), validated here through ``settings_model`` whichever it
    is: a connector reads typed attributes with their defaults applied, and
    secret values are `iam.secrets.Secret` objects, revealed only where
    they are sent.
    """

    #: The system's settings (the block under ``systems.<name>`` less ``type``): one pydantic
    #: model, a subclass of `iam.settings.ConnectorSettings`. It validates, holds the defaults
    #: and is the connector's part of the configuration's JSON Schema (``iam schema config``).
    settings_model: ClassVar[type[ConnectorSettings]] = ConnectorSettings

    #: True where an account exists only while it holds an entitlement (a VPN
    #: certificate, a WireGuard peer): the planner never plans `create`, and
    #: granting the entitlement brings the account into being.
    implicit_accounts: ClassVar[bool] = False

    def __init__(self, name: str, settings: Mapping[str, Any] | ConnectorSettings) -> None:
        self.name = name
        self.settings = validate_settings(name, self.settings_model, settings)

    @classmethod
    def capabilities(cls) -> frozenset[Capability]:
        """What this connector can do, derived from the mixins it inherits."""
        return frozenset(cap for mixin, cap in _MIXINS.items() if issubclass(cls, mixin))

    @abstractmethod
    def check(self) -> str:
        """Connect and authenticate; return a one-line description or raise.

        Also proves that every place the settings name exists and that what
        reads look at there is visible to the account iam uses; raises
        (`errors.IncompleteRead`, naming the setting and the fix) when it
        cannot prove it.
        """

    def close(self) -> None:  # noqa: B027 - most connectors hold nothing to release
        """Release connections; safe to call twice."""

    def use_spellings(self, named: Iterable[Entitlement]) -> None:  # noqa: B027 - most compare names exactly
        """Report a held entitlement as ``named`` spells it when both name the same thing.

        A system that compares names loosely (an LDAP DN's case, spaces and
        escapes) may send back a group the policy names in another spelling; a
        plan comparing the two as text would grant the policy's and revoke the
        server's, which is the very membership. Raises `errors.ConfigError`
        when ``named`` holds two spellings of one entitlement.
        """

    def spelt(self, entitlement: Entitlement) -> Entitlement:
        """``entitlement``, recorded earlier perhaps in another spelling, as a read now reports it."""
        return entitlement


class Readable(ABC):
    """Reading accounts; an empty answer is a promise that there is nothing, never a guess."""

    @abstractmethod
    def read_account(self, username: str) -> AccountState | None:
        """The person's account with all of its entitlements, or None if absent.

        None only when the system was fully readable and holds no such
        account. A read that did not see everything (a missing or hidden
        search base, entitlements the account iam uses may not see, a limit
        reached) raises `errors.IncompleteRead` or another `ConnectorError`:
        returning None or fewer entitlements would let a termination be
        reported complete while access survives.
        """

    @abstractmethod
    def iter_accounts(self) -> Iterator[AccountState]:
        """Every account, read in pages, for reviews and bulk work.

        Empty only when the system was fully readable and holds no account.
        A page that did not come, a listing that ended early or a place that
        could not be read raises (`errors.IncompleteRead` or another
        `ConnectorError`); it never ends the iteration quietly.
        """


class Creatable(ABC):
    @abstractmethod
    def create_account(self, username: str, attributes: Mapping[str, Any]) -> Result:
        """Create the account (disabled of entitlements); `unchanged` if it exists."""


class Updatable(ABC):
    @abstractmethod
    def update_account(self, username: str, delta: AttributeDelta) -> Result:
        """Apply one atomic attribute delta."""

    def attribute_delta(self, state: AccountState, attributes: Mapping[str, Any]) -> AttributeDelta | None:
        """What must change so the account follows HR's ``attributes``; None when it already does.

        The planner asks on every provisioning run, so a changed HR fact (a
        contractor's end date) reaches systems that keep a copy of it.
        """
        return None


class Entitling(ABC):
    @abstractmethod
    def grant(self, username: str, entitlement: Entitlement) -> Result:
        """Give one entitlement; `unchanged` if held, `absent` if no account."""

    @abstractmethod
    def revoke(self, username: str, entitlement: Entitlement) -> Result:
        """Take one entitlement away; `unchanged` if not held."""


class Disableable(ABC):
    @abstractmethod
    def disable(self, username: str) -> Result:
        """Stop the account from logging in, keeping it for history."""

    @abstractmethod
    def enable(self, username: str) -> Result:
        """Let a disabled account log in again (rehire)."""


class PasswordLockable(ABC):
    @abstractmethod
    def lock_password(self, username: str) -> Result:
        """Replace the password with an unusable random one; never return it."""


class SessionRevocable(ABC):
    @abstractmethod
    def end_sessions(self, username: str) -> Result:
        """Cut every live session or tunnel of the account."""


class CredentialRevocable(ABC):
    @abstractmethod
    def revoke_credential(self, username: str, credential_id: str) -> Result:
        """Make one credential (certificate, badge, token) stop working."""


class Archivable(ABC):
    @abstractmethod
    def archive(self, username: str) -> Result:
        """Move the account where leavers are kept (e.g. a leavers OU)."""

    def needs_restore(self, state: AccountState) -> bool:
        """Whether an account that should be active (a rehire) still sits where leavers are kept.

        The planner asks before enabling an existing account, so a rehire
        comes back where active accounts live, not only re-enabled in place.
        """
        return False

    def restore(self, username: str) -> Result:
        """Move the account back from where leavers are kept; `unchanged` if it is not there."""
        raise Unsupported(f"{type(self).__name__} cannot move an account back from the leavers area")


class Maintainable(ABC):
    @abstractmethod
    def maintain(self) -> Result:
        """Keep the system's own machinery working (renew a CRL before it expires); `iam run-due` calls it."""


class Deletable(ABC):
    @abstractmethod
    def delete_account(self, username: str) -> Result:
        """Remove the account for good (retention step, never termination); `absent` if there is none."""

    def counts_as_deleted(self, state: AccountState) -> bool:
        """Whether an account still read back is deleted all the same (a directory that moves
        deleted entries to an archive instead of removing them); by default only a missing one is.
        Callers ask `deleted_all_the_same`, which also wants the account to grant nothing."""
        return False


def deleted_all_the_same(connector: Connector, state: AccountState) -> bool:
    """An account read back that is gone for every purpose: where its system puts deleted
    accounts, and granting nothing. One still enabled there, or still in a group, is an
    account with access, wherever it sits."""
    return (
        isinstance(connector, Deletable)
        and connector.counts_as_deleted(state)
        and not state.remaining_access()
    )


class Terminable(ABC):  # noqa: B024 - a capability marker with a default plan
    """Complete revocation: the connector names the steps, in its order.

    The default order cuts the way in first (password, disable, sessions,
    credentials), then strips entitlements, then archives. A connector whose
    system needs another order (VPN: revoke the certificate *before* killing
    the tunnel) overrides `termination_steps`.
    """

    def termination_steps(self, state: AccountState) -> list[StepSpec]:
        caps = type(self).capabilities()  # type: ignore[attr-defined]
        steps: list[StepSpec] = []
        # The password goes first: OpenLDAP's ppolicy clears a lock when the
        # password changes, so locking the password after disabling undoes it.
        if state.password_usable is not False and Capability.LOCK_PASSWORD in caps:
            steps.append(StepSpec(Op.LOCK_PASSWORD, description="replace the password with an unusable one"))
        if state.enabled and Capability.DISABLE in caps:
            steps.append(StepSpec(Op.DISABLE, description="disable the account"))
        if state.sessions and Capability.END_SESSIONS in caps:
            steps.append(StepSpec(Op.END_SESSIONS, description=f"end {len(state.sessions)} live session(s)"))
        if Capability.REVOKE_CREDENTIALS in caps:
            steps += [
                StepSpec(Op.REVOKE_CREDENTIAL, c.id, f"revoke {c.kind} {c.id}")
                for c in state.credentials
                if c.active
            ]
        if Capability.ENTITLE in caps:
            steps += [
                StepSpec(Op.REVOKE, str(e), f"remove {e.kind} {e.value}") for e in sorted(state.entitlements)
            ]
        if Capability.ARCHIVE in caps and self.needs_archive(state):
            steps.append(StepSpec(Op.ARCHIVE, description="move the account to the leavers area"))
        return steps

    def needs_archive(self, state: AccountState) -> bool:
        """Whether `archive` still has work to do for this account."""
        return False


_MIXINS: dict[type, Capability] = {
    Readable: Capability.READ,
    Creatable: Capability.CREATE,
    Updatable: Capability.UPDATE,
    Entitling: Capability.ENTITLE,
    Disableable: Capability.DISABLE,
    PasswordLockable: Capability.LOCK_PASSWORD,
    SessionRevocable: Capability.END_SESSIONS,
    CredentialRevocable: Capability.REVOKE_CREDENTIALS,
    Archivable: Capability.ARCHIVE,
    Terminable: Capability.TERMINATE,
    Deletable: Capability.DELETE,
    Maintainable: Capability.MAINTAIN,
}

_MIXIN_OF: dict[Capability, type] = {cap: mixin for mixin, cap in _MIXINS.items()}

#: The capability each step operation needs.
OP_CAPABILITY: dict[Op, Capability] = {
    Op.CREATE: Capability.CREATE,
    Op.UPDATE: Capability.UPDATE,
    Op.GRANT: Capability.ENTITLE,
    Op.REVOKE: Capability.ENTITLE,
    Op.ENABLE: Capability.DISABLE,
    Op.DISABLE: Capability.DISABLE,
    Op.LOCK_PASSWORD: Capability.LOCK_PASSWORD,
    Op.END_SESSIONS: Capability.END_SESSIONS,
    Op.REVOKE_CREDENTIAL: Capability.REVOKE_CREDENTIALS,
    Op.ARCHIVE: Capability.ARCHIVE,
    Op.RESTORE: Capability.ARCHIVE,
    Op.DELETE: Capability.DELETE,
}


def parse_entitlement(text: str) -> Entitlement:
    """Inverse of ``str(Entitlement)``: ``"group:cn=x,dc=y"``."""
    kind, _, value = text.partition(":")
    return Entitlement(kind, value)


def perform(connector: Connector, username: str, step: StepSpec) -> Result:
    """Run one step's operation on a connector (the engine's only dispatch).

    The planner plans only what a connector's capabilities allow, so the
    mixin an operation needs is there; a journal from another configuration
    that names one it lacks is `Unsupported`.
    """
    if step.op is Op.CREATE and connector.implicit_accounts:  # journaled before the flag existed
        return Result(Outcome.UNCHANGED, "an account here exists while it holds access")
    if not isinstance(connector, _MIXIN_OF[OP_CAPABILITY[step.op]]):
        raise Unsupported(f"{connector.name} cannot {step.op}", system=connector.name)
    c: Any = connector  # the mixin is checked just above
    result: Result
    match step.op:
        case Op.CREATE:
            result = c.create_account(username, step.payload)
        case Op.UPDATE:
            result = c.update_account(username, AttributeDelta(**step.payload))
        case Op.GRANT:
            result = c.grant(username, parse_entitlement(step.target or ""))
        case Op.REVOKE:
            result = c.revoke(username, parse_entitlement(step.target or ""))
        case Op.ENABLE:
            result = c.enable(username)
        case Op.DISABLE:
            result = c.disable(username)
        case Op.LOCK_PASSWORD:
            result = c.lock_password(username)
        case Op.END_SESSIONS:
            result = c.end_sessions(username)
        case Op.REVOKE_CREDENTIAL:
            result = c.revoke_credential(username, step.target or "")
        case Op.ARCHIVE:
            result = c.archive(username)
        case Op.RESTORE:
            result = c.restore(username)
        case Op.DELETE:
            result = c.delete_account(username)
        case _:
            raise AssertionError(f"unknown op {step.op}")
    return result
