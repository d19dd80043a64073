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
from pathlib import Path

import pytest

from connectors.vpn import InvalidUsername, WireGuardConnector
from iam import contract, errors
from iam.contract import Op
from iam.model import Entitlement, Outcome
from tests.integration.vpn_fixtures import Cleanup, WireGuardLab, require, wait_for
from tests.support.conformance import MISSING, ConnectorConformance

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


class TestWireGuardConformance(ConnectorConformance):
    def test_grant_and_revoke_are_idempotent(
        self, connector: WireGuardConnector, holder: str, spare: Entitlement
    ) -> None:
        """vpn:access is the only entitlement, and alice holds it: carol (no peer) takes her turn."""
        super().test_grant_and_revoke_are_idempotent(connector, "carol", spare)

    def test_operations_on_a_missing_account_are_absent(
        self, connector: WireGuardConnector, spare: Entitlement
    ) -> None:
        """Granting to someone unknown is how a joiner gets a peer, so only revocations are absent."""
        assert contract.perform(connector, MISSING, contract.StepSpec(Op.REVOKE, str(spare))).outcome == (
            Outcome.ABSENT
        )


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
