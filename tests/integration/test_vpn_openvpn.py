"""The OpenVPN connector against a real OpenVPN 2.6 server, real clients and a real easy-rsa PKI.

Every test gets its own PKI, server and network namespace (about 1 s to
build); what the connector (or the ``iam`` CLI) claims is checked from the
outside: the management interface, the server's log, ``openssl crl`` and
``openssl verify``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from iam.connectors.vpn import InvalidUsername, OpenVpnConnector
from iam.connectors.vpn.boundary import CommandRefused
from iam.connectors.vpn.management import ManagementClient
from iam.connectors.vpn.status import parse_status3

from iam import contract, errors
from iam.contract import Op
from iam.model import Entitlement, Outcome
from iam.secrets import Secret
from tests.integration.openvpn_harness import (
    EASYRSA,
    MANAGEMENT_PASSWORD,
    MANAGEMENT_PORT,
    OpenVpnLab,
    crl_window,
    easyrsa,
    open_lab,
    revoked_serials,
    verifies,
)
from tests.integration.vpn_fixtures import require, wait_for
from tests.support import schemas
from tests.support.company import person, write_feed
from tests.support.conformance import MISSING, ConnectorConformance, MaintainableConformance, Unreadable

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


@pytest.fixture
def unreadable(lab: OpenVpnLab) -> Unreadable:
    """pki_dir names a directory with no PKI: no index to read is not "no certificate"."""
    return Unreadable(OpenVpnConnector("vpn", lab.settings(pki_dir=str(lab.root / "no-such-pki"))), "pki_dir")


class TestOpenVpnConformance(ConnectorConformance, MaintainableConformance):
    """Implicit accounts: the suite grants vpn:access to a newcomer, as a joiner gets a certificate."""

    def test_revoking_a_certificate_of_a_missing_account_is_absent(self, connector: OpenVpnConnector) -> None:
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
    # bob is untouched: his certificate still accepted and his tunnel up (on a loaded machine his
    # client may time out and reconnect by itself, under a new client id: wait for the tunnel, not an id)
    assert bob_before is not None
    lab.wait_connected("bob")
    assert not re.search(REVOKED.format(cn="bob"), lab.server_log())

    after = connector.read_account("alice")
    assert after is not None and after.remaining_access() == []
    assert connector.termination_steps(after) == []
    for step in steps:  # a second termination changes nothing
        assert contract.perform(connector, "alice", step).outcome == Outcome.UNCHANGED, step


def test_a_damaged_index_line_is_an_error_never_a_certificate_less(
    lab: OpenVpnLab, connector: OpenVpnConnector
) -> None:
    """alice's valid certificate on a line that cannot be read must not make her look certificate-less."""
    index = lab.pki / "index.txt"
    lines = index.read_text().splitlines(keepends=True)
    (at,) = [n for n, line in enumerate(lines) if line.rstrip("\n").endswith("/CN=alice")]
    status, expires, revoked, _serial, *rest = lines[at].split("\t")
    lines[at] = "\t".join([status, expires, revoked, "not-a-serial", *rest])
    index.write_text("".join(lines))
    with pytest.raises(errors.IncompleteRead, match=rf"index\.txt line {at + 1} is not an index line"):
        connector.read_account("alice")
    with pytest.raises(errors.IncompleteRead):
        connector.check()


def test_offboarding_with_the_cli_is_complete_verified_and_repeatable(connected: OpenVpnLab) -> None:
    lab = connected
    config = lab.iam_config()
    args = ("offboard", "alice", "--reason", "resigned", "--yes", "--format", "json")

    first = lab.iam(config, *args)
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

    second = lab.iam(config, *args)
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


def _serial_of(connector: OpenVpnConnector, username: str) -> str:
    state = connector.read_account(username)
    assert state is not None
    return next(c.id for c in state.credentials if c.active)


def _serial_of_file(cert: Path) -> str:
    """A certificate's serial as ``openssl x509`` prints it, leading zeros dropped."""
    args = ["openssl", "x509", "-in", str(cert), "-noout", "-serial"]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=30).stdout
    return out.strip().partition("=")[2].upper().lstrip("0")


