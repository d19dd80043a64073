"""A local OpenLDAP slapd for the README's walk-through: `iam lab directory start|stop`.

It holds an LDIF (by default the sample company's `directory.ldif`: the
people, groups and leavers OUs, every group the sample policy names, and a
password policy with lockout, so a disable is one slapd enforces). It runs
in the background on loopback, plain LDAP (no TLS: the sample `iam.yaml`
says `start_tls: false`), everything under one work directory; `stop` ends
it by the pid it wrote.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from iam.lab.waiting import wait_for

from iam.errors import InputError

SUFFIX = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{SUFFIX}"
DEFAULT_POLICY = f"cn=default,ou=policies,{SUFFIX}"
PORT = 3890
MODULES = "/usr/lib/ldap"
SCHEMAS = "/etc/ldap/schema"

CONF = """\
include {schemas}/core.schema
include {schemas}/cosine.schema
include {schemas}/inetorgperson.schema
include {schemas}/nis.schema
pidfile {dir}/slapd.pid
modulepath {modules}
moduleload back_mdb
moduleload memberof
moduleload refint
moduleload ppolicy
moduleload lastbind
sizelimit unlimited
{config_db}database mdb
maxsize 1073741824
suffix "{suffix}"
rootdn "{admin}"
rootpw {password}
directory {dir}/data
dbnosync
{access}{database}
index objectClass eq
index uid,cn,memberUid eq
index member,uniqueMember eq
overlay memberof
memberof-refint TRUE
overlay refint
refint_attributes member uniqueMember
overlay ppolicy
{ppolicy_default}ppolicy_use_lockout
overlay lastbind
lastbind-precision 0
"""


def slapd_conf(
    workdir: Path,
    *,
    suffix: str,
    admin: str,
    password: str,
    policy: str,
    config_readable: bool = True,
    ppolicy_default: bool = True,
    access: str = "",
    database: str = "",
) -> str:
    """The slapd.conf of a local directory (this lab's, and the tests' throwaway ones).

    mdb without fsync (a lab needs no durability), the memberof and refint
    overlays, ppolicy with lockout (so a disable is one slapd enforces) and
    lastbind (last logins). ``config_readable`` lets the admin read
    ``cn=config``, where the connector finds the default password policy;
    ``access`` and ``database`` are more slapd.conf lines for the data
    (ACLs, limits), for tests of a directory configured worse.
    """
    config_db = f'database config\naccess to * by dn.exact="{admin}" read by * none\n'
    return CONF.format(
        schemas=SCHEMAS,
        modules=MODULES,
        dir=workdir,
        suffix=suffix,
        admin=admin,
        password=password,
        config_db=config_db if config_readable else "",
        ppolicy_default=f'ppolicy_default "{policy}"\n' if ppolicy_default else "",
        access=access,
        database=database,
    )


@dataclass(frozen=True)
class LabDirectory:
    """Where one lab directory lives: its configuration, data, pid and admin password."""

    workdir: Path

    @property
    def pidfile(self) -> Path:
        return self.workdir / "slapd.pid"

    @property
    def password_file(self) -> Path:
        return self.workdir / "admin-password"

    def pid(self) -> int | None:
        """The running slapd's pid, or None when none of this directory runs."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid


def _slapd() -> str:
    found = shutil.which("slapd") or ("/usr/sbin/slapd" if Path("/usr/sbin/slapd").exists() else None)
    if found is None:
        raise InputError("slapd is not installed: apt-get install slapd ldap-utils (Debian, Ubuntu)")
    return found


def _accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def start(workdir: Path, ldif: Path, port: int = PORT) -> str:
    """Start slapd on 127.0.0.1:``port`` holding ``ldif`` (loaded on the first start); returns its URL."""
    lab = LabDirectory(workdir)
    if lab.pid() is not None:
        raise InputError(f"a lab directory already runs from {workdir} (iam lab directory stop)")
    if _accepting(port):
        raise InputError(f"127.0.0.1:{port} is already taken: choose another --port")
    binary = _slapd()
    fresh = not (workdir / "data").exists()
    if fresh:
        if not ldif.is_file():
            raise InputError(f"{ldif}: no such LDIF file")
        (workdir / "data").mkdir(parents=True)
        lab.password_file.write_text(secrets.token_urlsafe(18) + "\n", encoding="utf-8")
        lab.password_file.chmod(0o600)
    password = lab.password_file.read_text(encoding="utf-8").strip()
    conf = workdir / "slapd.conf"
    conf.write_text(
        slapd_conf(
            workdir.resolve(), suffix=SUFFIX, admin=ADMIN_DN, password=password, policy=DEFAULT_POLICY
        ),
        encoding="utf-8",
    )
    conf.chmod(0o600)  # it holds the admin password
    if fresh:
        loaded = subprocess.run(
            [binary.replace("slapd", "slapadd"), "-f", str(conf), "-l", str(ldif)],
            capture_output=True,
            text=True,
            check=False,
        )
        if loaded.returncode != 0:
            shutil.rmtree(workdir / "data")
            raise InputError(f"{ldif}: slapadd refused it: {loaded.stderr.strip()[-500:]}")
    url = f"ldap://127.0.0.1:{port}"
    started = subprocess.run([binary, "-h", f"{url}/", "-f", str(conf)], capture_output=True, text=True)
    if started.returncode != 0:
        raise InputError(f"slapd did not start: {started.stderr.strip()[-500:]}")
    wait_for(lambda: _accepting(port), 15, f"slapd to accept connections on {url}")
    return url


def stop(workdir: Path) -> int | None:
    """Stop the lab directory of ``workdir`` by its pid; returns that pid, None if none was running."""
    lab = LabDirectory(workdir)
    pid = lab.pid()
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: lab.pid() is None, 15, f"slapd (pid {pid}) to stop")
    return pid
