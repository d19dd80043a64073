"""The OpenVPN connector against a real OpenVPN 2.6 server, real clients and a real easy-rsa PKI.

Every test gets its own PKI, server and network namespace (about 1 s to
build); what the connector claims is checked from the outside: the
management interface, the server's log and ``openssl crl``.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

import schemas
from connectors.vpn import InvalidUsername, OpenVpnConnector
from connectors.vpn.management import ManagementClient
from connectors.vpn.status import parse_status3
from iam import contract, errors
from iam.contract import Op
from iam.model import DesiredAccount, Entitlement, Outcome
from iam.plan import plan_provisioning
from iam.secrets import Secret
from tests.conftest import iam_env, run_iam
from tests.integration.openvpn_harness import (
    EASYRSA,
    MANAGEMENT_PASSWORD,
    MANAGEMENT_PORT,
    OpenVpnLab,
    easyrsa,
    open_lab,
    revoked_serials,
)
from tests.integration.vpn_fixtures import require, wait_for
from tests.support.conformance import MISSING, ConnectorConformance

pytestmark = pytest.mark.openvpn

VPN = Entitlement("vpn", "access")
REVOKED = r"VERIFY ERROR: depth=0, error=certificate revoked: CN={cn}, serial=(\d+)"
BAD_NAMES = [
    "alice\nkill all",
    "alice\r\nkill bob",
    "$(id)",
    "`id`",
    "alice bob",
    "'alice'",
    '"alice"',
    "a/b",
    "../alice",
    "-alice",
    "a;id",
    "",
    "x" * 65,
]


@pytest.fixture
def lab() -> Iterator[OpenVpnLab]:
    require("openvpn", "ip", "openssl", EASYRSA)
    world = open_lab("alice", "bob")
    yield world
    world.cleanup.run()


@pytest.fixture
def connected(lab: OpenVpnLab) -> OpenVpnLab:
    """alice and bob both have a live tunnel."""
    lab.start_client("alice")
    lab.start_client("bob")
    lab.wait_connected("alice", "bob")
    return lab


@pytest.fixture
def connector(lab: OpenVpnLab) -> Iterator[OpenVpnConnector]:
    conn = OpenVpnConnector("vpn", lab.settings())
    yield conn
    conn.close()


# --- the conformance suite every connector passes --------------------------------


@pytest.fixture
def holder() -> str:
    return "alice"


@pytest.fixture
def spare() -> Entitlement:
    return VPN


@pytest.fixture
def unreachable(lab: OpenVpnLab) -> OpenVpnConnector:
    return OpenVpnConnector("vpn", lab.settings(management=str(lab.root / "no-such.sock"), timeout=1))


class TestOpenVpnConformance(ConnectorConformance):
    def test_grant_and_revoke_are_idempotent(
        self, connector: OpenVpnConnector, holder: str, spare: Entitlement
    ) -> None:
        """vpn:access is the only entitlement, and alice holds it: carol (no certificate) takes her turn."""
        super().test_grant_and_revoke_are_idempotent(connector, "carol", spare)

    def test_operations_on_a_missing_account_are_absent(
        self, connector: OpenVpnConnector, spare: Entitlement
    ) -> None:
        """Granting to someone unknown is how a joiner gets a certificate, so only revocations are absent."""
        for step in (contract.StepSpec(Op.REVOKE, str(spare)), contract.StepSpec(Op.END_SESSIONS)):
            assert contract.perform(connector, MISSING, step).outcome == Outcome.ABSENT, step
        assert connector.revoke_credential(MISSING, "ABCDEF").outcome == Outcome.ABSENT


# --- termination, from the outside ------------------------------------------------


def test_termination_revokes_first_then_kills_and_the_client_is_refused(
    connected: OpenVpnLab, connector: OpenVpnConnector
) -> None:
    lab = connected
    bob_before = lab.live("bob")
    state = connector.read_account("alice")
    assert state is not None and len(state.sessions) == 1
    steps = connector.termination_steps(state)
    assert [s.op for s in steps] == [Op.REVOKE_CREDENTIAL, Op.END_SESSIONS]

    for step in steps:
        assert contract.perform(connector, "alice", step).outcome == Outcome.UPDATED, step

    serial = steps[0].target
    assert serial in revoked_serials(lab.crl)
    assert lab.live("alice") is None
    # alice's client notices the dead tunnel, reconnects, and the new CRL refuses her certificate
    refused = wait_for(lambda: re.search(REVOKED.format(cn="alice"), lab.server_log()), 30, "alice refused")
    assert serial is not None and int(refused.group(1)) == int(serial, 16)
    assert lab.live("alice") is None
    bob_after = lab.live("bob")
    assert bob_after is not None and bob_before is not None and bob_after.client_id == bob_before.client_id
    assert not re.search(REVOKED.format(cn="bob"), lab.server_log())

    after = connector.read_account("alice")
    assert after is not None and after.remaining_access() == []
    assert connector.termination_steps(after) == []
    for step in steps:  # a second termination changes nothing
        assert contract.perform(connector, "alice", step).outcome == Outcome.UNCHANGED, step


def test_offboarding_with_the_cli_is_complete_verified_and_repeatable(connected: OpenVpnLab) -> None:
    lab = connected
    system = {**lab.settings(), "type": "openvpn", "management_password": {"env": "IAM_TEST_VPN_PASSWORD"}}
    config = lab.root / "iam.yaml"
    config.write_text(
        yaml.safe_dump(
            {"store": "state/iam.db", "audit_log": "state/audit.jsonl", "systems": {"vpn": system}}
        )
    )
    env = iam_env({"IAM_TEST_VPN_PASSWORD": MANAGEMENT_PASSWORD})
    args = ("--config", str(config), "offboard", "alice", "--reason", "resigned", "--yes", "--format", "json")

    first = run_iam(*args, env=env)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    schemas.validate(report, "run-report")
    (vpn,) = report["systems"]
    assert report["status"] == "complete" and vpn["remaining"] == []
    assert [(s["op"], s["outcome"]) for s in vpn["steps"]] == [
        ("revoke_credential", "updated"),
        ("end_sessions", "updated"),
    ]
    assert lab.live("alice") is None and lab.live("bob") is not None
    assert vpn["steps"][0]["target"] in revoked_serials(lab.crl)

    second = run_iam(*args, env=env)
    assert second.returncode == 0 and json.loads(second.stdout)["systems"][0]["steps"] == []
    assert MANAGEMENT_PASSWORD not in (lab.root / "state" / "audit.jsonl").read_text()


def test_a_tunnel_killed_before_revocation_comes_back(
    connected: OpenVpnLab, connector: OpenVpnConnector
) -> None:
    """Why the order matters: with the certificate still valid, the killed client simply reconnects."""
    first = connected.live("alice")
    assert connector.end_sessions("alice").outcome == Outcome.UPDATED
    assert connected.live("alice") is None
    back = wait_for(lambda: connected.live("alice"), 30, "alice to reconnect")
    assert first is not None and back.client_id != first.client_id


def test_revoking_vpn_access_also_cuts_the_tunnel(connected: OpenVpnLab, connector: OpenVpnConnector) -> None:
    result = connector.revoke("bob", VPN)
    assert result.outcome == Outcome.UPDATED and "1 tunnel(s) killed" in result.detail
    assert connected.live("bob") is None and connected.live("alice") is not None
    assert connector.revoke("bob", VPN).outcome == Outcome.UNCHANGED


def test_a_revocation_whose_crl_was_never_installed_still_counts_as_access(
    lab: OpenVpnLab, connector: OpenVpnConnector
) -> None:
    """easy-rsa revoked alice but nobody ran gen-crl: the server lets her in; iam says so and fixes it."""
    easyrsa(lab.pki, "revoke", "alice")
    state = connector.read_account("alice")
    assert state is not None and state.enabled and [c.id for c in state.credentials if c.active]
    (step,) = connector.termination_steps(state)
    assert contract.perform(connector, "alice", step).outcome == Outcome.UPDATED
    assert step.target in revoked_serials(lab.crl)
    assert stat.S_IMODE(lab.crl.stat().st_mode) == 0o644  # the server must still be able to read it


# --- joiner ------------------------------------------------------------------------


def test_joiner_gets_a_certificate_and_a_private_profile_that_connects(
    lab: OpenVpnLab, connector: OpenVpnConnector
) -> None:
    result = connector.grant("carol", VPN)
    assert result.outcome == Outcome.UPDATED
    profile = lab.profiles / "carol.ovpn"
    assert stat.S_IMODE(profile.stat().st_mode) == 0o600
    assert stat.S_IMODE(lab.profiles.stat().st_mode) == 0o700
    key_lines = _pem_body(lab.pki / "private" / "carol.key")
    assert key_lines and all(line in profile.read_text() for line in key_lines)
    assert not any(line in repr(result) for line in key_lines) and "PRIVATE KEY" not in repr(result)

    lab.start_client("carol", profile)
    lab.wait_connected("carol")
    state = connector.read_account("carol")
    assert state is not None and state.entitlements == frozenset({VPN}) and len(state.sessions) == 1
    assert connector.grant("carol", VPN).outcome == Outcome.UNCHANGED
    profile.unlink()  # a grant cut short after issuing: granting again writes the profile again
    again = connector.grant("carol", VPN)
    assert again.outcome == Outcome.UPDATED and "rewritten" in again.detail
    assert stat.S_IMODE(profile.stat().st_mode) == 0o600


def test_rehire_gets_a_new_certificate_after_termination(
    lab: OpenVpnLab, connector: OpenVpnConnector
) -> None:
    old = connector.read_account("alice")
    assert old is not None
    for step in connector.termination_steps(old):
        contract.perform(connector, "alice", step)
    assert connector.grant("alice", VPN).outcome == Outcome.UPDATED
    new = connector.read_account("alice")
    assert new is not None and new.enabled
    assert {c.id for c in new.credentials if c.active}.isdisjoint({c.id for c in old.credentials})


# --- bad input and errors ------------------------------------------------------------


def test_bad_usernames_are_refused_before_anything_runs(
    connected: OpenVpnLab, connector: OpenVpnConnector
) -> None:
    lab = connected
    before = (lab.pki.joinpath("index.txt").read_bytes(), lab.crl.read_bytes(), lab.status())
    calls = [
        lambda u: connector.read_account(u),
        lambda u: connector.grant(u, VPN),
        lambda u: connector.revoke(u, VPN),
        lambda u: connector.revoke_credential(u, "ABCDEF"),
        lambda u: connector.end_sessions(u),
    ]
    for bad in BAD_NAMES:
        for call in calls:
            with pytest.raises(InvalidUsername, match="invalid VPN username") as caught:
                call(bad)
            assert isinstance(caught.value, errors.InputError)
            assert isinstance(caught.value, errors.InvalidAttribute) and not caught.value.retryable
    assert (lab.pki.joinpath("index.txt").read_bytes(), lab.crl.read_bytes(), lab.status()) == before
    assert "MANAGEMENT: CMD 'kill" not in lab.server_log()
    assert not list((lab.pki / "issued").glob("*id*"))


def test_the_server_certificate_is_never_taken_for_a_person(
    lab: OpenVpnLab, connector: OpenVpnConnector
) -> None:
    index = lab.pki.joinpath("index.txt").read_bytes()
    for call in (connector.read_account, connector.end_sessions, lambda u: connector.revoke(u, VPN)):
        with pytest.raises(InvalidUsername, match="server certificate"):
            call("server")
    assert lab.pki.joinpath("index.txt").read_bytes() == index
    assert "server" not in {s.username for s in connector.iter_accounts()}


def test_an_unknown_entitlement_is_unsupported(connector: OpenVpnConnector) -> None:
    with pytest.raises(errors.Unsupported, match="only vpn:access"):
        connector.grant("alice", Entitlement("group", "admins"))


def test_the_management_client_reads_the_real_server_through_its_log_notifications(lab: OpenVpnLab) -> None:
    """With ``log on``, >LOG lines stream in between replies while alice connects."""
    with ManagementClient(lab.socket, password=Secret(MANAGEMENT_PASSWORD, "test"), timeout=5) as mgmt:
        assert mgmt.notifications[0].source == "INFO"
        assert mgmt.command("version", multiline=True).lines[-1].startswith("Management Version")
        assert mgmt.command("log on").ok
        lab.start_client("alice")

        def alice_up() -> bool:
            rows = parse_status3(mgmt.command("status 3", multiline=True).lines)
            return any(r.common_name == "alice" and r.live for r in rows)

        wait_for(alice_up, 20, "alice to connect")
        assert any(n.source == "LOG" and "alice" in n.text for n in mgmt.notifications)
        missing = mgmt.command("kill nobody")
        assert not missing.ok and "not found" in missing.message
        assert not mgmt.command("status 9", multiline=True).ok


def test_a_wrong_management_password_is_an_authentication_failure(lab: OpenVpnLab) -> None:
    for password in (Secret("not-the-password", "test"), None):
        settings = lab.settings(management_password=password)
        if password is None:
            del settings["management_password"]
        with pytest.raises(errors.AuthenticationFailed) as caught:
            OpenVpnConnector("vpn", settings).read_account("alice")
        assert "not-the-password" not in str(caught.value)
    assert "OpenVPN" in OpenVpnConnector("vpn", lab.settings()).check()


def test_a_failing_easyrsa_is_a_permanent_error_without_secrets(lab: OpenVpnLab) -> None:
    (lab.pki / "private" / "carol.key").write_text("left over by hand\n")  # easy-rsa refuses to overwrite
    connector = OpenVpnConnector("vpn", lab.settings())
    with pytest.raises(errors.AlreadyExists, match=r"carol\.key"):
        connector.grant("carol", VPN)
    broken = OpenVpnConnector("vpn", lab.settings(easyrsa=str(lab.root / "no-easyrsa")))
    with pytest.raises(errors.PermanentError, match="cannot run"):
        broken.grant("carol", VPN)


def test_bulk_read_lists_people_not_servers(connected: OpenVpnLab, connector: OpenVpnConnector) -> None:
    accounts = {s.username: s for s in connector.iter_accounts()}
    assert set(accounts) == {"alice", "bob"}
    assert all(s.enabled and len(s.sessions) == 1 for s in accounts.values())


def _pem_body(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith("-----")]


# --- implicit accounts: a joiner is granted into being --------------------------------


def test_a_joiner_is_planned_as_a_grant_only_and_ends_with_a_valid_certificate(
    lab: OpenVpnLab, connector: OpenVpnConnector
) -> None:
    assert connector.implicit_accounts and contract.Capability.CREATE not in connector.capabilities()
    desired = {"vpn": DesiredAccount(frozenset({VPN}), {"given_name": "Carol"})}
    states = {"vpn": connector.read_account("carol")}
    plan = plan_provisioning("joiner", "carol", desired, states, {"vpn": connector})
    assert plan.errors == {}
    assert [(s.spec.op, s.spec.target) for s in plan.steps] == [(Op.GRANT, "vpn:access")]
    assert contract.perform(connector, "carol", plan.steps[0].spec).outcome == Outcome.UPDATED
    state = connector.read_account("carol")
    assert state is not None and state.enabled and [c for c in state.credentials if c.active]


# --- the CRL kept alive ------------------------------------------------------------------


def test_a_crl_near_its_end_is_renewed_keeping_every_revocation(lab: OpenVpnLab) -> None:
    plain = OpenVpnConnector("vpn", lab.settings())
    bob_laptop = lab.client_config("bob")  # his copy of the files, kept after easy-rsa moves them
    assert plain.revoke("bob", VPN).outcome == Outcome.UPDATED
    bob_serial = next(iter(revoked_serials(lab.crl)))
    old = plain.pki.crl_info(lab.crl).next_update
    assert old is not None
    # seen from 10 days before the CRL's next update: within the 30-day margin
    late = OpenVpnConnector("vpn", lab.settings(crl_days=400), clock=lambda: old - timedelta(days=10))

    result = late.maintain()

    assert result.outcome == Outcome.UPDATED and "CRL renewed" in result.detail
    new = plain.pki.crl_info(lab.crl).next_update
    assert new is not None and new > old + timedelta(days=200)
    assert revoked_serials(lab.crl) == {bob_serial}
    lab.start_client("alice")
    lab.start_client("bob", bob_laptop)
    lab.wait_connected("alice")  # the server reads the renewed CRL and still lets valid people in
    wait_for(lambda: re.search(REVOKED.format(cn="bob"), lab.server_log()), 30, "bob refused")
    assert lab.live("bob") is None


def test_a_crl_far_from_its_end_is_left_alone_and_a_missing_one_is_installed(lab: OpenVpnLab) -> None:
    connector = OpenVpnConnector("vpn", lab.settings())
    before = lab.crl.read_bytes()
    result = connector.maintain()
    assert result.outcome == Outcome.UNCHANGED and "valid until" in result.detail
    assert lab.crl.read_bytes() == before
    lab.crl.unlink()
    assert connector.maintain().outcome == Outcome.UPDATED
    assert lab.crl.exists() and stat.S_IMODE(lab.crl.stat().st_mode) == 0o644


# --- a CA key under a passphrase --------------------------------------------------------

CA_PASSPHRASE = "ca-S3cret-passphrase"


@pytest.fixture
def locked_ca() -> Iterator[OpenVpnLab]:
    require("openvpn", "ip", "openssl", EASYRSA)
    world = open_lab("alice", ca_passphrase=CA_PASSPHRASE)
    yield world
    world.cleanup.run()


def test_a_passphrase_protected_ca_issues_and_revokes(locked_ca: OpenVpnLab) -> None:
    assert "ENCRYPTED" in (locked_ca.pki / "private" / "ca.key").read_text()
    connector = OpenVpnConnector("vpn", locked_ca.settings())
    granted = connector.grant("carol", VPN)
    assert granted.outcome == Outcome.UPDATED
    revoked = connector.revoke("carol", VPN)
    assert revoked.outcome == Outcome.UPDATED and CA_PASSPHRASE not in repr((granted, revoked))
    assert len(revoked_serials(locked_ca.crl)) == 1


def test_a_wrong_ca_passphrase_fails_clearly_changes_nothing_is_never_shown(locked_ca: OpenVpnLab) -> None:
    wrong = "not-the-ca-" + "passphrase"
    connector = OpenVpnConnector("vpn", locked_ca.settings(ca_passphrase=Secret(wrong, "test")))
    index, crl = (locked_ca.pki / "index.txt").read_bytes(), locked_ca.crl.read_bytes()
    for call in (lambda: connector.revoke("alice", VPN), lambda: connector.grant("dave", VPN)):
        with pytest.raises(errors.AuthenticationFailed) as caught:
            call()
        assert wrong not in str(caught.value) and CA_PASSPHRASE not in str(caught.value)
    assert (locked_ca.pki / "index.txt").read_bytes() == index and locked_ca.crl.read_bytes() == crl
    assert connector.read_account("alice") is not None and connector.read_account("alice").enabled


# --- the management interface over TCP ---------------------------------------------------


def test_offboarding_over_tcp_management_from_inside_the_servers_namespace() -> None:
    """iam runs on the VPN host and reaches management on 127.0.0.1 (the namespace's loopback)."""
    require("openvpn", "ip", "openssl", EASYRSA)
    lab = open_lab("alice", "bob", tcp_management=True)
    try:
        lab.start_client("alice")
        lab.start_client("bob")
        system = {
            **lab.settings(management={"host": "127.0.0.1", "port": MANAGEMENT_PORT}),
            "type": "openvpn",
            "management_password": {"env": "IAM_TEST_VPN_PASSWORD"},
        }
        config = lab.root / "iam.yaml"
        files = {"store": "iam.db", "audit_log": "audit.jsonl"}
        config.write_text(yaml.safe_dump({**files, "systems": {"vpn": system}}))

        def iam_inside(*args: str, password: str = MANAGEMENT_PASSWORD) -> subprocess.CompletedProcess[str]:
            env = iam_env({"IAM_TEST_VPN_PASSWORD": password})
            inside = ["ip", "netns", "exec", lab.netns.name, sys.executable, "-m", "iam"]
            command = [*inside, "--config", str(config), *args]
            return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

        wrong = iam_inside("status", "alice", "--format", "json", password="wrong-" + "password")
        assert wrong.returncode == 3 and "wrong-password" not in wrong.stdout + wrong.stderr
        (seen,) = json.loads(wrong.stdout)["systems"]
        assert seen["result"] == "error" and "password" in seen["error"]

        def alice_seen() -> bool:
            return '"client-id' in iam_inside("status", "alice", "--format", "json").stdout

        wait_for(alice_seen, 30, "alice's tunnel seen over TCP")
        done = iam_inside("offboard", "alice", "--reason", "left", "--yes", "--format", "json")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["status"] == "complete"
        assert [s["op"] for s in report["systems"][0]["steps"]] == ["revoke_credential", "end_sessions"]
        wait_for(lambda: re.search(REVOKED.format(cn="alice"), lab.server_log()), 30, "alice refused")
        assert "MANAGEMENT: Client connected from [AF_INET]127.0.0.1" in lab.server_log()
    finally:
        lab.cleanup.run()


# --- a certificate easy-rsa cannot revoke by name -------------------------------------------


def test_a_certificate_outside_issued_fails_with_the_manual_command_and_nothing_else_moves(
    lab: OpenVpnLab, connector: OpenVpnConnector
) -> None:
    state = connector.read_account("alice")
    assert state is not None
    serial = next(c.id for c in state.credentials if c.active)
    (lab.pki / "issued" / "alice.crt").rename(lab.root / "alice-moved.crt")  # e.g. archived by hand
    index, crl = (lab.pki / "index.txt").read_bytes(), lab.crl.read_bytes()

    with pytest.raises(errors.PermanentError, match=r"openssl ca -revoke .*certs_by_serial") as caught:
        connector.revoke_credential("alice", serial)

    assert serial in str(caught.value)
    assert (lab.pki / "index.txt").read_bytes() == index and lab.crl.read_bytes() == crl
    after = connector.read_account("alice")
    assert after is not None and after.enabled  # still reported as access, so the run ends partial
    assert connector.revoke_credential("bob", _serial_of(connector, "bob")).outcome == Outcome.UPDATED


def _serial_of(connector: OpenVpnConnector, username: str) -> str:
    state = connector.read_account(username)
    assert state is not None
    return next(c.id for c in state.credentials if c.active)
