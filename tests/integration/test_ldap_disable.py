"""A disable is a disable only where slapd enforces it: each method proven against real slapds.

Every test starts a slapd configured one way (a policy without pwdLockout,
no ppolicy_default, cn=config hidden, an ACL or none) and checks from
outside, with real binds, what the connector claims.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest
from iam.connectors.ldap import LdapConnector

from iam import contract, errors
from iam.model import Outcome
from iam.secrets import Secret
from tests.support.slapd import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    BASE_DN,
    DEFAULT_POLICY,
    Slapd,
    add_person,
    seed_base,
    slapd_available,
)

PASSWORD = "alice-Passw0rd"
WEAK_POLICY = f"cn=weak,ou=policies,{BASE_DN}"


@pytest.fixture
def make_slapd(tmp_path: Path) -> Iterator:
    """Start a slapd configured as asked, seeded with alice (password `PASSWORD`)."""
    if not slapd_available():
        pytest.skip("slapd is not installed (run scripts/test, which installs it)")
    started: list[Slapd] = []

    def start(lockout: bool = True, **config: object) -> Slapd:
        server = Slapd(tmp_path / f"slapd{len(started)}", **config)  # type: ignore[arg-type]
        server.start()
        started.append(server)
        conn = server.admin()
        seed_base(conn, lockout=lockout)
        add_person(conn, "alice", PASSWORD)
        conn.unbind()
        return server

    yield start
    for server in started:
        server.stop()


def connector(server: Slapd, **overrides: object) -> LdapConnector:
    settings = {
        "url": server.url,
        "start_tls": False,
        "base_dn": BASE_DN,
        "bind_dn": ADMIN_DN,
        "bind_password": Secret(ADMIN_PASSWORD, "test"),
        "users_dn": f"ou=people,{BASE_DN}",
        "groups_dn": f"ou=groups,{BASE_DN}",
        "timeout": 5,
        **overrides,
    }
    return LdapConnector("directory", settings)


def alice_dn() -> str:
    return f"uid=alice,ou=people,{BASE_DN}"


def binds(server: Slapd, dn: str, password: str) -> bool:
    conn = ldap3.Connection(ldap3.Server("127.0.0.1", port=server.port, get_info=ldap3.NONE), dn, password)
    try:
        return bool(conn.bind())
    finally:
        conn.unbind()


def admin_modify(server: Slapd, dn: str, changes: dict[str, object]) -> None:
    conn = server.admin()
    assert conn.modify(dn, changes), conn.result
    conn.unbind()


def lock_from_outside(server: Slapd, dn: str) -> None:
    admin_modify(server, dn, {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, ["000001010000Z"])]})


# ppolicy ------------------------------------------------------------------------------------


def test_a_default_policy_with_lockout_read_from_cn_config_proves_the_disable(make_slapd) -> None:
    server = make_slapd()
    detail = connector(server).check()
    assert f"ppolicy lock enforced by {DEFAULT_POLICY}" in detail and "cn=config" in detail
    assert "any password change removes a ppolicy lock" in detail


def test_a_default_policy_without_pwdlockout_fails_check_and_the_disable(make_slapd) -> None:
    server = make_slapd(lockout=False)
    conn = connector(server)

    with pytest.raises(errors.PermanentError, match=f"set pwdLockout: TRUE on {DEFAULT_POLICY}"):
        conn.check()
    with pytest.raises(errors.PermanentError, match=f"set pwdLockout: TRUE on {DEFAULT_POLICY}"):
        conn.disable("alice")

    state = conn.read_account("alice")
    assert state is not None and state.enabled
    assert state.remaining_access() == [
        f"account is enabled: the lock is not enforced: password policy {DEFAULT_POLICY} (the ppolicy "
        "overlay's default, read from cn=config) lacks pwdLockout: TRUE, so slapd ignores "
        f"pwdAccountLockedTime; set pwdLockout: TRUE on {DEFAULT_POLICY}"
    ]
    assert "disable" not in [s.op for s in conn.termination_steps(state)]  # writing it again changes nothing
    # the danger: the lock is on the entry, and the account logs in anyway
    assert binds(server, alice_dn(), PASSWORD)


def test_once_the_policy_locks_the_same_entry_is_disabled(make_slapd) -> None:
    server = make_slapd(lockout=False)
    with pytest.raises(errors.PermanentError):
        connector(server).disable("alice")
    admin_modify(server, DEFAULT_POLICY, {"pwdLockout": [(ldap3.MODIFY_REPLACE, ["TRUE"])]})

    fixed = connector(server)  # a new run reads the policy again
    assert fixed.disable("alice").outcome == Outcome.UNCHANGED  # the lock written before now holds
    state = fixed.read_account("alice")
    assert state is not None and not state.enabled and state.disable_ineffective == ""
    assert not binds(server, alice_dn(), PASSWORD)


def test_without_ppolicy_default_check_says_to_configure_it(make_slapd) -> None:
    server = make_slapd(ppolicy_default=False)
    with pytest.raises(errors.PermanentError, match="configure ppolicy_default"):
        connector(server).check()
    lock_from_outside(server, alice_dn())
    assert binds(server, alice_dn(), PASSWORD)
    state = connector(server).read_account("alice")
    assert state is not None and state.enabled and "no ppolicy_default" in state.disable_ineffective


def test_an_unreadable_cn_config_needs_policy_dn_and_says_it_is_taken_on_trust(make_slapd) -> None:
    server = make_slapd(config_readable=False)
    with pytest.raises(errors.PermanentError, match=r"set disable\.policy_dn"):
        connector(server).check()

    trusted = connector(server, disable={"method": "ppolicy", "policy_dn": DEFAULT_POLICY})
    assert "taken on trust" in trusted.check()
    assert trusted.disable("alice").outcome == Outcome.UPDATED
    assert not binds(server, alice_dn(), PASSWORD)


def test_a_policy_dn_other_than_the_overlays_default_is_refused(make_slapd) -> None:
    server = make_slapd()
    other = connector(server, disable={"method": "ppolicy", "policy_dn": WEAK_POLICY})
    with pytest.raises(errors.PermanentError, match=f"is not the ppolicy overlay's default {DEFAULT_POLICY}"):
        other.check()


def test_an_entry_governed_by_its_own_weak_policy_is_found_by_check_and_by_reading(make_slapd) -> None:
    server = make_slapd()
    conn = server.admin()
    conn.add(WEAK_POLICY, ["person", "pwdPolicy"], {"cn": "weak", "sn": "p", "pwdAttribute": "userPassword"})
    bob = add_person(conn, "bob", "bob-Passw0rd")
    conn.unbind()
    admin_modify(server, bob, {"pwdPolicySubentry": [(ldap3.MODIFY_REPLACE, [WEAK_POLICY])]})

    with pytest.raises(errors.PermanentError, match=f"pwdPolicySubentry of 1 account.*e.g. {bob}"):
        connector(server).check()
    c = connector(server)
    assert c.disable("alice").outcome == Outcome.UPDATED
    with pytest.raises(errors.PermanentError, match=f"set pwdLockout: TRUE on {WEAK_POLICY}"):
        c.disable("bob")
    assert not binds(server, alice_dn(), PASSWORD) and binds(server, bob, "bob-Passw0rd")
    states = {s.username: s for s in c.iter_accounts()}
    assert not states["alice"].enabled and states["bob"].enabled


def test_a_lockout_after_failed_binds_is_not_a_disable(make_slapd) -> None:
    """Only ppolicy's administrative lock is permanent; any other time expires with pwdLockoutDuration."""
    server = make_slapd()
    admin_modify(server, alice_dn(), {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, ["20200101000000Z"])]})
    state = connector(server).read_account("alice")
    assert state is not None and state.enabled
    assert [s.op for s in connector(server).termination_steps(state)].count("disable") == 1


