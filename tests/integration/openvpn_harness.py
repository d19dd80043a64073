"""A throwaway OpenVPN 2.6 server and clients, inside one network namespace.

The PKI is built with easy-rsa in batch mode with EC keys (fast), its CA
key optionally under a passphrase; the server (configured as `iam demo`'s,
from `iam.lab.openvpn`) listens on the namespace's loopback with a tun device,
reads its CRL with ``crl-verify`` and serves the management interface on a
unix socket (or the namespace's 127.0.0.1) protected by a password file.
Clients run in the same namespace with their own tun devices; the ``iam``
CLI runs against the lab through ``lab.iam_config()`` and ``lab.iam()``.
Everything is stopped and removed by ``lab.cleanup.run()``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml
from iam.connectors.vpn.management import ManagementClient
from iam.connectors.vpn.status import ClientRow, parse_status3
from iam.lab.openvpn import CLIENT_EXTRA, EASYRSA, PORT, Process, VpnFiles, easyrsa, server_config

from iam.secrets import Secret
from tests.conftest import iam_env
from tests.integration.vpn_fixtures import Cleanup, Netns, wait_for

__all__ = [
    "CA_PASSPHRASE_ENV",
    "EASYRSA",
    "MANAGEMENT_PASSWORD",
    "MANAGEMENT_PORT",
    "PASSWORD_ENV",
    "OpenVpnLab",
    "crl_window",
    "easyrsa",
    "open_lab",
    "revoked_serials",
    "verifies",
]

MANAGEMENT_PASSWORD = "mgmt-S3cret-for-tests"
MANAGEMENT_PORT = 7505
#: the environment variables an iam.yaml of the lab names for its secrets
PASSWORD_ENV, CA_PASSPHRASE_ENV = "IAM_TEST_VPN_PASSWORD", "IAM_TEST_VPN_CA_PASSPHRASE"


@dataclass
class OpenVpnLab(VpnFiles):
    """Paths and processes of one test's OpenVPN world."""

    root: Path
    netns: Netns
    cleanup: Cleanup
    #: the CA key's passphrase, when the PKI was built with one
    ca_passphrase: str | None = None
    server: Process | None = None
    clients: dict[str, Process] = field(default_factory=dict)

    @property
    def profiles(self) -> Path:
        return self.root / "profiles"

    def settings(self, **overrides: object) -> dict[str, object]:
        """OpenVPN connector settings for this lab."""
        base: dict[str, object] = {
            "easyrsa": EASYRSA,
            "pki_dir": str(self.pki),
            "crl_path": str(self.crl),
            "management": self.socket,
            "management_password": Secret(MANAGEMENT_PASSWORD, "test"),
            "key_algo": "ec",
            "profile_dir": str(self.profiles),
            "remote": "127.0.0.1",
            "port": PORT,
            "proto": "udp4",
            "profile_extra": list(CLIENT_EXTRA),
            "timeout": 5,
            "command_timeout": 60,
        }
        if self.ca_passphrase is not None:
            base["ca_passphrase"] = Secret(self.ca_passphrase, "test")
        base.update(overrides)
        return base

    def iam_config(self, **overrides: object) -> Path:
        """An iam.yaml with this lab as system ``vpn``, its secrets named by environment variables.

        Its policy gives every employee ``vpn:access`` (`iam run-due` and HR syncs need one).
        """
        system = {
            **self.settings(**overrides),
            "type": "openvpn",
            "management_password": {"env": PASSWORD_ENV},
        }
        if "ca_passphrase" in system:
            system["ca_passphrase"] = {"env": CA_PASSPHRASE_ENV}
        policy = self.root / "policy.yaml"
        policy.write_text(
            yaml.safe_dump(
                {
                    "roles": {"remote-staff": {"entitlements": {"vpn": ["vpn:access"]}}},
                    "birthright": [{"role": "remote-staff", "when": {"kind": ["employee"]}}],
                }
            )
        )
        files = {"store": "state/iam.db", "audit_log": "state/audit.jsonl", "policy": str(policy)}
        path = self.root / "iam.yaml"
        path.write_text(yaml.safe_dump({**files, "systems": {"vpn": system}}))
        return path

    def iam(
        self,
        config: Path,
        *args: str,
        password: str = MANAGEMENT_PASSWORD,
        ca_passphrase: str | None = None,
        inside: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """The iam CLI as a user runs it; ``inside`` the server's namespace, as on the VPN host."""
        env = iam_env({PASSWORD_ENV: password, CA_PASSPHRASE_ENV: ca_passphrase or self.ca_passphrase or ""})
        prefix = ["ip", "netns", "exec", self.netns.name] if inside else []
        command = [*prefix, sys.executable, "-m", "iam", "--config", str(config), *args]
        return subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL
        )

    # building -----------------------------------------------------------------

    def build_pki(self, *users: str) -> None:
        """A CA (its key encrypted when ``ca_passphrase`` is set), the server, ``users``, a CRL."""
        secret = self.ca_passphrase
        easyrsa(self.pki, "init-pki")
        easyrsa(self.pki, "build-ca", *(() if secret else ("nopass",)), passphrase=secret)
        easyrsa(self.pki, "build-server-full", "server", "nopass", passphrase=secret)
        for user in users:
            easyrsa(self.pki, "build-client-full", user, "nopass", passphrase=secret)
        easyrsa(self.pki, "gen-crl", passphrase=secret)
        shutil.copyfile(self.pki / "crl.pem", self.crl)
        self.crl.chmod(0o644)

    def start_server(self, tcp_management: bool = False) -> None:
        """The server; its management interface on the unix socket, or on the namespace's 127.0.0.1."""
        pwfile = self.root / "mgmt.pw"
        pwfile.write_text(MANAGEMENT_PASSWORD + "\n")
        pwfile.chmod(0o600)
        where = f"127.0.0.1 {MANAGEMENT_PORT}" if tcp_management else f"{self.socket} unix"
        conf = self.root / "server.conf"
        conf.write_text(server_config(self.pki, self.crl, f"{where} {pwfile}", subnet="10.77.0.0"))
        args = ["ip", "netns", "exec", self.netns.name, "openvpn", "--config", str(conf)]
        self.server = Process(args, self.root / "server.log")
        self.cleanup.add(self.server.stop)
        if tcp_management:
            wait_for(self._listening, 15, "the OpenVPN management port")
        else:
            wait_for(self._management_ready, 15, "the OpenVPN management interface")

    def _listening(self) -> bool:
        assert self.server is not None
        if not self.server.running:
            raise AssertionError(f"OpenVPN exited:\n{self.server.text()[-2000:]}")
        return f"127.0.0.1:{MANAGEMENT_PORT}" in self.netns.run("ss", "-ltnH").stdout

    def _management_ready(self) -> bool:
        assert self.server is not None
        if not self.server.running:
            raise AssertionError(f"OpenVPN exited:\n{self.server.text()[-2000:]}")
        if not os.path.exists(self.socket):
            return False
        try:
            self.status()
        except Exception:
            return False
        return True

    def client_config(self, user: str, cert: Path | None = None, key: Path | None = None) -> Path:
        """A client config with copies of the user's files (default: the PKI's), as a laptop holds them.

        (Revoking moves the PKI's own files away, so the client must not point at them.)
        """
        home = self.root / "clients" / user
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.pki / "ca.crt", home / "ca.crt")
        shutil.copyfile(cert or self.pki / "issued" / f"{user}.crt", home / "user.crt")
        shutil.copyfile(key or self.pki / "private" / f"{user}.key", home / "user.key")
        path = home / "client.conf"
        path.write_text(
            "\n".join(
                [
                    "client",
                    "dev tun",
                    "proto udp4",
                    f"remote 127.0.0.1 {PORT}",
                    "nobind",
                    "remote-cert-tls server",
                    f"ca {home}/ca.crt",
                    f"cert {home}/user.crt",
                    f"key {home}/user.key",
                    "verb 3",
                    *CLIENT_EXTRA,
                ]
            )
            + "\n"
        )
        return path

    def start_client(self, user: str, config: Path | None = None) -> Process:
        config = config or self.client_config(user)
        proc = Process(
            ["ip", "netns", "exec", self.netns.name, "openvpn", "--config", str(config)],
            self.root / f"client-{user}.log",
        )
        self.clients[user] = proc
        self.cleanup.add(proc.stop)
        return proc

    # observing ----------------------------------------------------------------

    def status(self) -> list[ClientRow]:
        """Every CLIENT_LIST row, read through our management client (as an operator would)."""
        with ManagementClient(self.socket, password=Secret(MANAGEMENT_PASSWORD, "test"), timeout=5) as mgmt:
            reply = mgmt.command("status 3", multiline=True)
        assert reply.ok, reply.message
        return parse_status3(reply.lines)

    def live(self, user: str) -> ClientRow | None:
        return next((r for r in self.status() if r.common_name == user and r.live), None)

    def wait_connected(self, *users: str, timeout: float = 20) -> dict[str, ClientRow]:
        def all_up() -> dict[str, ClientRow] | None:
            rows = {u: self.live(u) for u in users}
            return rows if all(rows.values()) else None  # type: ignore[return-value]

        return wait_for(all_up, timeout, f"{', '.join(users)} to connect")

    def server_log(self) -> str:
        assert self.server is not None
        return self.server.text()


