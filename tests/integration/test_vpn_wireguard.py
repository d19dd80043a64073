"""The WireGuard connector against real userspace WireGuard (wireguard-go) in two network namespaces.

alice's device talks to the server through the tunnel (a UDP echo); bob
is a second peer with no device. What the connector claims is checked from
the outside: ``wg show`` on the server, the saved file, and traffic.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from iam.connectors.vpn import InvalidUsername, WireGuardConnector
from iam.connectors.vpn.wireguard import unattributed

from iam import contract, errors, sweep
from iam import store as store_module
from iam.config import Config, RetryPolicy, SystemConfig
from iam.contract import Op
from iam.model import Entitlement, Outcome
from iam.runtime import Runtime
from tests.integration.vpn_fixtures import Cleanup, WireGuardLab, require, wait_for, wg_keypair
from tests.support.conformance import MISSING, ConnectorConformance, Unreadable

VPN = Entitlement("vpn", "access")


@pytest.fixture
def lab() -> Iterator[WireGuardLab]:
    require("wg", "wireguard-go", "ip")
    cleanup = Cleanup()
    root = Path(tempfile.mkdtemp(prefix="iamwg-"))
    cleanup.add(lambda: shutil.rmtree(root, ignore_errors=True))
    try:
        world = WireGuardLab(root, cleanup)
        yield world
    finally:
        cleanup.run()


@pytest.fixture
def connector(lab: WireGuardLab) -> WireGuardConnector:
    return WireGuardConnector("wg", lab.settings())


@pytest.fixture
def holder() -> str:
    return "alice"


@pytest.fixture
def spare() -> Entitlement:
    return VPN


@pytest.fixture
def unreachable(lab: WireGuardLab) -> WireGuardConnector:
    return WireGuardConnector("wg", lab.settings(interface="wgnone0"))


@pytest.fixture
def unreadable(lab: WireGuardLab) -> Unreadable:
    """config_path names no file: without it nobody's peers are known, which is not "no peer"."""
    return Unreadable(
        WireGuardConnector("wg", lab.settings(config_path=str(lab.root / "no-such.conf"))), "config_path"
    )


class TestWireGuardConformance(ConnectorConformance):
    """Implicit accounts: the suite grants vpn:access to a newcomer, as a joiner gets a peer."""

    def test_removing_a_peer_of_a_missing_account_is_absent(
        self, connector: WireGuardConnector, lab: WireGuardLab
    ) -> None:
        assert connector.revoke_credential(MISSING, lab.bob_pub).outcome == Outcome.ABSENT


def test_termination_cuts_the_tunnel_and_survives_a_restart(
    lab: WireGuardLab, connector: WireGuardConnector
) -> None:
    wait_for(lab.reaches_server, 20, "alice's tunnel to carry traffic")
    state = connector.read_account("alice")
    assert state is not None and [s.id for s in state.sessions] == [lab.alice_pub]
    steps = connector.termination_steps(state)
    assert [(s.op, s.target) for s in steps] == [(Op.REVOKE_CREDENTIAL, lab.alice_pub)]

    assert contract.perform(connector, "alice", steps[0]).outcome == Outcome.UPDATED
    assert lab.server_peers() == {lab.bob_pub}
    saved = lab.config.read_text()
    assert f"PublicKey = {lab.alice_pub}" not in saved and f"PublicKey = {lab.bob_pub}" in saved
    assert f"# user-removed = alice {lab.alice_pub} " in saved  # history, ignored by WireGuard
    assert "PrivateKey = " + lab.server_key in lab.config.read_text()
    assert stat.S_IMODE(lab.config.stat().st_mode) == 0o600
    assert not lab.reaches_server()

    lab.restart_server()  # the saved file no longer brings alice back
    assert lab.server_peers() == {lab.bob_pub}
    assert not lab.reaches_server()

    after = connector.read_account("alice")
    assert after is not None and after.remaining_access() == [] and not after.credentials[0].active
    assert contract.perform(connector, "alice", steps[0]).outcome in (Outcome.UNCHANGED, Outcome.ABSENT)


