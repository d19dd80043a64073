"""A throwaway OpenLDAP slapd on a free loopback port, for tests and benchmarks.

Its configuration is the lab directory's (`iam.lab.directory.slapd_conf`):
mdb with ``dbnosync`` (tests do not need durability), the memberof and
refint overlays, and ppolicy with lockout, so disabling works as on a real
directory. No system service is touched: everything lives in a temp dir.

By default the admin can read ``cn=config`` (where the connector finds the
ppolicy overlay's default policy); tests of a directory configured worse
turn that off, drop ``ppolicy_default``, seed a policy without
``pwdLockout`` (`seed_base`) or add ACLs (``access``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ldap3
from iam.lab.directory import slapd_conf
from iam.lab.waiting import wait_for

BASE_DN = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{BASE_DN}"
ADMIN_PASSWORD = "slapd-admin-S3cret-for-tests"
DEFAULT_POLICY = f"cn=default,ou=policies,{BASE_DN}"
#: A bind account that, unlike the rootdn, is subject to the ACLs a test gives `Slapd`.
SERVICE_DN = f"cn=iam,{BASE_DN}"
SERVICE_PASSWORD = "iam-service-S3cret-for-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def slapd_available() -> bool:
    return shutil.which("slapd") is not None or Path("/usr/sbin/slapd").exists()


class Slapd:
    """Start, stop, pause and resume one slapd; its data survives a restart."""

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        tls: bool = False,
        *,
        ppolicy_default: bool = True,
        config_readable: bool = True,
        access: str = "",
        database: str = "",
    ) -> None:
        """``access``: slapd.conf ``access`` lines for the data, before the defaults;
        ``database``: more lines for the database, such as ``access`` and ``limits``."""
        self.dir = workdir
        self.port = port or free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        conf = slapd_conf(
            self.dir,
            suffix=BASE_DN,
            admin=ADMIN_DN,
            password=ADMIN_PASSWORD,
            policy=DEFAULT_POLICY,
            config_readable=config_readable,
            ppolicy_default=ppolicy_default,
            access=access,
            database=database,
        )
        self.ca_file: Path | None = None
        if tls:
            self.ca_file = self._make_certificate()
            tls_conf = (
                f"TLSCertificateFile {self.dir}/server.crt\nTLSCertificateKeyFile {self.dir}/server.key\n"
            )
            conf = conf.replace("pidfile", tls_conf + "pidfile", 1)
        (self.dir / "slapd.conf").write_text(conf)

    def _make_certificate(self) -> Path:
        """A self-signed certificate for 127.0.0.1; returns it as the CA file to trust."""
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                str(self.dir / "server.key"),
                "-out",
                str(self.dir / "server.crt"),
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )
        return self.dir / "server.crt"

    def start(self, timeout: float = 15.0) -> None:
        binary = shutil.which("slapd") or "/usr/sbin/slapd"
        self.proc = subprocess.Popen(
            [binary, "-h", f"{self.url}/", "-f", str(self.dir / "slapd.conf"), "-d", "0"],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "slapd.log", "ab"),  # noqa: SIM115
        )
        wait_for(self._accepting, timeout, f"slapd to accept connections on {self.url}", interval=0.02)

    def _accepting(self) -> bool:
        """Whether slapd takes connections yet; raises if it exited (waiting would not help)."""
        assert self.proc
        if self.proc.poll() is not None:
            raise RuntimeError(f"slapd exited: {(self.dir / 'slapd.log').read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def pause(self) -> None:
        assert self.proc
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc
        os.kill(self.proc.pid, signal.SIGCONT)

    def admin(self) -> ldap3.Connection:
        """A separate admin connection, for seeding and for checking from outside."""
        server = ldap3.Server("127.0.0.1", port=self.port, get_info=ldap3.NONE)
        return ldap3.Connection(server, ADMIN_DN, ADMIN_PASSWORD, auto_bind=True, receive_timeout=30)

    def spelling(self, dn: str) -> str:
        """``dn`` as slapd sends it back (it escapes with hex pairs where iam wrote ``\\,``)."""
        conn = self.admin()
        assert conn.search(dn, "(objectClass=*)", ldap3.BASE), conn.result
        spelt = str(conn.response[0]["dn"])
        conn.unbind()
        return spelt


#: One LDAP call a `RecordingConnection` noted: the method's name, its positional and keyword arguments.
Call = tuple[str, tuple[Any, ...], dict[str, Any]]


class RecordingConnection(ldap3.Connection):  # type: ignore[misc]
    """A real connection that notes every search and modify it sends, into ``calls``."""

    calls: list[Call]

    def search(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(("search", args, kwargs))
        return super().search(*args, **kwargs)

    def modify(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(("modify", args, kwargs))
        return super().modify(*args, **kwargs)


def recording_factory(
    slapd: Slapd, calls: list[Call], user: str = ADMIN_DN, password: str = ADMIN_PASSWORD
) -> Callable[[], ldap3.Connection]:
    """Connections for `LdapConnector` made as its session makes them (`connectors/ldap/session.py`),
    bound as ``user`` (the admin by default), each recording into ``calls``."""

    def connect() -> ldap3.Connection:
        server = ldap3.Server("127.0.0.1", port=slapd.port, get_info=ldap3.NONE)
        conn = RecordingConnection(
            server,
            user=user,
            password=password,
            client_strategy=ldap3.SYNC,
            raise_exceptions=False,
            auto_referrals=False,
            auto_range=True,
            return_empty_attributes=False,
            auto_bind=ldap3.AUTO_BIND_NO_TLS,
        )
        conn.calls = calls
        return conn

    return connect


def seed_base(conn: ldap3.Connection, lockout: bool = True) -> None:
    """The suffix, the people, groups and leavers OUs, and the default password policy.

    ppolicy enforces pwdAccountLockedTime only for entries governed by a
    policy with pwdLockout: TRUE; ``lockout=False`` seeds one without it.
    """
    conn.add(BASE_DN, ["dcObject", "organization"], {"dc": "example", "o": "Example"})
    for ou in ("people", "groups", "leavers", "policies"):
        conn.add(f"ou={ou},{BASE_DN}", ["organizationalUnit"], {"ou": ou})
    policy = {"cn": "default", "sn": "policy", "pwdAttribute": "userPassword"}
    conn.add(
        DEFAULT_POLICY, ["person", "pwdPolicy"], {**policy, **({"pwdLockout": "TRUE"} if lockout else {})}
    )


def add_service_account(conn: ldap3.Connection) -> str:
    """`SERVICE_DN`, the account iam binds as where a test needs ACLs to apply."""
    ok = conn.add(SERVICE_DN, ["inetOrgPerson"], {"cn": "iam", "sn": "iam", "userPassword": SERVICE_PASSWORD})
    assert ok, conn.result
    return SERVICE_DN


def add_person(conn: ldap3.Connection, uid: str, password: str = "Passw0rd-user") -> str:
    dn = f"uid={ldap3.utils.dn.escape_rdn(uid)},ou=people,{BASE_DN}"
    ok = conn.add(
        dn,
        ["inetOrgPerson", "posixAccount"],
        {
            "uid": uid,
            "cn": uid,
            "sn": uid,
            "userPassword": password,
            "uidNumber": "10000",
            "gidNumber": "10000",
            "homeDirectory": f"/home/{uid}",
        },
    )
    assert ok, conn.result
    return dn


def add_group(conn: ldap3.Connection, cn: str, kind: str, members: list[str]) -> str:
    """kind: groupOfNames | groupOfUniqueNames | posixGroup (members: DNs, or uids for posix)."""
    dn = f"cn={cn},ou=groups,{BASE_DN}"
    attr = {"groupOfNames": "member", "groupOfUniqueNames": "uniqueMember", "posixGroup": "memberUid"}[kind]
    attrs: dict[str, object] = {"cn": cn}
    if members:
        attrs[attr] = members
    if kind == "posixGroup":
        attrs["gidNumber"] = "20000"
    ok = conn.add(dn, [kind], attrs)
    assert ok, conn.result
    return dn


def add_policy_groups(conn: ldap3.Connection, group_dns: list[str]) -> None:
    """Create each group a policy names, as groupOfNames with a placeholder member."""
    for dn in group_dns:
        cn = dn.split(",", 1)[0].split("=", 1)[1]
        ok = conn.add(dn, ["groupOfNames"], {"cn": cn, "member": ["cn=empty-group-placeholder"]})
        assert ok or conn.result["result"] == 68, conn.result
