"""A throwaway PostgreSQL cluster on a free loopback port, and its pytest fixtures.

A test module uses them with ``pytest_plugins = ["tests.support.postgres"]``:
``pg_cluster`` (one per session), ``pg`` (a fresh database per test, its
password in PGPASSWORD), ``store_location`` (a test run once on a SQLite
file, once on such a database) and ``either_store`` (a `Store` opened there).

`initdb` into a temp dir, scram-sha-256 password authentication only, TCP on
127.0.0.1 and a unix socket inside the temp dir; no system service is
touched. Durability is off (``fsync``), as slapd's ``dbnosync``: tests do
not survive power cuts. The server's time zone is deliberately not UTC, so a
store that forgets time zones shows it.

PostgreSQL refuses to run as root: as root, every server tool runs as the
``postgres`` system user (``runuser``); as a normal user, directly.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from iam.store import Store
from tests.support.slapd import free_port

if TYPE_CHECKING:
    import psycopg

#: The application's role (owner of each test database) and the cluster's superuser.
APP_ROLE = "iam"
ADMIN_ROLE = "iam_admin"
#: Not UTC on purpose: a timestamp read back must still be the same instant.
SERVER_TIMEZONE = "Asia/Kolkata"
SERVER_USER = "postgres"

CONF = """\
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sockets}'
password_encryption = 'scram-sha-256'
timezone = '{timezone}'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
logging_collector = off
"""

HBA = """\
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 scram-sha-256
host    all       all   127.0.0.1/32  scram-sha-256
"""


def bindir() -> Path | None:
    """Where initdb and pg_ctl live: `pg_config --bindir`, else the newest /usr/lib/postgresql."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                ["pg_config", "--bindir"], capture_output=True, text=True, check=True, timeout=10
            )
            candidates.append(Path(out.stdout.strip()))
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    candidates += [Path(p) for p in versions if Path(p).parent.name.isdigit()]
    return next((c for c in candidates if (c / "initdb").exists() and (c / "pg_ctl").exists()), None)


def require_postgres() -> Path:
    """The server tools' directory; skip (fail when CI is set) if PostgreSQL or its driver is missing."""
    reason = ""
    tools = bindir()
    if tools is None:
        reason = "PostgreSQL is not installed (apt-get install postgresql; scripts/test does it)"
    elif os.geteuid() == 0 and not _has_user(SERVER_USER):
        reason = f"running as root needs the {SERVER_USER!r} system user (Debian's postgresql package)"
    else:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            reason = "the PostgreSQL driver is missing: pip install -e '.[test]'"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    assert tools is not None
    return tools


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class PostgresCluster:
    """One initdb'd cluster in its own temp dir: start, create databases, stop, remove."""

    def __init__(self, tools: Path) -> None:
        self.tools = tools
        self.as_root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="iam-pg-"))
        self.data = self.dir / "data"
        self.sockets = self.dir / "sockets"
        self.log = self.dir / "postgres.log"
        self.port = free_port()
        self.host = "127.0.0.1"
        self.admin_password = secrets.token_urlsafe(24)
        self.password = secrets.token_urlsafe(24)
        self.started = False
        self.sockets.mkdir()
        if self.as_root:
            user = pwd.getpwnam(SERVER_USER)
            for path in (self.dir, self.sockets):
                os.chown(path, user.pw_uid, user.pw_gid)

    def _tool(self, name: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = [str(self.tools / name), *args]
        if self.as_root:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, cwd=self.dir, timeout=timeout, stdin=subprocess.DEVNULL
        )
        if result.returncode != 0:
            raise RuntimeError(f"{name} failed ({result.returncode}): {result.stderr[-2000:]}{self._log()}")
        return result

    def _log(self) -> str:
        return f"\n--- {self.log} ---\n{self.log.read_text()[-2000:]}" if self.log.exists() else ""

    def start(self) -> None:
        pwfile = self.dir / "admin.pw"
        pwfile.write_text(self.admin_password)
        os.chmod(pwfile, 0o600)
        if self.as_root:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        try:
            self._tool(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                ADMIN_ROLE,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            )
        finally:
            pwfile.unlink()
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(CONF.format(port=self.port, sockets=self.sockets, timezone=SERVER_TIMEZONE))
        (self.data / "pg_hba.conf").write_text(HBA)
        self.started = True  # from here on, stop() has something to stop
        self._tool("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start", timeout=90)
        from psycopg import sql

        with self.admin("postgres") as db:
            db.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(APP_ROLE), sql.Literal(self.password)
                )
            )

    def admin(self, database: str) -> psycopg.Connection:
        """A superuser connection over the unix socket (autocommit), to set up and inspect."""
        import psycopg

        return psycopg.connect(
            host=str(self.sockets),
            port=self.port,
            user=ADMIN_ROLE,
            password=self.admin_password,
            dbname=database,
            autocommit=True,
            connect_timeout=10,
        )

    def create_database(self) -> str:
        """A fresh database owned by the application role; returns its name."""
        from psycopg import sql

        name = f"iam_test_{uuid.uuid4().hex[:12]}"
        with self.admin("postgres") as db:
            db.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(APP_ROLE))
            )
        return name

    def drop_database(self, name: str) -> None:
        from psycopg import sql

        with self.admin("postgres") as db:
            db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def url(self, database: str, password: str | None = None) -> str:
        """The store URL as a user writes it: no password (libpq reads PGPASSWORD or ~/.pgpass)."""
        auth = f"{APP_ROLE}:{password}" if password else APP_ROLE
        return f"postgresql+psycopg://{auth}@{self.host}:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the server (fast shutdown; by its pid if pg_ctl cannot) and remove everything."""
        try:
            if self.started and (self.data / "postmaster.pid").exists():
                try:
                    self._tool(
                        "pg_ctl", "-D", str(self.data), "stop", "-m", "fast", "-w", "-t", "30", timeout=45
                    )
                except (RuntimeError, subprocess.TimeoutExpired):
                    self._kill_postmaster()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        """The last resort: SIGQUIT (immediate shutdown) to the postmaster this cluster started."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGQUIT)


@contextlib.contextmanager
def running_cluster() -> Iterator[PostgresCluster]:
    """Start a cluster; stop and remove it at the end whatever happened."""
    cluster = PostgresCluster(require_postgres())
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """One cluster for the whole session."""
    with running_cluster() as cluster:
        yield cluster


@dataclass
class Database:
    """One test's database in the cluster."""

    cluster: PostgresCluster
    name: str

    @property
    def url(self) -> str:
        return self.cluster.url(self.name)

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run SQL on the database from outside, as the superuser (not through iam)."""
        import psycopg

        with self.admin() as db:
            try:
                return db.execute(query, params or None).fetchall()  # type: ignore[arg-type]
            except psycopg.errors.UndefinedTable:
                return []

    def admin(self) -> psycopg.Connection:
        return self.cluster.admin(self.name)


@pytest.fixture
def pg(pg_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """A fresh database; its password only in PGPASSWORD, for this process and every `iam` it starts."""
    name = pg_cluster.create_database()
    monkeypatch.setenv("PGPASSWORD", pg_cluster.password)
    yield Database(pg_cluster, name)
    pg_cluster.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store's location: a SQLite file, then (the test again) a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "iam.db")
    return str(request.getfixturevalue("pg").url)


@pytest.fixture
def either_store(store_location: str) -> Iterator[Store]:
    """A `Store` opened at ``store_location``, closed after the test."""
    opened = Store(store_location)
    yield opened
    opened.close()