def test_joiner_gets_a_peer_and_a_private_client_config_that_works(
    lab: WireGuardLab, connector: WireGuardConnector
) -> None:
    result = connector.grant("carol", VPN)
    assert result.outcome == Outcome.UPDATED
    client = Path(lab.settings()["profile_dir"]) / "carol.conf"  # type: ignore[arg-type]
    assert stat.S_IMODE(client.stat().st_mode) == 0o600
    fields = dict(line.split(" = ", 1) for line in client.read_text().splitlines() if " = " in line)
    assert fields["PrivateKey"] not in repr(result)
    state = connector.read_account("carol")
    assert state is not None and state.entitlements == frozenset({VPN})
    (key,) = [c.id for c in state.credentials]
    assert key in lab.server_peers() and key in lab.config.read_text()

    lab.use_client(fields["PrivateKey"], fields["Address"].replace("/32", "/24"))
    wait_for(lab.reaches_server, 20, "carol's tunnel to carry traffic")
    assert connector.grant("carol", VPN).outcome == Outcome.UNCHANGED


def test_bad_usernames_and_keys_are_refused_before_anything_runs(
    lab: WireGuardLab, connector: WireGuardConnector
) -> None:
    before = (lab.config.read_bytes(), lab.server_peers())
    for bad in ("alice\n[Peer]", "$(id)", "a b", "a/b", "'a'"):
        for call in (lambda u: connector.read_account(u), lambda u: connector.grant(u, VPN)):
            with pytest.raises(InvalidUsername):
                call(bad)
    with pytest.raises(errors.InvalidAttribute, match="not a WireGuard public key"):
        connector.revoke_credential("alice", "x; rm -rf /")
    assert (lab.config.read_bytes(), lab.server_peers()) == before


def test_peers_named_only_in_the_peers_file_are_found_and_removed(lab: WireGuardLab) -> None:
    """A peer block without a comment, tied to dan by the read-only peers_file."""
    dan_pub = wg_keypair()[1]
    lab.server.run("wg", "set", lab.server_if, "peer", dan_pub, "allowed-ips", "10.66.0.9/32")
    lab.config.write_text(
        lab.config.read_text() + f"\n[Peer]\nPublicKey = {dan_pub}\nAllowedIPs = 10.66.0.9/32\n"
    )
    peers_file = lab.root / "peers.yaml"
    peers_file.write_text(f"dan: [{dan_pub}]\nerin: not-a-key\n")
    before = peers_file.read_bytes()
    connector = WireGuardConnector("wg", lab.settings(peers_file=str(peers_file)))

    state = connector.read_account("dan")
    assert state is not None and [c.id for c in state.credentials if c.active] == [dan_pub]
    with pytest.raises(errors.IncompleteRead, match="listed for erin are not WireGuard public keys"):
        connector.read_account("erin")  # a malformed key is never used, nor taken for "no peer"
    for step in connector.termination_steps(state):
        assert contract.perform(connector, "dan", step).changed, step

    assert dan_pub not in lab.server_peers() and f"PublicKey = {dan_pub}" not in lab.config.read_text()
    assert peers_file.read_bytes() == before  # iam reads the mapping, never edits it
    after = connector.read_account("dan")
    assert after is not None and after.remaining_access() == []
    assert lab.server_peers() == {lab.alice_pub, lab.bob_pub}


def test_a_peers_file_that_does_not_exist_is_an_error_naming_it(lab: WireGuardLab) -> None:
    connector = WireGuardConnector("wg", lab.settings(peers_file=str(lab.root / "no-such-peers.yaml")))
    with pytest.raises(errors.IncompleteRead, match=r"systems\.wg\.peers_file\) does not exist"):
        connector.read_account("alice")
    with pytest.raises(errors.IncompleteRead, match="peers_file"):
        connector.check()


