"""The demo's VPN: a real OpenVPN 2.6 server and Ada's real client, on a PKI made on the spot.

A tun device needs a network namespace of the demo's own, so nothing on the
host changes: as root a throwaway ``ip netns``; otherwise an unprivileged
user namespace (``unshare --user --map-root-user --net``) where the kernel
and ``/dev/net/tun`` allow it. Without either, or without ``openvpn`` and
``easy-rsa``, the demo runs without a VPN and says why. The server listens
on the namespace's loopback; iam reaches it the way it reaches a production
server: the PKI directory, the CRL file and the management socket.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path

from iam.lab.waiting import wait_for

from iam.secrets import Secret

EASYRSA = "/usr/share/easy-rsa/easyrsa"
PORT = 1194
MANAGEMENT_PASSWORD = "demo-vpn-management-" + "pw"
CLIENT_EXTRA = ("connect-retry 1 1", "ifconfig-noexec", "route-noexec")
SERVER_CONF = """\
mode server
tls-server
dev tun
proto udp4
local 127.0.0.1
port {port}
topology subnet
server {subnet} 255.255.255.0
ca {pki}/ca.crt
cert {pki}/issued/server.crt
key {pki}/private/server.key
dh none
crl-verify {crl}
management {management}
keepalive 1 3
verb 3
"""


class Unavailable(Exception):
    """Why this machine cannot run the demo's VPN (shown to the user, never fatal)."""


class Process:
    """A background process logging to a file; stopped by its own pid, never by name."""

    def __init__(self, args: list[str], log: Path, env: Mapping[str, str] | None = None) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.popen = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)


def easyrsa(pki: Path, *args: str, passphrase: str | None = None) -> None:
    """Run easy-rsa in batch mode with EC keys (fast); a CA passphrase goes through the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EASYRSA")}
    env.update(EASYRSA_BATCH="1", EASYRSA_ALGO="ec", EASYRSA_PKI=str(pki))
    if passphrase is not None:
        env.update(
            DEMO_CA_PASS=passphrase, EASYRSA_PASSIN="env:DEMO_CA_PASS", EASYRSA_PASSOUT="env:DEMO_CA_PASS"
        )
    done = subprocess.run([EASYRSA, *args], env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise Unavailable(f"easy-rsa {args[0]} failed: {done.stderr.strip()[-300:]}")


def server_config(pki: Path, crl: Path, management: str, port: int = PORT, subnet: str = "10.77.0.0") -> str:
    """An OpenVPN server on loopback that reads its CRL at every connection."""
    return SERVER_CONF.format(port=port, subnet=subnet, pki=pki, crl=crl, management=management)


def network_namespace(stack: ExitStack, root: Path) -> tuple[list[str], str]:
    """A command prefix that runs inside a fresh network namespace, and what it is."""
    if os.geteuid() == 0:
        name = f"iamdemo-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True, timeout=10)
        stack.callback(subprocess.run, ["ip", "netns", "del", name], capture_output=True, timeout=10)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, timeout=10)
        return ["ip", "netns", "exec", name], f"network namespace {name}"
    if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
        raise Unavailable("/dev/net/tun is not usable without root (run the demo as root for the VPN)")
    holder = Process(
        ["unshare", "--user", "--map-root-user", "--net", "sh", "-c", "ip link set lo up && exec sleep 3600"],
        root / "namespace.log",
    )
    stack.callback(holder.stop)
    prefix = ["nsenter", f"--target={holder.popen.pid}", "--user", "--net", "--preserve-credentials"]

    def ready() -> bool:
        if holder.popen.poll() is not None:
            raise Unavailable(f"no unprivileged user namespace here: {holder.text().strip()[-200:]}")
        probe = subprocess.run([*prefix, "ip", "-br", "link"], capture_output=True, text=True, timeout=10)
        return "UP" in probe.stdout or "UNKNOWN" in probe.stdout

    wait_for(ready, 10, "user namespace")
    return prefix, "an unprivileged user and network namespace"


class VpnFiles:
    """Where a throwaway OpenVPN world keeps its files, all under ``root``."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def crl(self) -> Path:
        """The CRL the server reads (``crl-verify``)."""
        return self.root / "crl.pem"

    @property
    def socket(self) -> str:
        """The management socket (short: a unix socket path holds at most 107 bytes)."""
        return str(self.root / "mgmt.sock")