def revoked_serials(crl: Path) -> set[str]:
    """Serials listed by ``openssl crl``, read independently of the connector."""
    args = ["openssl", "crl", "-in", str(crl), "-noout", "-text"]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=30).stdout
    return {
        line.split(":", 1)[1].strip().upper().lstrip("0")
        for line in out.splitlines()
        if line.strip().startswith("Serial Number:")
    }


def crl_window(crl: Path) -> tuple[datetime, datetime]:
    """The CRL's last and next update, as ``openssl crl`` prints them."""
    args = ["openssl", "crl", "-in", str(crl), "-noout", "-lastupdate", "-nextupdate"]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=30).stdout
    when = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    last, next_ = (
        datetime.strptime(when[k].strip(), "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC)
        for k in ("lastUpdate", "nextUpdate")
    )
    return last, next_


def verifies(cert: Path, ca: Path, crl: Path) -> bool:
    """Whether ``openssl verify`` accepts the certificate with the CRL checked, as the server would."""
    args = ["openssl", "verify", "-crl_check", "-CAfile", str(ca), "-CRLfile", str(crl), str(cert)]
    return subprocess.run(args, capture_output=True, text=True, timeout=30).returncode == 0


def open_lab(*users: str, ca_passphrase: str | None = None, tcp_management: bool = False) -> OpenVpnLab:
    """A PKI with ``users``, a running server, nothing connected; close with ``lab.cleanup.run()``."""
    cleanup = Cleanup()
    root = Path(tempfile.mkdtemp(prefix="iamvpn-"))  # short: unix socket paths are limited to 108 bytes
    cleanup.add(lambda: shutil.rmtree(root, ignore_errors=True))
    netns = Netns()
    cleanup.add(netns.delete)
    lab = OpenVpnLab(root, netns, cleanup, ca_passphrase)
    try:
        lab.build_pki(*users)
        lab.start_server(tcp_management)
    except BaseException:
        cleanup.run()
        raise
    return lab
