"""How the LDAP connector disables an account, and the proof that the server enforces it.

A disable is a disable only if the server refuses the account's binds
afterwards, so each method says three things: what it writes, whether what
it finds on an entry is a disable the server enforces, and (for
`connectors check`) why this directory will enforce it:

- ``ppolicy`` (OpenLDAP): ``pwdAccountLockedTime: 000001010000Z``, enforced
  only under a password policy with ``pwdLockout: TRUE`` (`connectors.ldap.lockout`);
- ``ad``: ``userAccountControl`` ACCOUNTDISABLE, which Active Directory
  enforces itself (binds fail with ``data 533``);
- ``attribute``: a configured attribute and value. It means something only
  where the server refuses binds of entries holding it (an ACL, an
  overlay); on OpenLDAP `connectors check` proves that with a probe entry.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Mapping

import ldap3
from iam.connectors.ldap.lockout import PPOLICY_LOCKED, LockoutPolicies
from iam.connectors.ldap.session import OBJECT_CLASS_VIOLATION, SUCCESS, LdapSession
from iam.connectors.ldap.settings import DisableSettings

from iam import errors

AD_ACCOUNTDISABLE = 0x2

#: Where to read why a disable method means something, for messages.
SEE = "see 'Disabling accounts' in connectors/ldap/README.md"

Attrs = Mapping[str, list[str]]
#: Where a probe entry goes, its object class and naming attribute.
Probe = tuple[str, str, str]
Changes = dict[str, list[tuple[str, list[str]]]]


class DisableMethod(ABC):
    """One way of stopping an LDAP account from binding."""

    @abstractmethod
    def read_attributes(self) -> list[str]:
        """What to read on each account to tell whether it is disabled."""

    @abstractmethod
    def written(self, attrs: Attrs) -> bool:
        """Whether the disable is on the entry (enforced or not)."""

    def ineffective(self, attrs: Attrs) -> str:
        """Why a disable written on this entry would not stop a bind, with the fix; "" when it would."""
        return ""

    @abstractmethod
    def changes(self, attrs: Attrs, enabled: bool) -> Changes:
        """The modify that enables or disables the entry."""

    @abstractmethod
    def prove(self) -> str:
        """Why this directory enforces the disable, or raise naming what to fix."""


class PpolicyLock(DisableMethod):
    """ppolicy's administrative lock, honest about the policy that must enforce it."""

    def __init__(self, policies: LockoutPolicies) -> None:
        self.policies = policies

    def read_attributes(self) -> list[str]:
        return ["pwdAccountLockedTime", "pwdPolicySubentry"]

    def written(self, attrs: Attrs) -> bool:
        # Only the administrative lock is a disable: any other time is a
        # failed-bind lockout that expires after pwdLockoutDuration.
        return PPOLICY_LOCKED in attrs.get("pwdaccountlockedtime", [])

    def ineffective(self, attrs: Attrs) -> str:
        return self.policies.fault_for(attrs)

    def changes(self, attrs: Attrs, enabled: bool) -> Changes:
        if enabled:
            return {"pwdAccountLockedTime": [(ldap3.MODIFY_DELETE, [])]}
        return {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, [PPOLICY_LOCKED])]}

    def prove(self) -> str:
        return self.policies.prove()


class AccountDisable(DisableMethod):
    """Active Directory's ACCOUNTDISABLE flag."""

    def read_attributes(self) -> list[str]:
        return ["userAccountControl"]

    def written(self, attrs: Attrs) -> bool:
        return bool(_uac(attrs) & AD_ACCOUNTDISABLE)

    def changes(self, attrs: Attrs, enabled: bool) -> Changes:
        uac = _uac(attrs) or 512  # NORMAL_ACCOUNT
        uac = uac & ~AD_ACCOUNTDISABLE if enabled else uac | AD_ACCOUNTDISABLE
        return {"userAccountControl": [(ldap3.MODIFY_REPLACE, [str(uac)])]}

    def prove(self) -> str:
        return "disable: userAccountControl ACCOUNTDISABLE, enforced by Active Directory itself"


