"""Shared pieces of the VPN integration tests: network namespaces, processes, polling.

Every server and client runs inside a network namespace the test creates,
so tun devices, addresses and ports never touch the host; the namespace and
every process are removed by the fixture's finalizer, whatever the test did.
Waiting is always for a condition with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from iam.lab.openvpn import Process as Proc
from iam.lab.waiting import wait_for


def require(*tools: str) -> None:
    """Skip (fail in CI) when a tool is missing or we are not root (namespaces need root)."""
    missing = [t for t in tools if shutil.which(t) is None]
    reason = ""
    if missing:
        reason = f"{', '.join(missing)} not installed (apt-get install openvpn easy-rsa wireguard-tools)"
    elif os.geteuid() != 0:
        reason = "needs root to create network namespaces"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


class Netns:
    """A throwaway network namespace with loopback up."""

    def __init__(self, prefix: str = "iamvpn") -> None:
        self.name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True, timeout=10)
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True, timeout=10)

    def run(self, *args: str, check: bool = True, timeout: float = 10) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.name, *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False, timeout=10, capture_output=True)


class Cleanup:
    """Things to stop at the end of a test, in reverse order of creation."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def add(self, undo: Callable[[], None]) -> None:
        self._undo.append(undo)

    def run(self) -> None:
        errors = []
        for undo in reversed(self._undo):
            try:
                undo()
            except Exception as exc:  # keep cleaning; report at the end
                errors.append(exc)
        self._undo.clear()
        if errors:
            raise errors[0]


# --- WireGuard: two namespaces joined by a veth pair, wireguard-go on each side ----------------

ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data, peer)
"""

PROBE = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(float(sys.argv[3]))
s.sendto(b"ping", (sys.argv[1], int(sys.argv[2])))
try:
    s.recvfrom(2048)
except OSError:
    sys.exit(1)
"""

WG_PORT = 51820
ECHO_PORT = 7777
SERVER_IP = "10.66.0.1"
UNDERLAY = ("192.168.77.1", "192.168.77.2")


def wg_keypair() -> tuple[str, str]:
    private = subprocess.run(["wg", "genkey"], capture_output=True, text=True, check=True, timeout=10).stdout
    public = subprocess.run(
        ["wg", "pubkey"], input=private, capture_output=True, text=True, check=True, timeout=10
    )
    return private.strip(), public.stdout.strip()


class WireGuardLab:
    """A server interface holding peers for alice (a real client) and bob, and one client side."""

    def __init__(self, root: Path, cleanup: Cleanup) -> None:
        self.root, self.cleanup = root, cleanup
        tag = uuid.uuid4().hex[:6]
        # wireguard-go's control sockets live in /var/run/wireguard for every namespace: unique names
        self.server_if, self.client_if = f"wgs{tag}", f"wgc{tag}"
        self.server, self.client = Netns("iamwgs"), Netns("iamwgc")
        cleanup.add(self.server.delete)
        cleanup.add(self.client.delete)
        veth = ["link", "add", "vs", "type", "veth", "peer", "name", "vc", "netns", self.client.name]
        subprocess.run(["ip", "-n", self.server.name, *veth], check=True, timeout=10)
        for ns, dev, ip in ((self.server, "vs", UNDERLAY[0]), (self.client, "vc", UNDERLAY[1])):
            ns.run("ip", "addr", "add", f"{ip}/24", "dev", dev)
            ns.run("ip", "link", "set", dev, "up")
        self._daemon(self.server, self.server_if)
        self._daemon(self.client, self.client_if)
        self.server_key, self.server_pub = wg_keypair()
        self.alice_key, self.alice_pub = wg_keypair()
        self.bob_pub = wg_keypair()[1]
        self.config = root / "wg0.conf"
        self.config.write_text(
            f"[Interface]\nPrivateKey = {self.server_key}\nListenPort = {WG_PORT}\n\n"
            f"# user = alice\n[Peer]\nPublicKey = {self.alice_pub}\nAllowedIPs = 10.66.0.2/32\n\n"
            f"[Peer]\n# user = bob\nPublicKey = {self.bob_pub}\nAllowedIPs = 10.66.0.3/32\n"
        )
        self.config.chmod(0o600)
        self.restart_server()
        self.server.run("ip", "addr", "add", f"{SERVER_IP}/24", "dev", self.server_if)
        self.server.run("ip", "link", "set", self.server_if, "up")
        echo_args = [sys.executable, "-c", ECHO, SERVER_IP, str(ECHO_PORT)]
        echo = Proc(["ip", "netns", "exec", self.server.name, *echo_args], root / "echo.log")
        cleanup.add(echo.stop)
        self.use_client(self.alice_key, "10.66.0.2/24")

    def _daemon(self, ns: Netns, interface: str) -> None:
        env = dict(os.environ, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD="1")
        proc = Proc(
            ["ip", "netns", "exec", ns.name, "wireguard-go", "-f", interface],
            self.root / f"{interface}.log",
            env,
        )
        self.cleanup.add(proc.stop)
        wait_for(lambda: Path(f"/var/run/wireguard/{interface}.sock").exists(), 10, f"{interface} to come up")

    def restart_server(self) -> None:
        """Load the saved configuration as a restart would (``wg setconf`` replaces every peer)."""
        self.server.run("wg", "setconf", self.server_if, str(self.config))

    def use_client(self, private_key: str, address: str) -> None:
        """Make the client side a given person's device: their key and address."""
        key_file = self.root / "client.key"
        key_file.write_text(private_key + "\n")
        key_file.chmod(0o600)
        self.client.run("ip", "addr", "flush", "dev", self.client_if)
        peer = [
            "peer",
            self.server_pub,
            "endpoint",
            f"{UNDERLAY[0]}:{WG_PORT}",
            "allowed-ips",
            "10.66.0.0/24",
        ]
        self.client.run("wg", "set", self.client_if, "private-key", str(key_file), *peer)
        self.client.run("wg", "set", self.client_if, "peer", self.server_pub, "persistent-keepalive", "1")
        self.client.run("ip", "addr", "add", address, "dev", self.client_if)
        self.client.run("ip", "link", "set", self.client_if, "up")

    def reaches_server(self, wait: float = 1.0) -> bool:
        """One UDP echo through the tunnel, answered within ``wait`` seconds or not at all."""
        probe = self.client.run(
            sys.executable, "-c", PROBE, SERVER_IP, str(ECHO_PORT), str(wait), check=False, timeout=wait + 10
        )
        return probe.returncode == 0

    def server_peers(self) -> set[str]:
        return set(self.server.run("wg", "show", self.server_if, "peers").stdout.split())

    def settings(self, **overrides: object) -> dict[str, object]:
        return {
            "interface": self.server_if,
            "config_path": str(self.config),
            "netns": self.server.name,
            "address_pool": "10.66.0.0/24",
            "endpoint": f"{UNDERLAY[0]}:{WG_PORT}",
            "profile_dir": str(self.root / "profiles"),
            "timeout": 10,
            **overrides,
        }
