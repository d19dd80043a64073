"""A throwaway Samba Active Directory domain controller on 127.0.0.1, for tests.

``samba-tool domain provision`` writes a whole domain (its own smb.conf,
databases, sysvol) into a temp dir; ``samba -i -M single`` then runs it in
the foreground as one process with only the LDAP server enabled, bound to
127.0.0.1. No system service or system configuration is touched.

AD's LDAP ports are fixed (389 and 636), so only one DC can run on a
machine at a time: share one per test session or module, and give every
test its own users and groups (`Samba.new_ou`).

TLS: Samba would generate a self-signed certificate naming only
``DC1.iam.test``, which no client here can resolve, so a client connecting
to 127.0.0.1 could never verify it by name. The harness writes a CA and a
DC certificate naming both ``DC1.iam.test`` and ``IP:127.0.0.1`` into
``private/tls`` before the first start, where Samba's ``tls cafile``,
``tls certfile`` and ``tls keyfile`` point by default; Samba then uses them
instead of generating its own.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import ldap3
from iam.lab.waiting import wait_for
from ldap3.core.exceptions import LDAPException
from ldap3.utils.dn import escape_rdn
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

REALM = "IAM.TEST"
DOMAIN = "IAM"
HOST = "DC1"
FQDN = f"{HOST}.{REALM.lower()}"
BASE_DN = "DC=iam,DC=test"
ADMIN_DN = f"CN=Administrator,CN=Users,{BASE_DN}"
LDAP_PORT = 389
LDAPS_PORT = 636
URL = f"ldaps://127.0.0.1:{LDAPS_PORT}"

#: Debian packages the harness needs (samba-ad-provision is only a Recommends).
PACKAGES = ("samba", "samba-ad-dc", "samba-ad-provision", "samba-dsdb-modules", "winbind")

UF_NORMAL_ACCOUNT = 0x200
UF_ACCOUNTDISABLE = 0x2


class SambaUnavailable(Exception):
    """This machine cannot run a DC: not root, packages missing, ports taken."""


class PortTaken(SambaUnavailable):
    """Something else holds the DC's fixed port: often a DC a killed test run left behind."""


class SambaFailed(Exception):
    """Provisioning or starting the DC went wrong (the message has the log's tail)."""


def missing_packages() -> list[str]:
    """The `PACKAGES` that dpkg does not report installed (all of them without dpkg)."""
    dpkg_query = shutil.which("dpkg-query")
    if dpkg_query is None:
        return list(PACKAGES)
    done = subprocess.run(
        [dpkg_query, "-W", "-f", "${Package} ${db:Status-Status}\n", *PACKAGES],
        capture_output=True,
        text=True,
        check=False,
    )
    installed = {line.split()[0] for line in done.stdout.splitlines() if line.split()[1:] == ["installed"]}
    return [p for p in PACKAGES if p not in installed]


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def ad_password(length: int = 24) -> str:
    """A random password that always meets AD's complexity rule (3 of 4 character kinds)."""
    return secrets.token_urlsafe(length) + "-Aa1"