class AttributeFlag(DisableMethod):
    """A configured attribute and value that the server is meant to refuse binds for."""

    def __init__(self, session: LdapSession, attribute: str, value: str, probe: Probe | None) -> None:
        self.session = session
        self.attribute = attribute
        self.value = value
        #: Where and how a probe entry is made (OpenLDAP); None where none can be (AD).
        self.probe = probe

    def read_attributes(self) -> list[str]:
        return [self.attribute]

    def written(self, attrs: Attrs) -> bool:
        return self.value in attrs.get(self.attribute.lower(), [])

    def changes(self, attrs: Attrs, enabled: bool) -> Changes:
        if enabled:
            return {self.attribute: [(ldap3.MODIFY_DELETE, [])]}
        return {self.attribute: [(ldap3.MODIFY_REPLACE, [self.value])]}

    def requirement(self) -> str:
        return (
            f"the server must refuse binds of entries holding {self.attribute}={self.value} "
            f"(OpenLDAP: an ACL such as `access to attrs=userPassword "
            f"filter=({self.attribute}={self.value}) by * none` before the rules that grant auth)"
        )

    def prove(self) -> str:
        if self.probe is None:
            return self._unproven("iam cannot test it on this directory")
        return self._probe(*self.probe)

    def _unproven(self, why: str) -> str:
        return f"disable: {self.attribute}={self.value} NOT PROVEN ({why}); {self.requirement()}"

    def _probe(self, parent: str, object_class: str, naming: str) -> str:
        """Make a throwaway entry, check it binds, flag it, check it no longer binds, delete it."""
        name = f"iam-disable-probe-{secrets.token_hex(6)}"
        dn = f"{naming}={name},{parent}"
        password = secrets.token_urlsafe(24)
        what = f"prove disable.attribute with probe entry {dn}"
        try:
            self.session.add(
                dn, [object_class], {naming: name, "cn": name, "sn": name, "userPassword": password}, what
            )
        except errors.ConnectorError as exc:
            return self._unproven(f"no probe entry could be made: {exc}")
        try:
            if self.session.bind_result(dn, password, what) != SUCCESS:
                return self._unproven(f"a probe entry in {parent} cannot bind even before it is disabled")
            code = self.session.modify(dn, {self.attribute: [(ldap3.MODIFY_REPLACE, [self.value])]}, what)
            if code == OBJECT_CLASS_VIOLATION:
                raise errors.InvalidAttribute(
                    f"disable.attribute {self.attribute} cannot be set on {object_class} entries "
                    "(object class violation): choose an attribute their schema allows"
                )
            refused = self.session.bind_result(dn, password, what)
        finally:
            self.session.delete(dn, f"delete probe entry {dn}")
        if refused == SUCCESS:
            raise errors.PermanentError(
                f"disable method attribute ({self.attribute}={self.value}) is not enforced: a probe entry "
                f"holding it still binds to {self.session.url}; {self.requirement()}; {SEE}"
            )
        return (
            f"disable: {self.attribute}={self.value} proven: a probe entry holding it was refused "
            f"(LDAP {refused}) and deleted"
        )


def _uac(attrs: Attrs) -> int:
    values = attrs.get("useraccountcontrol")
    return int(values[0]) if values else 0


def disable_method(
    settings: DisableSettings, session: LdapSession, policies: LockoutPolicies, probe: Probe | None
) -> DisableMethod:
    """The configured method (``disable`` setting, already validated)."""
    if settings.method == "ppolicy":
        return PpolicyLock(policies)
    if settings.method == "ad":
        return AccountDisable()
    assert settings.attribute and settings.value  # the model requires both for this method
    return AttributeFlag(session, settings.attribute, settings.value, probe)