class DemoVpn(VpnFiles):
    """The PKI, the server and Ada's client, all under one temporary directory."""

    def __init__(self, stack: ExitStack) -> None:
        missing = [t for t in ("openvpn", "ip") if shutil.which(t) is None]
        if not Path(EASYRSA).exists():
            missing.append("easy-rsa")
        if missing:
            needed = "apt-get install openvpn easy-rsa iproute2"
            raise Unavailable(f"{', '.join(missing)} not installed ({needed})")
        # Short: a unix socket path holds at most 107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="iamdemo-vpn-"))
        stack.callback(shutil.rmtree, self.root, ignore_errors=True)
        self.stack = stack
        self.prefix, self.where = network_namespace(stack, self.root)
        self.server: Process | None = None
        self.client: Process | None = None

    def settings(self, profiles: Path) -> dict[str, object]:
        """The `openvpn` system's settings, as a deployment's configuration would hold them."""
        return {
            "easyrsa": EASYRSA,
            "pki_dir": str(self.pki),
            "crl_path": str(self.crl),
            "management": self.socket,
            "management_password": Secret(MANAGEMENT_PASSWORD, "demo"),
            "key_algo": "ec",
            "profile_dir": str(profiles),
            "remote": "127.0.0.1",
            "port": PORT,
            "proto": "udp4",
            "profile_extra": list(CLIENT_EXTRA),
            "timeout": 10,
            "command_timeout": 60,
        }

    def start(self) -> None:
        """A CA, the server's certificate, an empty CRL, and the server itself."""
        easyrsa(self.pki, "init-pki")
        easyrsa(self.pki, "build-ca", "nopass")
        easyrsa(self.pki, "build-server-full", "server", "nopass")
        easyrsa(self.pki, "gen-crl")
        shutil.copyfile(self.pki / "crl.pem", self.crl)
        self.crl.chmod(0o644)
        pwfile = self.root / "mgmt.pw"
        pwfile.write_text(MANAGEMENT_PASSWORD + "\n")
        pwfile.chmod(0o600)
        conf = self.root / "server.conf"
        conf.write_text(server_config(self.pki, self.crl, f"{self.socket} unix {pwfile}"))
        self.server = self._run(["openvpn", "--config", str(conf)], "server.log")
        wait_for(lambda: Path(self.socket).exists() or self._exited(self.server), 15, "management socket")
        self._exited(self.server)

    def connect(self, profile: Path, tunnel_up: Callable[[], str | None]) -> str:
        """Start the client from ``profile`` (the file iam wrote) and wait until the server lists it."""
        self.client = self._run(["openvpn", "--config", str(profile)], "client.log")
        client = self.client

        def up() -> str | None:
            self._exited(client)
            return tunnel_up()

        return wait_for(up, 20, "tunnel")

    def reconnect_refused(self, cn: str) -> bool:
        """Whether the server refused ``cn``'s certificate as revoked after offboarding."""
        assert self.server is not None
        needle = f"certificate revoked: CN={cn}"
        try:
            return wait_for(lambda: needle in self.server.text() if self.server else False, 20, "refusal")
        except TimeoutError:
            return False

    def _exited(self, process: Process | None) -> bool:
        """False while ``process`` runs; a process that has exited raises, with its last words."""
        if process is not None and process.popen.poll() is not None:
            raise Unavailable(f"openvpn exited: {process.text().strip()[-300:]}")
        return False

    def _run(self, args: list[str], log: str) -> Process:
        process = Process([*self.prefix, *args], self.root / log)
        self.stack.callback(process.stop)
        return process