class Samba:
    """Provision, start and stop one DC; nothing outside ``workdir`` is written."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.admin_password = ad_password()
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf = self.dir / "etc" / "smb.conf"
        self.tls_dir = self.dir / "private" / "tls"
        self.ca_file = self.tls_dir / "ca.pem"
        self.log = self.dir / "samba.log"
        self.provision_seconds: float | None = None
        self.start_seconds: float | None = None

    # lifecycle ----------------------------------------------------------------

    def check_machine(self) -> None:
        """Raise `SambaUnavailable` with the reason when this machine cannot run a DC."""
        if os.geteuid() != 0:
            raise SambaUnavailable("a Samba AD DC needs root (fixed ports 389/636, root-owned databases)")
        missing = missing_packages()
        if missing:
            raise SambaUnavailable(f"Debian packages missing: {' '.join(missing)}")
        for port in (LDAP_PORT, LDAPS_PORT):
            if _port_taken(port):
                raise PortTaken(f"127.0.0.1:{port} is already in use (another DC running?)")

    def provision(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        cmd = [
            shutil.which("samba-tool") or "/usr/bin/samba-tool",
            "domain",
            "provision",
            f"--targetdir={self.dir}",
            f"--realm={REALM}",
            f"--domain={DOMAIN}",
            f"--host-name={HOST.lower()}",
            "--host-ip=127.0.0.1",
            "--server-role=dc",
            "--dns-backend=NONE",
            "--use-rfc2307",
            # samba-tool takes it on argv or from a terminal only; it is random per run
            # and kept out of every message below.
            f"--adminpass={self.admin_password}",
            "--option=interfaces = 127.0.0.1",
            "--option=bind interfaces only = yes",
            "--option=server services = ldap",
            f"--option=log file = {self.log}",
            "--option=panic action = ",
        ]
        with open(self.dir / "provision.log", "wb") as out:
            code = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
        if code != 0:
            raise SambaFailed(f"samba-tool domain provision exited {code}: {self._tail('provision.log')}")
        self._write_certificates()
        self.provision_seconds = time.monotonic() - started

    def start(self, timeout: float = 60.0) -> None:
        """Run samba in the foreground and wait until an LDAPS bind as Administrator works."""
        started = time.monotonic()
        out = open(self.dir / "samba.out", "ab")  # noqa: SIM115 - handed to the child
        try:
            self.proc = subprocess.Popen(
                [
                    shutil.which("samba") or "/usr/sbin/samba",
                    "--interactive",  # foreground, never a daemon
                    "--model=single",  # one process: nothing forks behind our back
                    f"--configfile={self.conf}",
                    "--option=server services = ldap",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as a whole
            )
        finally:
            out.close()
        answering = Retrying(
            retry=retry_if_exception_type(LDAPException), stop=stop_after_delay(timeout), wait=wait_fixed(0.1)
        )
        try:
            conn = answering(self._admin_while_running)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            said = f"{type(last).__name__}: {last}".replace(self.admin_password, "***")
            self.stop()
            raise SambaFailed(
                f"LDAPS on 127.0.0.1:{LDAPS_PORT} did not answer in {timeout}s ({said})"
            ) from None
        conn.unbind()
        self.start_seconds = time.monotonic() - started

    def _admin_while_running(self) -> ldap3.Connection:
        """An Administrator connection; `SambaFailed` if samba exited (waiting would not help)."""
        assert self.proc
        if self.proc.poll() is not None:
            raise SambaFailed(f"samba exited with {self.proc.returncode}: {self._tail('samba.out')}")
        return self.admin(timeout=2)

    def stop(self) -> None:
        """Stop samba and everything left in its process group; safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is None or proc.returncode is not None:
            return
        _signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):  # then it is killed below
            wait_for(lambda: not _running(proc.pid), 15, "samba to stop")
        # Until it is reaped the leader keeps its pid, so the group id cannot have been reused.
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()

    # clients ------------------------------------------------------------------

    def server(self, timeout: float = 10) -> ldap3.Server:
        """The DC's LDAPS endpoint, its certificate checked against the DC's CA."""
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(self.ca_file))
        return ldap3.Server(
            "127.0.0.1", port=LDAPS_PORT, use_ssl=True, tls=tls, get_info=ldap3.NONE, connect_timeout=timeout
        )

    def connect(self, user: str, password: str, timeout: float = 10) -> ldap3.Connection:
        """An LDAPS connection bound as ``user``, checking the DC's certificate; raises on failure."""
        return ldap3.Connection(self.server(timeout), user, password, auto_bind=True, receive_timeout=timeout)

    def bind_result(self, user: str, password: str) -> dict[str, object]:
        """The DC's answer to one simple bind over LDAPS (AD puts its reason, ``data 52e``, in message)."""
        conn = ldap3.Connection(self.server(10), user, password, receive_timeout=10, raise_exceptions=False)
        conn.open()
        try:
            conn.bind()
            return dict(conn.result)
        finally:
            conn.unbind()

    def admin(self, timeout: float = 30) -> ldap3.Connection:
        """A separate Administrator connection, for seeding and for checking from outside."""
        return self.connect(ADMIN_DN, self.admin_password, timeout)

    def new_ou(self, conn: ldap3.Connection, prefix: str = "t") -> str:
        """A fresh OU with people, groups and leavers OUs under it, so tests never share objects."""
        ou = f"OU={prefix}-{uuid.uuid4().hex[:10]},{BASE_DN}"
        for dn in (ou, f"OU=people,{ou}", f"OU=groups,{ou}", f"OU=leavers,{ou}"):
            assert conn.add(dn, ["organizationalUnit"]), conn.result
        return ou

    # helpers ------------------------------------------------------------------

    def _write_certificates(self) -> None:
        """A CA and a DC certificate (DNS:DC1.iam.test, IP:127.0.0.1) where Samba looks for them."""
        self.tls_dir.mkdir(parents=True, exist_ok=True)
        openssl = shutil.which("openssl") or "/usr/bin/openssl"
        key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        ext = self.tls_dir / "dc.ext"
        ext.write_text(
            f"subjectAltName=DNS:{FQDN},IP:127.0.0.1\n"
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
            "subjectKeyIdentifier=hash\n"
            "authorityKeyIdentifier=keyid\n"
        )
        t = self.tls_dir
        for args in (
            ["req", "-x509", *key, "-keyout", t / "ca.key", "-out", t / "ca.pem", "-days", "2",
             "-subj", "/O=iam tests/CN=iam test domain CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ["req", *key, "-keyout", t / "key.pem", "-out", t / "dc.csr", "-subj", f"/O=iam tests/CN={FQDN}"],
            ["x509", "-req", "-in", t / "dc.csr", "-CA", t / "ca.pem", "-CAkey", t / "ca.key",
             "-CAcreateserial", "-out", t / "cert.pem", "-days", "2", "-extfile", ext],
        ):  # fmt: skip
            done = subprocess.run([openssl, *map(str, args)], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SambaFailed(f"openssl {args[0]} failed: {done.stderr[-1000:]}")
        for private in ("key.pem", "ca.key"):
            os.chmod(t / private, 0o600)  # Samba refuses a key file others can read

    def _tail(self, name: str, chars: int = 3000) -> str:
        path = self.dir / name
        text = path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"
        return text.replace(self.admin_password, "***")


def _running(pid: int) -> bool:
    """Whether our child is still running, without reaping it."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is already gone
        os.killpg(pid, sig)


def add_user(
    conn: ldap3.Connection,
    parent: str,
    name: str,
    password: str | None = None,
    *,
    cn: str | None = None,
) -> str:
    """A user under ``parent``; with a password it is also enabled (as ADUC does it)."""
    dn = f"CN={escape_rdn(cn or name)},{parent}"
    ok = conn.add(
        dn,
        ["top", "person", "organizationalPerson", "user"],
        {"sAMAccountName": name, "sn": name, "displayName": cn or name},
    )
    assert ok, conn.result
    if password is not None:
        set_password(conn, dn, password)
        ok = conn.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [str(UF_NORMAL_ACCOUNT)])]})
        assert ok, conn.result
    return dn


def set_password(conn: ldap3.Connection, dn: str, password: str) -> None:
    value = f'"{password}"'.encode("utf-16-le")
    ok = conn.modify(dn, {"unicodePwd": [(ldap3.MODIFY_REPLACE, [value])]})
    assert ok, conn.result


def add_group(conn: ldap3.Connection, parent: str, name: str, members: list[str]) -> str:
    """A global security group (AD's default group type) holding ``members`` (DNs)."""
    dn = f"CN={escape_rdn(name)},{parent}"
    attrs: dict[str, object] = {"sAMAccountName": name}
    if members:
        attrs["member"] = members
    ok = conn.add(dn, ["top", "group"], attrs)
    assert ok, conn.result
    return dn
