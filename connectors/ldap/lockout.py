"""Whether OpenLDAP would enforce a ppolicy lock: the governing policy must have pwdLockout: TRUE.

slapd's ppolicy overlay refuses the binds of an entry holding
``pwdAccountLockedTime: 000001010000Z`` only when the password policy that
governs it has ``pwdLockout: TRUE`` (ppolicy.c: ``if (!pp->pwdLockout)
return 0``). The governing policy is the entry's ``pwdPolicySubentry``, else
the overlay's ``ppolicy_default``; a policy entry that is missing means no
lockout at all. With the overlay loaded and no such policy, a "disabled"
account binds as soon as it has a password it knows.

The overlay's default lives in ``cn=config`` (``olcPPolicyDefault``), which
most bind accounts cannot read; then ``disable.policy_dn`` names it, taken
on trust and said so. Answers are kept for `CACHE_SECONDS`, so a bulk read
of 100,000 accounts costs one read per policy, and a long-running
``iam serve`` sees a policy change within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import ldap3
from iam.connectors.ldap.session import LdapSession

from iam import errors
from iam.dn import norm as _norm
from iam.dn import within as _within

PPOLICY_LOCKED = "000001010000Z"  # "locked by an administrator", never expires
CONFIG_BASE = "cn=config"
CACHE_SECONDS = 60.0

#: What a password reset does to this method, said wherever the method is explained.
RESET_CAVEAT = (
    "any password change removes a ppolicy lock (slapd deletes pwdAccountLockedTime), so protect "
    "leavers with an ACL refusing their binds and password writes, e.g. on leavers_dn"
)

Attrs = Mapping[str, list[str]]


@dataclass(frozen=True)
class Default:
    """The overlay's default policy as far as iam can tell, and where that came from."""

    dn: str | None
    source: str
    #: Why entries without their own policy are not protected; "" when the default stands.
    problem: str = ""