def test_any_password_change_lifts_a_ppolicy_lock_even_with_pwdlockout(make_slapd) -> None:
    """The slapd fact the README and `connectors check` warn about (ppolicy deletes the lock)."""
    server = make_slapd()
    assert connector(server).disable("alice").outcome == Outcome.UPDATED
    assert not binds(server, alice_dn(), PASSWORD)
    admin_modify(server, alice_dn(), {"userPassword": [(ldap3.MODIFY_REPLACE, ["reset-by-helpdesk"])]})
    assert binds(server, alice_dn(), "reset-by-helpdesk")
    state = connector(server).read_account("alice")
    assert state is not None and state.enabled


# a configured attribute --------------------------------------------------------------------------

FLAG = {"method": "attribute", "attribute": "employeeType", "value": "disabled"}
ACL = (
    "access to attrs=userPassword filter=(employeeType=disabled)\n  by * none\n"
    "access to attrs=userPassword\n  by self write\n  by anonymous auth\n  by * none\n"
    "access to * by * read\n"
)


def probes_left(server: Slapd) -> list[str]:
    conn = server.admin()
    conn.search(BASE_DN, "(uid=iam-disable-probe-*)", attributes=["uid"])
    found = [e.entry_dn for e in conn.entries]
    conn.unbind()
    return found