def _tree(root: Path, *ignore: str) -> dict[str, bytes]:
    """Every file under ``root`` with its content (iam's own lock file and ``ignore`` aside)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in {".iam.lock", *ignore}
    }


# --- implicit accounts: a joiner is granted into being --------------------------------


def test_a_joiner_run_plans_a_grant_only_and_ends_with_a_valid_certificate(lab: OpenVpnLab) -> None:
    """HR's feed brings carol, whose role holds vpn:access: the run is one grant (no create), verified."""
    config = lab.iam_config()
    feed = write_feed(lab.root / "feed.csv", [person("E9", "carol", "Engineering")])

    planned = lab.iam(config, "hr", "sync", str(feed), "--dry-run", "--format", "json")
    done = lab.iam(config, "hr", "sync", str(feed), "--format", "json")

    assert planned.returncode == 0 and done.returncode == 0, planned.stderr + done.stderr
    (would,) = json.loads(planned.stdout)["events"]
    (event,) = json.loads(done.stdout)["events"]
    assert (would["type"], would["status"], event["status"]) == ("joiner", "would apply", "applied")
    for run, outcome in ((would["run"], None), (event["run"], "updated")):
        (vpn,) = run["systems"]
        assert [(s["op"], s["target"], s["outcome"]) for s in vpn["steps"]] == [
            ("grant", "vpn:access", outcome)
        ]
    assert event["run"]["status"] == "complete"
    cert = lab.pki / "issued" / "carol.crt"
    assert verifies(cert, lab.pki / "ca.crt", lab.crl)  # judged by openssl, as the server will
    (held,) = event["run"]["systems"][0]["account"]["credentials"]
    assert held["active"] and held["id"] == _serial_of_file(cert)
    lab.start_client("carol", lab.profiles / "carol.ovpn")
    lab.wait_connected("carol")


# --- the CRL kept alive ------------------------------------------------------------------


def test_run_due_renews_a_short_lived_crl_and_keeps_every_revocation(lab: OpenVpnLab) -> None:
    """A CRL made for 2 days (crl_days) is renewed by `iam run-due`; nobody revoked comes back."""
    short = OpenVpnConnector("vpn", lab.settings(crl_days=2, crl_renew_days=1))
    bob_laptop = lab.client_config("bob")  # his copy of the files, kept after easy-rsa moves them
    assert short.grant("carol", VPN).outcome == Outcome.UPDATED
    for user in ("bob", "carol"):
        assert short.revoke(user, VPN).outcome == Outcome.UPDATED
    revoked = revoked_serials(lab.crl)
    last, old_end = crl_window(lab.crl)
    assert len(revoked) == 2 and old_end - last == timedelta(days=2)  # EASYRSA_CRL_DAYS reached gen-crl
    config = lab.iam_config(crl_days=400)

    renewed = lab.iam(config, "run-due", "--format", "json")

    assert renewed.returncode == 0, renewed.stderr
    (upkeep,) = json.loads(renewed.stdout)["maintenance"]
    assert (upkeep["system"], upkeep["outcome"]) == ("vpn", "updated") and "CRL renewed" in upkeep["detail"]
    last, new_end = crl_window(lab.crl)
    assert new_end - last == timedelta(days=400) and new_end > old_end
    assert revoked_serials(lab.crl) == revoked
    assert stat.S_IMODE(lab.crl.stat().st_mode) == 0o644
    lab.start_client("alice")
    lab.start_client("bob", bob_laptop)
    lab.wait_connected("alice")  # the server reads the renewed CRL and still lets valid people in
    wait_for(lambda: re.search(REVOKED.format(cn="bob"), lab.server_log()), 30, "bob refused")
    assert lab.live("bob") is None

    before = lab.crl.read_bytes()
    again = lab.iam(config, "run-due", "--format", "json")
    assert again.returncode == 0 and json.loads(again.stdout)["maintenance"][0]["outcome"] == "unchanged"
    assert lab.crl.read_bytes() == before


def test_maintain_renews_only_within_crl_renew_days_and_installs_a_missing_crl(lab: OpenVpnLab) -> None:
    """Judged by the connector's clock against the installed CRL's next update."""
    end = crl_window(lab.crl)[1]
    before = lab.crl.read_bytes()
    for days, clock in ((30, end - timedelta(days=30, minutes=1)), (10, end - timedelta(days=10, minutes=1))):
        early = OpenVpnConnector("vpn", lab.settings(crl_renew_days=days), clock=lambda c=clock: c)
        result = early.maintain()
        assert result.outcome == Outcome.UNCHANGED and f"valid until {end:%Y-%m-%d %H:%M}" in result.detail
        assert lab.crl.read_bytes() == before

    due = OpenVpnConnector("vpn", lab.settings(), clock=lambda: end - timedelta(days=29, hours=23))
    assert due.maintain().outcome == Outcome.UPDATED
    assert lab.crl.read_bytes() != before and crl_window(lab.crl)[1] >= end

    lab.crl.unlink()
    assert OpenVpnConnector("vpn", lab.settings()).maintain().outcome == Outcome.UPDATED
    assert lab.crl.exists() and stat.S_IMODE(lab.crl.stat().st_mode) == 0o644
    assert verifies(lab.pki / "issued" / "alice.crt", lab.pki / "ca.crt", lab.crl)