def test_a_wg_quick_file_keeps_its_interface_lines_and_still_loads(
    lab: WireGuardLab, connector: WireGuardConnector
) -> None:
    require("wg-quick")
    interface_lines = [
        "Address = 10.66.0.1/24, fd00:66::1/64",
        "DNS = 10.66.0.53, corp.example.org",
        "MTU = 1420",
        "Table = off",
        "PostUp = iptables -A FORWARD -i %i -j ACCEPT",
        "PostDown = iptables -D FORWARD -i %i -j ACCEPT",
    ]
    text = lab.config.read_text().replace(
        "[Interface]\n", "[Interface]\n" + "\n".join(interface_lines) + "\n", 1
    )
    lab.config.write_text(text)
    state = connector.read_account("alice")
    assert state is not None

    for step in connector.termination_steps(state):
        assert contract.perform(connector, "alice", step).changed, step

    saved = lab.config.read_text()
    assert all(line in saved for line in interface_lines)
    assert f"PublicKey = {lab.alice_pub}" not in saved
    stripped = lab.server.run("wg-quick", "strip", str(lab.config)).stdout  # what wg-quick up loads
    assert "Address" not in stripped and "PostUp" not in stripped
    plain = lab.root / "stripped.conf"
    plain.write_text(stripped)
    lab.server.run("wg", "setconf", lab.server_if, str(plain))  # accepted: a restart works
    assert lab.server_peers() == {lab.bob_pub}


def test_peers_file_usernames_are_read_as_written(lab: WireGuardLab) -> None:
    """YAML 1.1 would read 0123 as 83, no as False and 1_000 as 1000: their live peers would be nobody's."""
    keys = {}
    for n, user in enumerate(["0123", "no", "1_000"]):
        keys[user] = wg_keypair()[1]
        address = f"10.66.0.{20 + n}/32"
        lab.server.run("wg", "set", lab.server_if, "peer", keys[user], "allowed-ips", address)
        lab.config.write_text(
            lab.config.read_text() + f"\n[Peer]\nPublicKey = {keys[user]}\nAllowedIPs = {address}\n"
        )
    peers_file = lab.root / "peers.yaml"
    peers_file.write_text("".join(f"{user}: [{key}]\n" for user, key in keys.items()))
    connector = WireGuardConnector("wg", lab.settings(peers_file=str(peers_file)))

    assert {s.username for s in connector.iter_accounts()} == {"alice", "bob", *keys}
    for user, key in keys.items():
        state = connector.read_account(user)
        assert state is not None and [c.id for c in state.credentials if c.active] == [key], user
        assert connector.revoke(user, VPN).outcome == Outcome.UPDATED
    assert lab.server_peers() == {lab.alice_pub, lab.bob_pub}


def test_a_username_listed_twice_in_the_peers_file_is_an_error_naming_the_line(lab: WireGuardLab) -> None:
    """YAML keeps only the last of two equal keys: the first one's peers would be nobody's."""
    dan_pub, other_pub = wg_keypair()[1], wg_keypair()[1]
    peers_file = lab.root / "peers.yaml"
    peers_file.write_text(f"dan: [{dan_pub}]\nerin: []\ndan: [{other_pub}]\n")
    connector = WireGuardConnector("wg", lab.settings(peers_file=str(peers_file)))
    with pytest.raises(errors.IncompleteRead, match=r"peers_file\), line 3: 'dan' is listed twice"):
        connector.read_account("dan")
    with pytest.raises(errors.IncompleteRead, match="listed twice"):
        list(connector.iter_accounts())


def test_a_person_comment_that_cannot_be_read_is_an_error_naming_the_line(lab: WireGuardLab) -> None:
    """Skipped, '# user = alice (laptop)' left alice's live peer to nobody: her termination found nothing."""
    lab.config.write_text(lab.config.read_text().replace("# user = alice\n", "# user = alice (laptop)\n"))
    connector = WireGuardConnector("wg", lab.settings())
    unread = r"wg0\.conf \(systems\.wg\.config_path\), line 5, '# user = alice \(laptop\)', does not name one"
    for read in (lambda: connector.read_account("alice"), lambda: list(connector.iter_accounts())):
        with pytest.raises(errors.IncompleteRead, match=unread):
            read()
    with pytest.raises(errors.IncompleteRead, match="line 5"):
        connector.revoke("bob", VPN)  # the unread peer may be bob's: nothing is changed on a guess
    assert lab.server_peers() == {lab.alice_pub, lab.bob_pub}