class LockoutPolicies:
    """Finds the policy governing an entry and whether it enforces the lock, with a short memory."""

    def __init__(
        self,
        session: LdapSession,
        base_dn: str,
        accounts_filter: str,
        configured_default: str | None,
        page_size: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.page_size = page_size
        self.base_dn = base_dn
        self.accounts_filter = accounts_filter
        self.configured_default = configured_default
        self.clock = clock
        self._lock = threading.Lock()
        self._default: tuple[float, Default] | None = None
        self._faults: dict[str, tuple[float, str]] = {}

    @property
    def reader(self) -> str:
        return self.session.bind_dn or "an anonymous bind"

    def refresh(self) -> None:
        """Forget what was read: the next answer comes from the server."""
        with self._lock:
            self._default, self._faults = None, {}

    # per entry ------------------------------------------------------------------

    def fault_for(self, attrs: Attrs) -> str:
        """Why a lock on this entry would not be enforced, naming the fix; "" when it would."""
        own = attrs.get("pwdpolicysubentry")
        if own:
            return self._fault(own[0], "its pwdPolicySubentry")
        default = self.default()
        if default.problem:
            return default.problem
        assert default.dn is not None
        return self._fault(default.dn, default.source)

    def _fault(self, policy_dn: str, whose: str) -> str:
        key = _norm(policy_dn)
        with self._lock:
            cached = self._faults.get(key)
        if cached and self.clock() - cached[0] < CACHE_SECONDS:
            return cached[1]
        fault = self._read_fault(policy_dn, whose)
        with self._lock:
            self._faults[key] = (self.clock(), fault)
        return fault

    def _read_fault(self, policy_dn: str, whose: str) -> str:
        what = f"read password policy {policy_dn}"
        try:
            entry = self.session.read_entry(policy_dn, ["pwdLockout"], what)
        except (errors.NoSuchObject, errors.PermanentError):  # refused, a referral: unreadable
            entry = None
        found = [entry] if entry else []
        if not found:
            return (
                f"the lock is not enforced: password policy {policy_dn} ({whose}) does not exist or "
                f"{self.reader} cannot read it, and slapd applies no lockout without it; create it with "
                f"pwdLockout: TRUE (or let {self.reader} read it)"
            )
        if [v.upper() for v in found[0]["attrs"].get("pwdlockout", [])] != ["TRUE"]:
            return (
                f"the lock is not enforced: password policy {policy_dn} ({whose}) lacks pwdLockout: TRUE, "
                f"so slapd ignores pwdAccountLockedTime; set pwdLockout: TRUE on {policy_dn}"
            )
        return ""

    # the overlay's default ----------------------------------------------------------

    def default(self) -> Default:
        with self._lock:
            cached = self._default
        if cached and self.clock() - cached[0] < CACHE_SECONDS:
            return cached[1]
        found = self._read_default()
        with self._lock:
            self._default = (self.clock(), found)
        return found

    def _read_default(self) -> Default:
        overlay = self._overlay_in_config()
        configured = self.configured_default
        if overlay is None:
            if configured:
                return Default(
                    configured,
                    f"disable.policy_dn, taken on trust: {self.reader} cannot read the overlay's "
                    f"ppolicy_default in {CONFIG_BASE}",
                )
            return Default(
                None,
                "",
                f"the lock is not enforced as far as iam can tell: {self.reader} cannot read the ppolicy "
                f"overlay's ppolicy_default in {CONFIG_BASE}, so the policy governing entries without "
                "pwdPolicySubentry is unknown; set disable.policy_dn to that default policy's DN "
                f"(or let {self.reader} read the overlay's entry in {CONFIG_BASE})",
            )
        database, entries = overlay
        if not entries:
            return Default(
                None,
                "",
                f"the lock is not enforced: the database {database} has no ppolicy overlay "
                f"({CONFIG_BASE}), so pwdAccountLockedTime locks nothing; load the ppolicy overlay there "
                "with ppolicy_default naming a policy with pwdLockout: TRUE",
            )
        values = entries[0]["attrs"].get("olcppolicydefault", [])
        if not values:
            return Default(
                None,
                "",
                f"the lock is not enforced for entries without pwdPolicySubentry: the ppolicy overlay of "
                f"{database} has no ppolicy_default (olcPPolicyDefault); configure ppolicy_default "
                "naming a policy with pwdLockout: TRUE",
            )
        if configured and _norm(configured) != _norm(values[0]):
            return Default(
                None,
                "",
                f"disable.policy_dn {configured} is not the ppolicy overlay's default {values[0]} "
                f"(read from {CONFIG_BASE}): correct disable.policy_dn or remove it",
            )
        return Default(values[0], f"the ppolicy overlay's default, read from {CONFIG_BASE}")

    def _overlay_in_config(self) -> tuple[str, list[dict[str, Any]]] | None:
        """(the database's suffix, its ppolicy overlay entries), or None when cn=config is unreadable."""
        try:
            databases = self.session.search(
                CONFIG_BASE,
                "(olcSuffix=*)",
                ["olcSuffix"],
                setting="disable.policy_dn",
                what=f"read the databases in {CONFIG_BASE}",
            )
            serving = [
                (len(s), d["dn"], s)
                for d in databases
                for s in d["attrs"].get("olcsuffix", [])
                if _within(self.base_dn, s)
            ]
            if not serving:
                return None
            _, database_dn, suffix = max(serving)
            overlays = self.session.search(
                database_dn,
                "(objectClass=olcPPolicyConfig)",
                ["olcPPolicyDefault"],
                setting="disable.policy_dn",
                scope=ldap3.LEVEL,
                what=f"read the ppolicy overlay of {suffix} in {CONFIG_BASE}",
            )
        except (errors.NoSuchObject, errors.PermanentError):  # missing, refused, a referral: unreadable
            return None
        return suffix, overlays

    # connectors check ----------------------------------------------------------------

    def prove(self) -> str:
        """Every policy that governs accounts here enforces the lock, or raise naming each fix."""
        self.refresh()
        default = self.default()
        problems = [default.problem or self._fault(default.dn or "", default.source)]
        assigned = self._assigned()
        for policy_dn, (count, example) in sorted(assigned.items()):
            problems.append(
                self._fault(policy_dn, f"pwdPolicySubentry of {count} account(s), e.g. {example}")
            )
        problems = [p for p in problems if p]
        if problems:
            raise errors.PermanentError(
                "disable method ppolicy would not stop a bind: " + "; ".join(problems)
            )
        others = f"; {len(assigned)} other policy(ies) set by pwdPolicySubentry also lock" if assigned else ""
        return (
            f"disable: ppolicy lock enforced by {default.dn} (pwdLockout: TRUE; {default.source}){others}. "
            f"Note: {RESET_CAVEAT}"
        )

    def _assigned(self) -> dict[str, tuple[int, str]]:
        """Policies named by accounts' own pwdPolicySubentry: how many accounts, and one of them."""
        flt = f"(&{self.accounts_filter}(pwdPolicySubentry=*))"
        out: dict[str, tuple[int, str]] = {}
        for entry in self.session.search(
            self.base_dn,
            flt,
            ["pwdPolicySubentry"],
            setting="base_dn",
            page_size=self.page_size,
            what="find accounts with their own policy",
        ):
            for policy_dn in entry["attrs"].get("pwdpolicysubentry", []):
                count, example = out.get(policy_dn, (0, entry["dn"]))
                out[policy_dn] = (count + 1, example)
        return out