# --- a CA key under a passphrase --------------------------------------------------------

CA_PASSPHRASE = "ca-S3cret-passphrase"


@pytest.fixture
def openssl_argv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A log of every openssl command line run from now on (a wrapper first on PATH records it)."""
    log, real = tmp_path / "openssl-argv.jsonl", shutil.which("openssl")
    wrapper = tmp_path / "bin" / "openssl"
    wrapper.parent.mkdir()
    wrapper.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f"with open({str(log)!r}, 'a') as out:\n    out.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"os.execv({real!r}, [{real!r}, *sys.argv[1:]])\n"
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    return log


@pytest.fixture
def locked_ca(openssl_argv: Path) -> Iterator[OpenVpnLab]:
    require("openvpn", "ip", "openssl", EASYRSA)
    world = open_lab("alice", ca_passphrase=CA_PASSPHRASE)
    yield world
    world.cleanup.run()


def test_a_passphrase_protected_ca_issues_revokes_and_renews_with_the_passphrase_on_no_command_line(
    locked_ca: OpenVpnLab, openssl_argv: Path
) -> None:
    assert "ENCRYPTED" in (locked_ca.pki / "private" / "ca.key").read_text()
    connector = OpenVpnConnector("vpn", locked_ca.settings())
    granted = connector.grant("carol", VPN)
    revoked = connector.revoke("carol", VPN)
    renewed = OpenVpnConnector("vpn", locked_ca.settings(crl_renew_days=1000)).maintain()

    assert [r.outcome for r in (granted, revoked, renewed)] == [Outcome.UPDATED] * 3
    assert CA_PASSPHRASE not in repr((granted, revoked, renewed))
    assert len(revoked_serials(locked_ca.crl)) == 1
    assert verifies(locked_ca.pki / "issued" / "alice.crt", locked_ca.pki / "ca.crt", locked_ca.crl)
    argv = [json.loads(line) for line in openssl_argv.read_text().splitlines()]
    passin = [a[a.index("-passin") + 1] for a in argv if "-passin" in a]
    assert len(passin) >= 4 and all(p.startswith("env:") for p in passin)  # sign, revoke, 2 CRLs
    assert not any(CA_PASSPHRASE in arg for a in argv for arg in a)  # the PKI's build included


def test_a_wrong_ca_passphrase_fails_clearly_changes_nothing_and_is_never_shown(
    locked_ca: OpenVpnLab,
) -> None:
    wrong = "not-the-ca-" + "passphrase"
    connector = OpenVpnConnector(
        "vpn", locked_ca.settings(ca_passphrase=Secret(wrong, "test"), crl_renew_days=1000)
    )
    # easy-rsa draws the next random serial before it signs: that file alone may change
    pki, crl = _tree(locked_ca.pki, "serial"), locked_ca.crl.read_bytes()
    for call in (
        lambda: connector.revoke("alice", VPN),
        lambda: connector.grant("dave", VPN),
        connector.maintain,
    ):
        with pytest.raises(errors.AuthenticationFailed, match="check ca_passphrase") as caught:
            call()
        assert wrong not in str(caught.value) and CA_PASSPHRASE not in str(caught.value)
    assert (
        _tree(locked_ca.pki, "serial") == pki and locked_ca.crl.read_bytes() == crl
    )  # no half-made dave either
    state = connector.read_account("alice")
    assert state is not None and state.enabled

    config = locked_ca.iam_config()
    run = locked_ca.iam(
        config,
        "--debug",
        "offboard",
        "alice",
        "--reason",
        "left",
        "--yes",
        "--format",
        "json",
        ca_passphrase=wrong,
    )
    assert run.returncode == 3, run.stderr
    (vpn,) = json.loads(run.stdout)["systems"]
    assert vpn["result"] != "complete" and "check ca_passphrase" in vpn["steps"][0]["error"]
    state_dir = locked_ca.root / "state"
    seen = [run.stdout, run.stderr, *(p.read_bytes().decode("latin-1") for p in state_dir.iterdir())]
    assert not any(wrong in text or CA_PASSPHRASE in text for text in seen)
    assert _tree(locked_ca.pki, "serial") == pki and locked_ca.crl.read_bytes() == crl
    assert OpenVpnConnector("vpn", locked_ca.settings()).grant("dave", VPN).outcome == Outcome.UPDATED


# --- the management interface over TCP ---------------------------------------------------


def test_management_over_tcp_reads_and_kills_tunnels_and_refuses_a_wrong_password() -> None:
    """iam runs on the VPN host and reaches management on 127.0.0.1 (the namespace's loopback)."""
    require("openvpn", "ip", "openssl", EASYRSA)
    lab = open_lab("alice", "bob", tcp_management=True)
    try:
        lab.start_client("alice")
        lab.start_client("bob")
        config = lab.iam_config(management={"host": "127.0.0.1", "port": MANAGEMENT_PORT})

        wrong = lab.iam(config, "status", "alice", "--format", "json", password="wrong-pw", inside=True)
        assert wrong.returncode == 3 and "wrong-pw" not in wrong.stdout + wrong.stderr
        (seen,) = json.loads(wrong.stdout)["systems"]
        assert seen["result"] == "error" and "rejected the management password" in seen["error"]

        def account(user: str) -> dict[str, Any] | None:
            """What status reads of ``user``; None while it cannot read (the management interface
            takes one client at a time: a loaded machine may still hold the previous one): poll again."""
            out = lab.iam(config, "status", user, "--format", "json", inside=True)
            if out.returncode != 0:
                return None
            return dict(json.loads(out.stdout)["systems"][0]["account"])

        def sessions(user: str) -> list[str] | None:
            seen = account(user)
            return None if seen is None else list(seen["sessions"])  # "client-id N"

        wait_for(lambda: sessions("alice") and sessions("bob"), 30, "both tunnels seen over TCP")
        done = lab.iam(
            config, "offboard", "alice", "--reason", "left", "--yes", "--format", "json", inside=True
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["status"] == "complete"
        assert [(s["op"], s["outcome"]) for s in report["systems"][0]["steps"]] == [
            ("revoke_credential", "updated"),
            ("end_sessions", "updated"),
        ]
        wait_for(lambda: sessions("alice") == [], 30, "alice's tunnel read as gone")
        # bob is untouched: his certificate still valid, his tunnel up (a loaded machine may make his
        # client reconnect on its own, under a new client id: wait for the tunnel, not for one id)
        wait_for(lambda: sessions("bob"), 30, "bob's tunnel still up")
        bob = wait_for(lambda: account("bob"), 30, "bob's account read")
        assert [c["active"] for c in bob["credentials"]] == [True]
        wait_for(lambda: re.search(REVOKED.format(cn="alice"), lab.server_log()), 30, "alice refused")
        assert "MANAGEMENT: Client connected from [AF_INET]127.0.0.1" in lab.server_log()
    finally:
        lab.cleanup.run()


# --- a certificate easy-rsa cannot revoke by name -------------------------------------------


def test_a_certificate_outside_issued_fails_with_a_manual_command_that_works(
    lab: OpenVpnLab, connector: OpenVpnConnector
) -> None:
    serial = _serial_of(connector, "alice")
    (lab.pki / "issued" / "alice.crt").rename(lab.root / "alice-moved.crt")  # e.g. archived by hand
    pki, crl = _tree(lab.pki), lab.crl.read_bytes()

    for call in (
        lambda: connector.revoke_credential("alice", serial),
        lambda: connector.revoke("alice", VPN),
    ):
        with pytest.raises(CommandRefused, match=r"iam left it valid.*`openssl ca -config") as caught:
            call()
        assert serial in str(caught.value)
    assert _tree(lab.pki) == pki and lab.crl.read_bytes() == crl
    state = connector.read_account("alice")
    assert state is not None and state.enabled  # still reported as access, so a run ends partial

    manual = re.search(r"`(openssl ca [^`]+)`", str(caught.value))
    assert manual is not None
    subprocess.run(shlex.split(manual.group(1)), check=True, capture_output=True, timeout=30)
    assert connector.revoke_credential("alice", serial).outcome == Outcome.UPDATED  # iam again: the CRL
    assert serial in revoked_serials(lab.crl)


def _reissued_by_hand(lab: OpenVpnLab, user: str) -> tuple[Path, Path]:
    """Move ``user``'s certificate and key out of the PKI and issue a new pair; return the old files."""
    old = lab.root / f"{user}-old.crt", lab.root / f"{user}-old.key"
    (lab.pki / "issued" / f"{user}.crt").rename(old[0])
    (lab.pki / "private" / f"{user}.key").rename(old[1])
    (lab.pki / "reqs" / f"{user}.req").unlink()
    easyrsa(lab.pki, "build-client-full", user, "nopass")
    return old


def test_revoking_vpn_access_still_revokes_what_it_can_when_one_certificate_is_out_of_reach(
    lab: OpenVpnLab, connector: OpenVpnConnector
) -> None:
    old = _reissued_by_hand(lab, "alice")
    new_serial = _serial_of_file(lab.pki / "issued" / "alice.crt")

    with pytest.raises(CommandRefused, match=_serial_of_file(old[0])):
        connector.revoke("alice", VPN)

    assert revoked_serials(lab.crl) == {new_serial}  # installed before the error was raised
    state = connector.read_account("alice")
    assert state is not None and [c.id for c in state.credentials if c.active] == [_serial_of_file(old[0])]


def test_an_offboarding_with_an_unrevocable_certificate_revokes_the_rest_and_ends_partial(
    lab: OpenVpnLab,
) -> None:
    """alice's old certificate was moved out of issued/ and a new one made: the run does what it can."""
    old = _reissued_by_hand(lab, "alice")
    old_serial, new_serial = _serial_of_file(old[0]), _serial_of_file(lab.pki / "issued" / "alice.crt")
    lab.start_client("alice", lab.client_config("alice", *old))  # her laptop holds the old one
    lab.start_client("bob")
    first = lab.wait_connected("alice", "bob")
    config = lab.iam_config()
    args = ("offboard", "alice", "--reason", "left", "--yes", "--format", "json")

    partial = lab.iam(config, *args)

    assert partial.returncode == 3, partial.stderr
    report = json.loads(partial.stdout)
    assert report["status"] == "partial"
    steps = {(s["op"], s["target"]): s for s in report["systems"][0]["steps"]}
    assert steps[("revoke_credential", old_serial)]["status"] == "failed"
    assert "openssl ca -config" in steps[("revoke_credential", old_serial)]["error"]
    assert steps[("revoke_credential", new_serial)]["outcome"] == "updated"
    assert steps[("end_sessions", None)]["outcome"] == "updated"
    assert revoked_serials(lab.crl) == {new_serial}
    assert any(old_serial in item for item in report["systems"][0]["remaining"])
    back = lab.wait_connected("alice")["alice"]  # honest: her old certificate still works
    assert back.client_id != first["alice"].client_id
    lab.wait_connected("bob")  # untouched (a reconnect of his own under load keeps his certificate)
    assert first["bob"] and not re.search(REVOKED.format(cn="bob"), lab.server_log())

    manual = re.search(r"`(openssl ca [^`]+)`", steps[("revoke_credential", old_serial)]["error"])
    assert manual is not None
    subprocess.run(shlex.split(manual.group(1)), check=True, capture_output=True, timeout=30)
    again = lab.iam(config, *args)

    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"] == "complete"
    assert revoked_serials(lab.crl) == {old_serial, new_serial}
    assert lab.live("alice") is None
    wait_for(lambda: re.search(REVOKED.format(cn="alice"), lab.server_log()), 30, "alice refused")
    assert lab.live("bob") is not None


def test_a_certificate_whose_cn_differs_in_case_is_the_persons(lab: OpenVpnLab) -> None:
    """CN=Carol is carol's, as her directory and SSO accounts are: read as no one's, offboarding
    carol ended with no account here (which counts toward complete) while her tunnel stayed up."""
    easyrsa(lab.pki, "build-client-full", "Carol", "nopass")
    lab.start_client("Carol")
    lab.wait_connected("Carol")
    connector = OpenVpnConnector("vpn", lab.settings())
    listed = {s.username: s for s in connector.iter_accounts()}
    assert set(listed) == {"alice", "bob", "carol"} and listed["carol"].ref == "CN=Carol"
    assert len(listed["carol"].sessions) == 1  # a sweep gives carol's tunnel to carol
    with pytest.raises(InvalidUsername, match="server certificate"):
        connector.read_account("Server")  # the server's certificate is never a person's, in any case

    run = lab.iam(lab.iam_config(), "offboard", "carol", "--reason", "left", "--yes", "--format", "json")
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    (vpn,) = report["systems"]
    assert report["status"] == "complete" and vpn["remaining"] == []
    assert [(s["op"], s["outcome"]) for s in vpn["steps"]] == [
        ("revoke_credential", "updated"),
        ("end_sessions", "updated"),
    ]
    assert vpn["steps"][0]["target"] in revoked_serials(lab.crl)
    wait_for(lambda: re.search(REVOKED.format(cn="Carol"), lab.server_log()), 30, "Carol refused")
    assert lab.live("Carol") is None