def wireguard_runtime(lab: WireGuardLab, connector: WireGuardConnector, people: list[str]) -> Runtime:
    """A runtime over the lab's interface alone, ``people`` active in HR, each given vpn:access."""
    policy = lab.root / "policy.yaml"
    roles = {"remote": {"entitlements": {"wg": ["vpn:access"]}}}
    policy.write_text(yaml.safe_dump({"roles": roles, "birthright": [{"role": "remote"}]}))
    config = Config(
        path=None,
        store=str(lab.root / "iam.db"),
        audit_log=str(lab.root / "audit.jsonl"),
        retry=RetryPolicy(attempts=1, initial_wait=0.01, max_wait=0.01),
        systems=(SystemConfig("wg", "wireguard", lab.settings()),),
        policy=str(policy),
    )
    rt = Runtime(config, connectors={"wg": connector})
    rows = [
        {
            "username": user,
            "hr_id": f"H-{user}",
            "status": "active",
            "updated_at": datetime(2026, 1, 2, tzinfo=UTC),
            "attributes": {"username": user, "hr_id": f"H-{user}", "status": "active"},
        }
        for user in people
    ]
    with rt.store.engine.begin() as db:
        db.execute(sa.insert(store_module.identities), rows)
    return rt


def test_peers_tied_to_no_one_are_orphans_that_a_sweep_removes(
    lab: WireGuardLab, connector: WireGuardConnector
) -> None:
    """A saved peer with no person comment, and a peer added by hand to the interface only."""
    saved, by_hand = wg_keypair()[1], wg_keypair()[1]
    block = f"\n[Peer]\nPublicKey = {saved}\nAllowedIPs = 10.66.0.7/32\n"
    lab.config.write_text(lab.config.read_text() + block)
    lab.restart_server()
    lab.server.run("wg", "set", lab.server_if, "peer", by_hand, "allowed-ips", "10.66.0.8/32")
    nobody = {unattributed(saved), unattributed(by_hand)}

    listed = {s.username: s for s in connector.iter_accounts()}
    assert set(listed) == {"alice", "bob", *nobody}
    assert [c.id for c in listed[unattributed(by_hand)].credentials if c.active] == [by_hand]

    with wireguard_runtime(lab, connector, ["alice", "bob"]) as rt:
        result = sweep.sweep(rt, datetime.now(UTC))
        assert result.summary.errors == {}
        orphans = {f.account: f.why for f in result.findings if f.type == "orphan"}
        assert set(orphans) == nobody and f"active wireguard-key {saved}" in orphans[unattributed(saved)]
        done = sweep.remediate(rt, result, max_terminations=2)
    assert sorted(r.status for r in done.runs) == ["complete", "complete"]
    assert lab.server_peers() == {lab.alice_pub, lab.bob_pub}
    assert f"PublicKey = {saved}" not in lab.config.read_text()
    assert all(s.remaining_access() == [] for s in connector.iter_accounts() if s.username in nobody)


def test_names_match_in_any_case(lab: WireGuardLab, connector: WireGuardConnector) -> None:
    """'# user = Alice' and a peers-file 'Dan' are alice's and dan's, as their other accounts are:
    read as no one's, their terminations ended with no account here while the peers stayed live."""
    lab.config.write_text(lab.config.read_text().replace("# user = alice\n", "# user = Alice\n"))
    dan_pub = wg_keypair()[1]
    lab.server.run("wg", "set", lab.server_if, "peer", dan_pub, "allowed-ips", "10.66.0.9/32")
    peers_file = lab.root / "peers.yaml"
    peers_file.write_text(f"Dan: [{dan_pub}]\n")
    connector = WireGuardConnector("wg", lab.settings(peers_file=str(peers_file)))
    wait_for(lab.reaches_server, 20, "alice's tunnel to carry traffic")

    with wireguard_runtime(lab, connector, ["alice", "bob", "dan"]) as rt:
        result = sweep.sweep(rt, datetime.now(UTC))
    assert result.summary.errors == {} and result.summary.accounts == {"wg": 3}
    assert [f for f in result.findings if f.system == "wg"] == []  # each peer is its person's

    state = connector.read_account("alice")
    assert state is not None and [s.id for s in state.sessions] == [lab.alice_pub]
    for step in connector.termination_steps(state):
        assert contract.perform(connector, "alice", step).outcome == Outcome.UPDATED, step
    assert connector.revoke("DAN", VPN).outcome == Outcome.UPDATED
    assert lab.server_peers() == {lab.bob_pub} and not lab.reaches_server()
    assert f"PublicKey = {lab.alice_pub}" not in lab.config.read_text()
