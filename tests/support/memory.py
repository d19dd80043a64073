"""An in-memory connector implementing every capability: the engine's fake.

Not a mock: it keeps real state and honours the contract (idempotent
operations, typed outcomes), so engine tests prove behaviour, not calls.
Faults are injected per operation: ``fail[op] = [exc, exc, ...]`` raises
those, in order, before the operation succeeds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from iam import contract
from iam.model import AccountState, Credential, Entitlement, Outcome, Result, Session


@dataclass
class MemAccount:
    enabled: bool = True
    password_usable: bool = True
    entitlements: set[Entitlement] = field(default_factory=set)
    sessions: list[str] = field(default_factory=list)
    credentials: dict[str, bool] = field(default_factory=dict)
    archived: bool = False


class MemoryConnector(
    contract.Connector,
    contract.Readable,
    contract.Creatable,
    contract.Entitling,
    contract.Disableable,
    contract.PasswordLockable,
    contract.SessionRevocable,
    contract.CredentialRevocable,
    contract.Archivable,
    contract.Terminable,
    contract.Deletable,
):
    def __init__(self, name: str = "memory", settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, settings or {})
        self.accounts: dict[str, MemAccount] = {}
        self.fail: dict[str, list[Exception]] = {}
        self.calls: list[tuple[str, str]] = []

    def _maybe_fail(self, op: str, username: str) -> None:
        self.calls.append((op, username))
        queue = self.fail.get(op)
        if queue:
            raise queue.pop(0)

    def check(self) -> str:
        self._maybe_fail("check", "")
        return "in memory"

    def read_account(self, username: str) -> AccountState | None:
        self._maybe_fail("read", username)
        a = self.accounts.get(username)
        if a is None:
            return None
        return AccountState(
            system=self.name,
            username=username,
            ref=("archived/" if a.archived else "") + username,
            enabled=a.enabled,
            entitlements=frozenset(a.entitlements),
            sessions=tuple(Session(s) for s in a.sessions),
            credentials=tuple(Credential("token", c, active) for c, active in a.credentials.items()),
            password_usable=a.password_usable,
        )

    def iter_accounts(self) -> Iterator[AccountState]:
        for username in sorted(self.accounts):
            state = self.read_account(username)
            if state:
                yield state

    def _change(self, op: str, username: str, mutate: Any) -> Result:
        self._maybe_fail(op, username)
        a = self.accounts.get(username)
        if a is None:
            return Result(Outcome.ABSENT)
        return Result(Outcome.UPDATED if mutate(a) else Outcome.UNCHANGED)

    def create_account(self, username: str, attributes: Mapping[str, Any]) -> Result:
        self._maybe_fail("create", username)
        if username in self.accounts:
            return Result(Outcome.UNCHANGED)
        self.accounts[username] = MemAccount()
        return Result(Outcome.CREATED)

    def grant(self, username: str, entitlement: Entitlement) -> Result:
        return self._change("grant", username, lambda a: _add(a.entitlements, entitlement))

    def revoke(self, username: str, entitlement: Entitlement) -> Result:
        return self._change("revoke", username, lambda a: _discard(a.entitlements, entitlement))

    def disable(self, username: str) -> Result:
        return self._change("disable", username, lambda a: _set(a, "enabled", False))

    def enable(self, username: str) -> Result:
        return self._change("enable", username, lambda a: _set(a, "enabled", True))

    def lock_password(self, username: str) -> Result:
        return self._change("lock_password", username, lambda a: _set(a, "password_usable", False))

    def end_sessions(self, username: str) -> Result:
        def cut(a: MemAccount) -> bool:
            had = bool(a.sessions)
            a.sessions.clear()
            return had

        return self._change("end_sessions", username, cut)

    def revoke_credential(self, username: str, credential_id: str) -> Result:
        def revoke(a: MemAccount) -> bool:
            if not a.credentials.get(credential_id):
                return False
            a.credentials[credential_id] = False
            return True

        return self._change("revoke_credential", username, revoke)

    def needs_archive(self, state: AccountState) -> bool:
        return not state.ref.startswith("archived/")

    def archive(self, username: str) -> Result:
        return self._change("archive", username, lambda a: _set(a, "archived", True))

    def needs_restore(self, state: AccountState) -> bool:
        return state.ref.startswith("archived/")

    def restore(self, username: str) -> Result:
        return self._change("restore", username, lambda a: _set(a, "archived", False))

    def delete_account(self, username: str) -> Result:
        self._maybe_fail("delete", username)
        return Result(Outcome.UPDATED if self.accounts.pop(username, None) else Outcome.ABSENT)


def _add(items: set[Entitlement], item: Entitlement) -> bool:
    if item in items:
        return False
    items.add(item)
    return True


def _discard(items: set[Entitlement], item: Entitlement) -> bool:
    if item not in items:
        return False
    items.discard(item)
    return True


def _set(obj: Any, attr: str, value: Any) -> bool:
    if getattr(obj, attr) == value:
        return False
    setattr(obj, attr, value)
    return True