def test_an_attribute_the_server_refuses_binds_for_is_proven_by_a_probe(make_slapd) -> None:
    server = make_slapd(access=ACL)
    c = connector(server, disable=FLAG)
    assert "employeeType=disabled proven" in c.check()
    assert probes_left(server) == []
    assert c.disable("alice").outcome == Outcome.UPDATED
    assert not binds(server, alice_dn(), PASSWORD)


def test_an_attribute_nothing_enforces_fails_check_naming_the_acl(make_slapd) -> None:
    server = make_slapd()
    acl = re.escape("filter=(employeeType=disabled) by * none")
    with pytest.raises(errors.PermanentError, match=f"not enforced.*{acl}"):
        connector(server, disable=FLAG).check()
    assert probes_left(server) == []
    connector(server, disable=FLAG).disable("alice")
    assert binds(server, alice_dn(), PASSWORD)  # what the check warned of


def test_an_attribute_the_schema_does_not_allow_fails_check(make_slapd) -> None:
    server = make_slapd(access=ACL)
    flag = {"method": "attribute", "attribute": "gidNumber", "value": "1"}  # posixAccount's only
    with pytest.raises(errors.InvalidAttribute, match="cannot be set on inetOrgPerson entries"):
        connector(server, disable=flag).check()
    assert probes_left(server) == []


HELPDESK = f"cn=helpdesk,{BASE_DN}"
LEAVERS_ACL = (
    f'access to dn.subtree="ou=leavers,{BASE_DN}" attrs=userPassword\n  by * none\n'
    f'access to attrs=userPassword\n  by dn.exact="{HELPDESK}" write\n  by anonymous auth\n  by * none\n'
    f'access to * by dn.exact="{HELPDESK}" write by * read\n'
)


def test_the_readme_acl_on_leavers_dn_keeps_a_terminated_account_shut_through_a_reset(make_slapd) -> None:
    """What README advises against a reset lifting the ppolicy lock, checked on slapd."""
    server = make_slapd(access=LEAVERS_ACL)
    conn = server.admin()
    conn.add(
        HELPDESK, ["person", "simpleSecurityObject"], {"cn": "helpdesk", "sn": "h", "userPassword": "hd-pw"}
    )
    conn.unbind()
    c = connector(server, leavers_dn=f"ou=leavers,{BASE_DN}")
    for step in c.termination_steps(c.read_account("alice")):
        assert contract.perform(c, "alice", step).changed, step
    leaver = f"uid=alice,ou=leavers,{BASE_DN}"

    helpdesk = ldap3.Connection(
        ldap3.Server("127.0.0.1", port=server.port, get_info=ldap3.NONE), HELPDESK, "hd-pw", auto_bind=True
    )
    assert not helpdesk.modify(leaver, {"userPassword": [(ldap3.MODIFY_REPLACE, ["helpdesk-Reset-1"])]})
    assert helpdesk.result["description"] == "insufficientAccessRights"
    helpdesk.unbind()
    assert not binds(server, leaver, PASSWORD) and not binds(server, leaver, "helpdesk-Reset-1")
    state = c.read_account("alice")
    assert state is not None and state.remaining_access() == []
