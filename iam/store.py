"""The store: identities, runs and the step journal, through SQLAlchemy.

SQLite by default; the same code runs on PostgreSQL when several workers
share the work. A step is written *before* it runs (``running``) and *after*
(``done``/``failed``), so a crash leaves an exact record for `iam resume`.

What makes sharing safe: every write that could race is one atomic
statement (an upsert, an insert that ignores a duplicate, a claim that
picks and marks a due event together); times are stored and returned in
UTC whatever the server's or the event's time zone. A PostgreSQL password
comes from PGPASSWORD or ~/.pgpass (libpq reads them); one given in the URL
anyway is masked wherever the location is shown.
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

from iam.errors import ConfigError
from iam.failpoints import crash_point
from iam.prepared import Prepared
from iam.secrets import REDACTED, redact_value, register

metadata = sa.MetaData()


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A moment in time, stored in UTC and always read back aware, in UTC.

    SQLite keeps no offset: an aware time was stored as its local wall clock,
    so 23:00 in New York compared as earlier than 00:01 UTC. PostgreSQL
    returns the server's zone. Converting on the way in and out makes both
    compare and return the same instant. A naive value is taken as UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: Rows of `identities` a sweep's streamed read fetches at a time (`Store.iter_identities`).
IDENTITIES_A_FETCH = 1000

identities = sa.Table(
    "identities",
    metadata,
    sa.Column("username", sa.String(128), primary_key=True),
    sa.Column("hr_id", sa.String(128), unique=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("attributes", sa.JSON, nullable=False, default=dict),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)
#: A name found whatever its case (`Store.usernames_like`) without reading every identity: a
#: sweep's remediation asks it of every account, orphans included. Plain SQL, as both databases
#: spell it: SQLAlchemy cannot tell whether an expression index exists on SQLite.
_USERNAME_LOWER = "CREATE INDEX IF NOT EXISTS ix_identities_username_lower ON identities (lower(username))"

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("username", sa.String(128), nullable=False, index=True),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("dry_run", sa.Boolean, nullable=False, default=False),
    sa.Column("plan_errors", sa.JSON, nullable=False, default=dict),
    sa.Column("desired", sa.JSON),
    sa.Column("report", sa.JSON),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("finished_at", UtcDateTime()),
    # the evidence of who and what: see `RunFacts`
    sa.Column("actor", sa.String(255)),
    sa.Column("ticket", sa.String(255)),
    sa.Column("identity", sa.JSON),
    sa.Column("before", sa.JSON),
)

steps = sa.Table(
    "steps",
    metadata,
    sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("system", sa.String(64), nullable=False),
    sa.Column("op", sa.String(32), nullable=False),
    sa.Column("target", sa.Text),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False, default=dict),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(16)),
    sa.Column("error", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("started_at", UtcDateTime()),
    sa.Column("finished_at", UtcDateTime()),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("username", sa.String(128), nullable=False, index=True),
    sa.Column("identity", sa.JSON, nullable=False),
    sa.Column("effective_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("source", sa.Text, nullable=False),  # "hr-feed:<file name>": any length
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("run_id", sa.String(36)),
    sa.Column("error", sa.Text),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Column("applied_at", UtcDateTime()),
    # who is applying it (host:pid) and since when: see `Store.due_events`
    sa.Column("claimed_by", sa.String(255)),
    sa.Column("claimed_at", UtcDateTime()),
    # how many times a partial run of it was tried again: see `Store.unfinished_events`
    sa.Column("retries", sa.Integer),
    # who submitted it (OS user, or the HTTP endpoint's client); None for HR's feed
    sa.Column("actor", sa.String(255)),
)

#: Standing termination holds, one per person (see `iam.holds`); a lifted or
#: ended hold is deleted, its whole story stays in the audit log.
holds = sa.Table(
    "holds",
    metadata,
    sa.Column("username", sa.String(128), primary_key=True),
    sa.Column("placed_at", UtcDateTime(), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("placed_by", sa.String(255), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(36)),
    # since when HR's feed has been seen listing the person active anyway
    sa.Column("conflict_since", UtcDateTime()),
)

#: The latest suspension of each person (see `iam.suspension`): when, why, by whom, in which
#: run, and every account they held then, so a restore puts back exactly that. It stands
#: while the identity's status is ``suspended``; the row stays afterwards as the record.
suspensions = sa.Table(
    "suspensions",
    metadata,
    sa.Column("username", sa.String(128), primary_key=True),
    sa.Column("suspended_at", UtcDateTime(), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("suspended_by", sa.String(255), nullable=False),
    sa.Column("ticket", sa.String(255)),
    sa.Column("run_id", sa.String(36)),
    sa.Column("held", sa.JSON, nullable=False),
    sa.Column("restored_at", UtcDateTime()),
)

seen_requests = sa.Table(
    "seen_requests",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("seen_at", UtcDateTime(), nullable=False),
)

sweeps = sa.Table(
    "sweeps",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("at", UtcDateTime(), nullable=False, index=True),
    sa.Column("stored_at", UtcDateTime(), nullable=False),
    sa.Column("summary", sa.JSON, nullable=False),
    sa.Column("findings", sa.JSON, nullable=False),
)

certifications = sa.Table(
    "certifications",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("manager", sa.String(128), nullable=False),
    sa.Column("due", sa.Date, nullable=False),
    sa.Column("items", sa.JSON, nullable=False),
    sa.Column("decisions", sa.JSON, nullable=False, default=dict),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # when the manager was told the campaign is due soon / overdue (`iam.certify.remind`): once each
    sa.Column("due_soon_told", UtcDateTime()),
    sa.Column("overdue_told", UtcDateTime()),
)

#: Audit records written with the journal entry they describe, in one transaction, then
#: appended to the log file from here (`iam.audit.AuditLog.flush`): a crash between the
#: two loses nothing, and the next command appends what is left, once.
audit_outbox = sa.Table(
    "audit_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("log", sa.String(512), nullable=False, index=True),
    sa.Column("record", sa.JSON, nullable=False),
)

#: Notifications that failed after their retries, kept for the next `iam run-due` to send
#: (`iam.notify.send_kept`): the message and its recipient (an address or webhook:NAME,
#: never a URL or a secret), how often it failed, and the last (redacted) error.
notification_outbox = sa.Table(
    "notification_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("recipient", sa.String(320), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("facts", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text, nullable=False),
)

#: The journal's statements, built and compiled once (`iam.prepared`): SQLAlchemy's own
#: work on each execute costs more than SQLite's, and a run writes about twenty.
#: Columns a run's or step's end fills in, not its start.
_LATER = frozenset({"outcome", "error", "started_at", "finished_at", "report"})
_STEP_STARTED = Prepared(
    steps.update()
    .where(steps.c.run_id == sa.bindparam("b_run"), steps.c.seq == sa.bindparam("b_seq"))
    .values(
        status="running",
        started_at=sa.bindparam("b_at", type_=UtcDateTime()),
        attempts=steps.c.attempts + 1,
    )
)
_STEP_FINISHED = Prepared(
    steps.update()
    .where(steps.c.run_id == sa.bindparam("b_run"), steps.c.seq == sa.bindparam("b_seq"))
    .values(
        status=sa.bindparam("b_status"),
        outcome=sa.bindparam("b_outcome"),
        error=sa.bindparam("b_error"),
        finished_at=sa.bindparam("b_at", type_=UtcDateTime()),
    )
)
_STEP_PLANNED = Prepared(
    steps.insert().values(
        {
            name: sa.bindparam(name)
            for name in (
                "run_id",
                "seq",
                "system",
                "op",
                "target",
                "description",
                "payload",
                "status",
                "attempts",
            )
        }
    )
)
_RUN_CREATED = Prepared(
    runs.insert().values(
        {c.name: sa.bindparam(c.name) for c in runs.c if c.name not in ("report", "finished_at")}
    )
)
_RUN_FINISHED = Prepared(
    runs.update()
    .where(runs.c.id == sa.bindparam("b_id"))
    .values(
        status=sa.bindparam("b_status"),
        report=sa.bindparam("b_report"),
        finished_at=sa.bindparam("b_at", type_=UtcDateTime()),
    )
)
_RUN_STEPS = Prepared(sa.select(steps).where(steps.c.run_id == sa.bindparam("b_run")).order_by(steps.c.seq))
_IDENTITY = Prepared(sa.select(identities).where(identities.c.username == sa.bindparam("b_username")))
_OUTBOX_ADD = Prepared(audit_outbox.insert().values(log=sa.bindparam("log"), record=sa.bindparam("record")))

#: How far the off-box copy (syslog) of each log got: the last record sent, by seq.
audit_forward = sa.Table(
    "audit_forward",
    metadata,
    sa.Column("log", sa.String(512), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
)

audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("log", sa.String(512), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)


def now() -> datetime:
    return datetime.now(UTC)


def _locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers (status, audit verify) run beside a writer; NORMAL
    sync survives a process crash, which is what the journal must survive."""
    cursor = dbapi_connection.cursor()
    # Switching a new file to WAL needs it to itself: a second process opening it at
    # that moment is told "locked" at once (SQLite's busy timeout does not apply here).
    for attempt in Retrying(
        retry=retry_if_exception(_locked), stop=stop_after_delay(10), wait=wait_fixed(0.01), reraise=True
    ):
        with attempt:
            cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@dataclass(frozen=True)
class RunOrigin:
    """Who ordered a run and what was there before it: the evidence a run keeps from its start."""

    actor: str | None = None
    ticket: str | None = None
    #: HR's facts about the person when the run was ordered.
    identity: dict[str, Any] | None = None
    #: What each system held before any step ran (system -> account as read, or None).
    before: dict[str, Any] | None = None


@dataclass(frozen=True)
class JournalFigures:
    """Counts a monitor scrapes (`Store.figures`)."""

    runs_by_status: dict[str, int]
    steps_by_outcome: dict[str, int]  # the step's status while it has no outcome yet
    due_events: int
    last_sweep: datetime | None


@dataclass
class StepRow:
    run_id: str
    seq: int
    system: str
    op: str
    target: str | None
    description: str
    payload: dict[str, Any]
    status: str
    outcome: str | None = None
    error: str | None = None
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None


#: Serialises schema creation among processes starting on one PostgreSQL database.
_SCHEMA_LOCK = zlib.crc32(b"iam.store.schema")

#: With a person's name, serialises recording that person (see `_upsert_identity`);
#: a 32-bit key, as the two-key advisory lock takes.
_IDENTITY_LOCK = zlib.crc32(b"iam.store.identity") - 2**31


def _insert(db: Connection) -> Callable[[sa.Table], Any]:
    """The dialect's INSERT, which knows ON CONFLICT (both dialects a store may use)."""
    return postgresql.insert if db.dialect.name == "postgresql" else sqlite.insert


def _upsert_statement(insert: Callable[[sa.Table], Any], with_attributes: bool) -> Prepared:
    """Insert a person, or set the status (and, ``with_attributes``, HR's facts) of one known."""
    changed: dict[str, Any] = {
        "status": sa.bindparam("b_status"),
        "updated_at": sa.bindparam("b_at", type_=UtcDateTime()),
    }
    if with_attributes:
        changed |= {
            "attributes": sa.bindparam("b_attributes", type_=sa.JSON),
            "hr_id": sa.bindparam("b_hr_id"),
        }
    new = {
        "username": sa.bindparam("b_username"),
        "attributes": sa.bindparam("b_attributes", type_=sa.JSON),
        "hr_id": sa.bindparam("b_hr_id"),
        **changed,
    }
    statement = insert(identities).values(new)
    return Prepared(statement.on_conflict_do_update(index_elements=[identities.c.username], set_=changed))


#: By dialect, then by whether HR's facts are set too.
_UPSERT_IDENTITY = {
    dialect: {facts: _upsert_statement(insert, facts) for facts in (False, True)}
    for dialect, insert in (("sqlite", sqlite.insert), ("postgresql", postgresql.insert))
}


def _upsert_identity(db: Connection, username: str, status: str, attributes: dict[str, Any] | None) -> None:
    """An upsert, so two workers recording the same person cannot both insert.

    On PostgreSQL the person is also locked for the transaction first: ON
    CONFLICT only arbitrates ``username``, so two inserts racing for the same
    person would otherwise collide on the unique ``hr_id`` instead.
    """
    if db.dialect.name == "postgresql":
        db.execute(sa.select(sa.func.pg_advisory_xact_lock(_IDENTITY_LOCK, sa.func.hashtext(username))))
    params = {
        "b_username": username,
        "b_status": status,
        "b_at": now(),
        "b_attributes": attributes if attributes is not None else {},
        "b_hr_id": (attributes or {}).get("hr_id") or None,
    }
    _UPSERT_IDENTITY[db.dialect.name][attributes is not None].run(db, params)


def _pending(run_id: str, rows: list[StepRow]) -> list[dict[str, Any]]:
    """Journal rows for planned steps, none run yet (payloads scrubbed of secrets)."""
    return [
        {
            "run_id": run_id,
            "seq": s.seq,
            "system": s.system,
            "op": s.op,
            "target": s.target,
            "description": s.description,
            "payload": redact_value(s.payload),
            "status": "pending",
            "attempts": 0,
        }
        for s in rows
    ]


def store_url(location: str) -> str:
    """A file path becomes a SQLite URL; a URL is used as given (postgresql:// means psycopg 3)."""
    if "://" not in location:
        return f"sqlite:///{location}"
    scheme, rest = location.split("://", 1)
    return f"postgresql+psycopg://{rest}" if scheme in ("postgres", "postgresql") else location


_URL_PASSWORD = re.compile(r"://([^/?#:@]*):.*@")
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*")


def display_location(location: str) -> str:
    """The store location fit to show: a password in the URL (which belongs in
    PGPASSWORD or ~/.pgpass instead) becomes ``***``; a file path is unchanged.

    Everything from the user's ``:`` to the *last* ``@`` is masked, so a
    password holding ``/``, ``#`` or ``@`` never shows in part (a query
    holding ``@`` is masked too: safe, if not pretty).
    """
    if "://" not in location:
        return location
    masked = _URL_PASSWORD.sub(rf"://\1:{REDACTED}@", location)
    return _QUERY_PASSWORD.sub(rf"\g<1>{REDACTED}", masked)


#: How long a claimed event may stay ``running`` before another worker takes
#: it over, its worker being presumed dead: longer than any one run takes.
CLAIM_LEASE = timedelta(hours=1)


def retry_delay(retries: int | None) -> timedelta:
    """How long a partial event waits before `run-due` tries it again: 5 min, doubling, at most 6 h."""
    delay: timedelta = timedelta(minutes=5) * 2 ** min(retries or 0, 10)
    return min(delay, timedelta(hours=6))


def _unclaimed() -> sa.ColumnElement[bool]:
    """Events no live worker holds: pending, or claimed longer than `CLAIM_LEASE` ago (a dead worker's)."""
    return sa.or_(
        events.c.status == "pending",
        sa.and_(events.c.status == "running", events.c.claimed_at < now() - CLAIM_LEASE),
    )


def _worker() -> str:
    """Who claims an event, as recorded in ``events.claimed_by``: host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"[:255]


def _add_missing_columns(db: Connection) -> None:
    """Bring a store made by an older version up to date: add new (nullable) columns."""
    inspector = sa.inspect(db)
    quote = db.dialect.identifier_preparer.quote
    for table in metadata.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present and column.nullable:
                kind = column.type.compile(dialect=db.dialect)
                db.execute(sa.text(f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column.name)} {kind}"))


class Store:
    """Thread-safe access to the journal; one instance per process."""

    def __init__(self, location: str) -> None:
        #: Where the store is, fit to show in reports and messages (no password).
        self.location = display_location(location)
        try:
            url = sa.engine.make_url(store_url(location))
        except (sa.exc.ArgumentError, ValueError):
            raise ConfigError(
                f"store: {self.location!r} is neither a file path nor a database URL "
                "(e.g. state/iam.db or postgresql+psycopg://iam@db.example.org/iam)"
            ) from None
        for secret in (url.password, url.query.get("password")):
            if isinstance(secret, str):
                register(secret)
        backend = url.get_backend_name()
        kwargs: dict[str, Any] = {}
        if backend == "sqlite":
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        elif backend == "postgresql":
            register(os.environ.get("PGPASSWORD", ""))
            kwargs["pool_pre_ping"] = True  # a long-lived `iam serve` outlives a database restart
            if "connect_timeout" not in url.query:
                kwargs["connect_args"] = {"connect_timeout": 10}
        else:
            raise ConfigError(
                f"store: {self.location}: only SQLite (a file path) and PostgreSQL "
                "(postgresql+psycopg://user@host/database) are supported"
            )
        try:
            self.engine: Engine = sa.create_engine(url, **kwargs)
        except (ImportError, sa.exc.NoSuchModuleError) as exc:
            raise ConfigError(
                f"store: {self.location}: the database driver is not installed ({exc}); "
                "for PostgreSQL: pip install 'iam[postgres]'"
            ) from None
        if backend == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self._lock = threading.Lock()
        self._create_schema()
        #: SQLite: the one connection every write goes through (see `_writing`); None: the pool's.
        self._writer: Connection | None = self.engine.connect() if backend == "sqlite" else None

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """One write transaction, one writer at a time in this process.

        With SQLite the writes share one connection kept open: taking a
        connection from the pool and giving it back costs about as much as a
        journal statement, and a run writes about ten. Between transactions it holds
        no lock (WAL), so other processes write as before. PostgreSQL takes a
        pooled connection each time, so one that a server restart broke is
        noticed (``pool_pre_ping``) rather than kept.
        """
        with self._lock:
            if self._writer is None:
                with self.engine.begin() as db:
                    yield db
            else:
                with self._writer.begin():
                    yield self._writer

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """One read. SQLite: on the writers' connection, in a transaction ended at once (a read
        left open would pin an old snapshot). A second connection would find its page cache
        dropped after every write of the first, and read the pages again."""
        if self._writer is None:
            with self.engine.connect() as db:
                yield db
            return
        with self._lock, self._writer.begin():
            yield self._writer

    def _create_schema(self) -> None:
        """Create missing tables and columns, one worker at a time when several start at once."""
        try:
            with self.engine.connect() as db:
                if db.dialect.name == "postgresql":
                    db.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK)))
                else:  # SQLite's write lock, taken now rather than at the first CREATE
                    db.exec_driver_sql("BEGIN IMMEDIATE")
                metadata.create_all(db)
                _add_missing_columns(db)
                db.exec_driver_sql(_USERNAME_LOWER)
                db.commit()
        except sa.exc.DBAPIError as exc:
            self.engine.dispose()
            raise ConfigError(f"store: {self.location}: cannot open: {_reason(exc)}") from None

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        self.engine.dispose()

    # runs ---------------------------------------------------------------

    def create_run(
        self,
        kind: str,
        username: str,
        reason: str,
        dry_run: bool,
        plan_steps: list[StepRow],
        plan_errors: dict[str, str],
        desired: dict[str, Any] | None = None,
        facts: RunOrigin | None = None,
        started: Callable[[str], tuple[str, dict[str, Any]]] | None = None,
    ) -> dict[str, Any]:
        """Record a run and all its planned steps as ``pending`` in one transaction; return the
        run as `get_run` would read it back.

        ``facts`` are the evidence of who ordered it and what was there before;
        ``started`` makes the audit record (log, record) of the run's start from
        its id, kept in the same transaction.
        """
        run_id = str(uuid.uuid4())
        origin = facts or RunOrigin()
        run = {
            "id": run_id,
            "kind": kind,
            "username": username,
            "reason": reason,
            "status": "planned" if dry_run else "running",
            "dry_run": dry_run,
            "plan_errors": redact_value(plan_errors),
            "desired": desired,
            "created_at": now(),
            "actor": origin.actor,
            "ticket": origin.ticket,
            "identity": redact_value(origin.identity),
            "before": redact_value(origin.before),
        }
        with self._writing() as db:
            _RUN_CREATED.run(db, run)
            _STEP_PLANNED.run_many(db, _pending(run_id, plan_steps))
            if started is not None:
                log, record = started(run_id)
                _OUTBOX_ADD.run(db, {"log": log, "record": record})
        crash_point("run journaled")
        return {**run, "report": None, "finished_at": None}

    def add_steps(self, run_id: str, new_steps: list[StepRow]) -> None:
        with self._writing() as db:
            _STEP_PLANNED.run_many(db, _pending(run_id, new_steps))

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self._reading() as db:
            row = db.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
            return dict(row) if row else None

    def find_runs(self, prefix: str) -> list[dict[str, Any]]:
        with self._reading() as db:
            rows = db.execute(sa.select(runs).where(runs.c.id.startswith(prefix, autoescape=True)))
            return [dict(r) for r in rows.mappings()]

    def latest_unfinished_run(self) -> dict[str, Any] | None:
        with self._reading() as db:
            row = (
                db.execute(
                    sa.select(runs)
                    .where(runs.c.status.in_(("running", "partial", "failed")), runs.c.dry_run.is_(False))
                    .order_by(runs.c.created_at.desc())
                )
                .mappings()
                .first()
            )
            return dict(row) if row else None

    def keep_notification(
        self, kind: str, recipient: str, subject: str, text: str, facts: dict[str, Any], error: str
    ) -> None:
        """Keep a notification that could not be delivered, for the next run-due."""
        row = {"kind": kind, "recipient": recipient, "subject": subject, "text": text}
        with self._writing() as db:
            db.execute(
                notification_outbox.insert().values(
                    **row, facts=facts, created_at=now(), failures=1, last_error=redact_value(error)
                )
            )

    def kept_notifications(self) -> list[dict[str, Any]]:
        """The notifications still to deliver, oldest first."""
        with self._reading() as db:
            query = sa.select(notification_outbox).order_by(notification_outbox.c.id)
            return [dict(r) for r in db.execute(query).mappings()]

    def forget_notification(self, id_: int) -> None:
        """Remove a kept notification: delivered, or dropped after `notifications.keep_days`."""
        with self._writing() as db:
            db.execute(notification_outbox.delete().where(notification_outbox.c.id == id_))

    def notification_failed_again(self, id_: int, error: str) -> None:
        with self._writing() as db:
            db.execute(
                notification_outbox.update()
                .where(notification_outbox.c.id == id_)
                .values(failures=notification_outbox.c.failures + 1, last_error=redact_value(error))
            )

    def list_runs(
        self,
        username: str | None = None,
        limit: int = 50,
        *,
        since: datetime | None = None,
        status: str | None = None,
    ) -> list[dict[str, Any]]:
        """The newest runs first, at most ``limit``; only those begun at ``since`` or later, of ``status``."""
        query = sa.select(runs).order_by(runs.c.created_at.desc()).limit(limit)
        if username:
            query = query.where(runs.c.username == username)
        if since is not None:
            query = query.where(runs.c.created_at >= since)
        if status:
            query = query.where(runs.c.status == status)
        with self._reading() as db:
            return [dict(r) for r in db.execute(query).mappings()]

    def set_run_plan_errors(self, run_id: str, plan_errors: dict[str, str]) -> None:
        with self._writing() as db:
            db.execute(runs.update().where(runs.c.id == run_id).values(plan_errors=redact_value(plan_errors)))

    def finish_run(
        self,
        run_id: str,
        status: str,
        report: dict[str, Any],
        person: tuple[str, str] | None = None,
        audit: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        """The run's verdict, the person's status (username, status) and the audit record of it:
        all in one transaction, so a crash never leaves a run complete and its person unmarked."""
        with self._writing() as db:
            _RUN_FINISHED.run(
                db, {"b_id": run_id, "b_status": status, "b_report": redact_value(report), "b_at": now()}
            )
            if person is not None:
                _upsert_identity(db, person[0], person[1], None)
            if audit is not None:
                _OUTBOX_ADD.run(db, {"log": audit[0], "record": audit[1]})
        crash_point("run verdict journaled")

    # steps (the journal) ------------------------------------------------

    def run_steps(self, run_id: str) -> list[StepRow]:
        with self._reading() as db:
            rows = _RUN_STEPS.mappings(db, {"b_run": run_id})
        return [StepRow(**{**r, "payload": r["payload"] or {}}) for r in rows]

    def step_started(self, run_id: str, seq: int) -> None:
        """Journal *before* the step runs."""
        with self._writing() as db:
            _STEP_STARTED.run(db, {"b_run": run_id, "b_seq": seq, "b_at": now()})
        crash_point("step journaled as running")

    def step_finished(
        self,
        run_id: str,
        seq: int,
        status: str,
        outcome: str | None,
        error: str | None,
        audit: tuple[str, dict[str, Any]] | None = None,
        then_started: int | None = None,
    ) -> None:
        """Journal *after* the step ran, with its audit record (log, record) in the same transaction.

        The two can never disagree: a crash leaves both or neither. ``then_started``
        names the system's next step, journaled as running in the same transaction
        (as `step_started` would, one commit fewer a step).
        """
        with self._writing() as db:
            _STEP_FINISHED.run(
                db,
                {
                    "b_run": run_id,
                    "b_seq": seq,
                    "b_status": status,
                    "b_outcome": outcome,
                    "b_error": error,
                    "b_at": now(),
                },
            )
            if audit is not None:
                _OUTBOX_ADD.run(db, {"log": audit[0], "record": audit[1]})
            if then_started is not None:
                _STEP_STARTED.run(db, {"b_run": run_id, "b_seq": then_started, "b_at": now()})
        crash_point("step journaled as ended")

    # identities ---------------------------------------------------------

    def upsert_identity(self, username: str, status: str, attributes: dict[str, Any] | None = None) -> None:
        with self._writing() as db:
            _upsert_identity(db, username, status, attributes)

    def identities(self) -> list[dict[str, Any]]:
        with self._reading() as db:
            return [
                dict(r) for r in db.execute(sa.select(identities).order_by(identities.c.username)).mappings()
            ]

    def iter_identities(self) -> Iterator[tuple[str, str, dict[str, Any] | None, datetime]]:
        """(username, status, attributes, updated_at) of each identity as the database hands it out:
        a sweep of 100,000 people keeps their `Identity`, not a dictionary per row as well.
        On a pooled connection of its own, not `_reading`'s: the caller works between rows,
        and journal writes must not wait for it. `IDENTITIES_A_FETCH` rows at a time: on
        PostgreSQL through a server-side cursor (a client-side one reads every row first)."""
        c = identities.c
        query = sa.select(c.username, c.status, c.attributes, c.updated_at).order_by(c.username)
        with self.engine.connect() as db:
            rows = db.execution_options(yield_per=IDENTITIES_A_FETCH).execute(query)
            yield from rows  # rows unpack as tuples

    # events -------------------------------------------------------------

    def record_event(self, event: dict[str, Any], identity_status: str | None) -> None:
        """Store an event and, with it, the identity it changes: all or nothing.

        An event stored as ``running`` is claimed by this worker at once (it is
        applied right away), so no `due_events` elsewhere hands it out too.
        """
        claim = {"claimed_by": _worker(), "claimed_at": now()} if event.get("status") == "running" else {}
        with self._writing() as db:
            db.execute(events.insert().values(**event, **claim, received_at=now()))
            if identity_status is not None:
                _upsert_identity(db, event["username"], identity_status, event["identity"])

    def finish_event(self, event_id: str, status: str, run_id: str | None, error: str | None) -> None:
        with self._writing() as db:
            db.execute(
                events.update()
                .where(events.c.id == event_id)
                .values(status=status, run_id=run_id, error=error, applied_at=now())
            )

    def due_events(self, at: datetime) -> Iterator[dict[str, Any]]:
        """Claim the events due at ``at``, oldest first, one each time the caller asks for the next.

        The statement that picks an event also marks it ``running`` (with who
        and when), so workers sharing the store never get the same event:
        PostgreSQL skips a row another worker is claiming, SQLite runs one
        writer at a time. A claim older than `CLAIM_LEASE` is taken to belong
        to a worker that died, and is taken over; `finish_event` ends a claim.
        """
        while (row := self._claim_next(at)) is not None:
            yield row

    def _claim_next(self, at: datetime) -> dict[str, Any] | None:
        claimable = _unclaimed()
        candidate = (
            sa.select(events.c.id)
            .where(claimable, events.c.effective_at <= at)
            .order_by(events.c.effective_at, events.c.received_at, events.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        with self._writing() as db:
            row = (
                db.execute(
                    events.update()
                    # claimable again: another worker may have claimed it since the pick
                    .where(events.c.id == candidate, claimable)
                    .values(status="running", claimed_by=_worker(), claimed_at=now())
                    .returning(*events.c)
                )
                .mappings()
                .first()
            )
            return dict(row) if row else None

    def unfinished_events(self, at: datetime | None = None) -> list[dict[str, Any]]:
        """Events whose run ended partial, to be tried again, oldest first.

        With ``at``, only those whose wait is over: `retry_delay` after the
        last try, growing with each retry, so a person who needs a human does
        not start a run every five minutes forever.
        """
        query = sa.select(events).where(events.c.status == "partial").order_by(events.c.effective_at)
        with self._reading() as db:
            rows = [dict(r) for r in db.execute(query).mappings()]
        if at is None:
            return rows
        return [r for r in rows if (r["applied_at"] or r["received_at"]) + retry_delay(r["retries"]) <= at]

    def claim_retry(self, event_id: str) -> bool:
        """Take a partial event to run it again; False if another worker took it first."""
        with self._writing() as db:
            result = db.execute(
                events.update()
                .where(events.c.id == event_id, events.c.status == "partial")
                .values(
                    status="running",
                    claimed_by=_worker(),
                    claimed_at=now(),
                    retries=sa.func.coalesce(events.c.retries, 0) + 1,
                )
            )
            return result.rowcount == 1

    def events_of_run(self, run_id: str) -> list[dict[str, Any]]:
        """The HR events a run carried out (an offboarding from the CLI has none)."""
        with self._reading() as db:
            rows = db.execute(sa.select(events).where(events.c.run_id == run_id))
            return [dict(r) for r in rows.mappings()]

    def list_events(self, status: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(events).order_by(events.c.effective_at)
        if status:
            query = query.where(events.c.status == status)
        with self._reading() as db:
            return [dict(r) for r in db.execute(query).mappings()]

    def cancel_pending(self, username: str, types: tuple[str, ...]) -> int:
        """Drop events a newer fact makes moot (a rehire cancels a future leave).

        A claim whose worker died counts as still pending: left alone, it
        would be taken over after the lease and undo the newer fact.
        """
        with self._writing() as db:
            result = db.execute(
                events.update()
                .where(events.c.username == username, _unclaimed(), events.c.type.in_(types))
                .values(status="cancelled", applied_at=now())
            )
            return int(result.rowcount or 0)

    def cancel_event(self, event_id: str) -> bool:
        """Drop one event no worker holds; False when it is not pending (applied, or being applied)."""
        with self._writing() as db:
            result = db.execute(
                events.update()
                .where(events.c.id == event_id, _unclaimed())
                .values(status="cancelled", applied_at=now())
            )
            return bool(result.rowcount)

    def schedule_event(self, event: dict[str, Any]) -> bool:
        """Store an event unless one with its id exists; False if it did.

        With a deterministic id (a grant's expiry), any number of workers
        noticing the same fact at once record it exactly once.
        """
        with self._writing() as db:
            inserted = db.execute(
                _insert(db)(events)
                .values(**event, received_at=now())
                .on_conflict_do_nothing(index_elements=[events.c.id])
                .returning(events.c.id)
            )
            return inserted.first() is not None

    def first_sighting(self, digest: str, window_start: datetime) -> bool:
        """Remember a signed request; False if it was seen before (a replay).

        One insert that ignores a duplicate: of two copies arriving at once,
        exactly one is the first.
        """
        with self._writing() as db:
            db.execute(seen_requests.delete().where(seen_requests.c.seen_at < window_start))
            inserted = db.execute(
                _insert(db)(seen_requests)
                .values(digest=digest, seen_at=now())
                .on_conflict_do_nothing(index_elements=[seen_requests.c.digest])
                .returning(seen_requests.c.digest)  # rowcount of an INSERT is not reliable
            )
            return inserted.first() is not None

    def get_identity(self, username: str) -> dict[str, Any] | None:
        with self._reading() as db:
            found = _IDENTITY.mappings(db, {"b_username": username})
            return found[0] if found else None

    def usernames_like(self, username: str) -> list[str]:
        """The identities' usernames equal to ``username`` but for case (usernames are ASCII):
        ``[username]`` when it is one as given (by the key, without a scan)."""
        if self.get_identity(username) is not None:
            return [username]
        lowered = sa.func.lower(identities.c.username) == username.lower()
        with self._reading() as db:
            return sorted(db.execute(sa.select(identities.c.username).where(lowered)).scalars())

    # termination holds --------------------------------------------------

    def place_hold(self, username: str, reason: str, placed_by: str, source: str, run_id: str | None) -> bool:
        """Hold ``username`` against HR unless a hold already stands (the first termination counts)."""
        with self._writing() as db:
            inserted = db.execute(
                _insert(db)(holds)
                .values(
                    username=username,
                    placed_at=now(),
                    reason=reason,
                    placed_by=placed_by,
                    source=source,
                    run_id=run_id,
                )
                .on_conflict_do_nothing(index_elements=[holds.c.username])
                .returning(holds.c.username)
            )
            return inserted.first() is not None

    def standing_holds(self) -> list[dict[str, Any]]:
        with self._reading() as db:
            return [dict(r) for r in db.execute(sa.select(holds).order_by(holds.c.username)).mappings()]

    def get_hold(self, username: str) -> dict[str, Any] | None:
        """The hold on ``username`` in any case: one placed on ``CAL`` holds HR's ``cal`` (holds are few)."""
        lowered = sa.func.lower(holds.c.username) == username.lower()
        with self._reading() as db:
            row = db.execute(sa.select(holds).where(lowered).order_by(holds.c.username)).mappings().first()
            return dict(row) if row else None

    def remove_hold(self, username: str, run_id: str | None = None) -> dict[str, Any] | None:
        """Delete the standing hold (only the one placed by ``run_id``, if given); the row deleted, if any.
        Found in any case, as `get_hold` finds it: a hold placed on ``CAL`` is lifted for HR's ``cal``."""
        query = holds.delete().where(sa.func.lower(holds.c.username) == username.lower())
        if run_id is not None:
            query = query.where(holds.c.run_id == run_id)
        with self._writing() as db:
            row = db.execute(query.returning(*holds.c)).mappings().first()
            return dict(row) if row else None

    def hold_conflicts_since(self, username: str, at: datetime) -> None:
        """Record that HR's feed lists a held person active; the first sighting is kept."""
        with self._writing() as db:
            db.execute(
                holds.update()
                .where(holds.c.username == username, holds.c.conflict_since.is_(None))
                .values(conflict_since=at)
            )

    # suspensions -------------------------------------------------------

    def suspend(self, row: dict[str, Any]) -> None:
        """Record a suspension (replacing the person's previous, ended one) and mark them
        suspended, in one transaction: from here on no sync or event grants them anything."""
        with self._writing() as db:
            values = {**row, "held": redact_value(row["held"]), "restored_at": None}
            db.execute(
                _insert(db)(suspensions)
                .values(**values)
                .on_conflict_do_update(index_elements=[suspensions.c.username], set_=values)
            )
            _upsert_identity(db, row["username"], "suspended", None)

    def add_suspension_held(self, username: str, run_id: str, held: dict[str, Any]) -> bool:
        """Add what systems unread at suspension hold now (read before a resumed run cuts them),
        to the suspension that run placed; False when that run's suspension no longer stands."""
        with self._writing() as db:
            query = sa.select(suspensions).where(
                suspensions.c.username == username,
                suspensions.c.run_id == run_id,
                suspensions.c.restored_at.is_(None),
            )
            row = db.execute(query).mappings().first()
            if row is None:
                return False
            merged = {**held, **{k: v for k, v in (row["held"] or {}).items() if k not in held}}
            db.execute(
                suspensions.update()
                .where(suspensions.c.username == username)
                .values(held=redact_value(merged))
            )
            return True

    def get_suspension(self, username: str) -> dict[str, Any] | None:
        with self._reading() as db:
            query = sa.select(suspensions).where(suspensions.c.username == username)
            row = db.execute(query).mappings().first()
            return dict(row) if row else None

    def standing_suspensions(self) -> list[dict[str, Any]]:
        """Suspensions of people whose status is still ``suspended`` (a leaver's has ended)."""
        query = (
            sa.select(suspensions)
            .join(identities, identities.c.username == suspensions.c.username)
            .where(identities.c.status == "suspended")
            .order_by(suspensions.c.username)
        )
        with self._reading() as db:
            return [dict(r) for r in db.execute(query).mappings()]

    def suspension_restored(self, username: str, at: datetime) -> None:
        with self._writing() as db:
            db.execute(suspensions.update().where(suspensions.c.username == username).values(restored_at=at))

    # reviews ------------------------------------------------------------

    def save_sweep(
        self, sweep_id: str, at: datetime, summary: dict[str, Any], findings: list[dict[str, Any]]
    ) -> None:
        with self._writing() as db:
            db.execute(
                sweeps.insert().values(
                    id=sweep_id, at=at, stored_at=now(), summary=summary, findings=findings
                )
            )

    def sweeps(self, limit: int = 2) -> list[dict[str, Any]]:
        """The latest sweeps, newest first (by sweep time, then by when stored)."""
        query = sa.select(sweeps).order_by(sweeps.c.at.desc(), sweeps.c.stored_at.desc()).limit(limit)
        with self._reading() as db:
            return [dict(r) for r in db.execute(query).mappings()]

    def figures(self, at: datetime) -> JournalFigures:
        """What ``GET /metrics`` shows, counted from the journal in one read."""
        outcome = sa.func.coalesce(steps.c.outcome, steps.c.status)
        due = (
            sa.select(sa.func.count())
            .select_from(events)
            .where(events.c.status == "pending", events.c.effective_at <= at)
        )
        with self._reading() as db:
            by_status = db.execute(sa.select(runs.c.status, sa.func.count()).group_by(runs.c.status))
            runs_by_status = {status: count for status, count in by_status}
            # a dry run's steps never run: counted, they would stay "pending" forever
            applied = steps.join(runs, steps.c.run_id == runs.c.id)
            by_outcome = db.execute(
                sa.select(outcome, sa.func.count())
                .select_from(applied)
                .where(runs.c.dry_run.is_(False))
                .group_by(outcome)
            )
            steps_by_outcome = {name: count for name, count in by_outcome}
            due_events = db.execute(due).scalar_one()
            last = db.execute(sa.select(sa.func.max(sweeps.c.at))).scalar_one()
        return JournalFigures(runs_by_status, steps_by_outcome, due_events, last)

    def save_certification(self, cert_id: str, manager: str, due: Any, items: list[dict[str, Any]]) -> None:
        with self._writing() as db:
            db.execute(
                certifications.insert().values(
                    id=cert_id, manager=manager, due=due, items=items, decisions={}, created_at=now()
                )
            )

    def get_certification(self, cert_id: str) -> dict[str, Any] | None:
        with self._reading() as db:
            row = (
                db.execute(sa.select(certifications).where(certifications.c.id == cert_id)).mappings().first()
            )
            return dict(row) if row else None

    def certifications(self) -> list[dict[str, Any]]:
        """Every campaign, newest first."""
        query = sa.select(certifications).order_by(certifications.c.created_at.desc())
        with self._reading() as db:
            return [dict(r) for r in db.execute(query).mappings()]

    def claim_certification_reminder(self, cert_id: str, column: str, at: datetime) -> bool:
        """Mark a reminder as sent unless it was (one worker sends it, once)."""
        col = certifications.c[column]
        with self._writing() as db:
            done = db.execute(
                certifications.update()
                .where(certifications.c.id == cert_id, col.is_(None))
                .values({column: at})
            )
            return bool(done.rowcount)

    def set_certification_decisions(self, cert_id: str, decisions: dict[str, Any]) -> None:
        with self._writing() as db:
            db.execute(
                certifications.update().where(certifications.c.id == cert_id).values(decisions=decisions)
            )

    # audit anchor -------------------------------------------------------

    def prune_runs(self, before: datetime) -> int:
        """Delete the runs that finished before ``before`` (and their steps); unfinished ones stay."""
        finished = sa.select(runs.c.id).where(
            runs.c.finished_at < before, runs.c.status.in_(("complete", "planned", "not_found", "cancelled"))
        )
        with self._writing() as db:
            db.execute(steps.delete().where(steps.c.run_id.in_(finished)))
            return int(db.execute(runs.delete().where(runs.c.id.in_(finished))).rowcount or 0)

    def outbox_add(self, log: str, record: dict[str, Any]) -> None:
        """An audit record to be appended to ``log``, kept until it is (`outbox_settle`)."""
        with self._writing() as db:
            _OUTBOX_ADD.run(db, {"log": log, "record": record})
        crash_point("audit record kept")

    def outbox_pending(self, log: str) -> list[tuple[int, dict[str, Any]]]:
        """The records waiting for ``log``, oldest first, with their outbox ids."""
        with self._reading() as db:
            rows = db.execute(
                sa.select(audit_outbox.c.id, audit_outbox.c.record)
                .where(audit_outbox.c.log == log)
                .order_by(audit_outbox.c.id)
            )
            return [(int(r.id), dict(r.record)) for r in rows]

    def outbox_settle(self, log: str, ids: list[int], seq: int, digest: str) -> None:
        """Records ``ids`` are in the log, whose last record is now (seq, digest): one transaction."""
        with self._writing() as db:
            if ids:
                db.execute(audit_outbox.delete().where(audit_outbox.c.id.in_(ids)))
            db.execute(
                _insert(db)(audit_head)
                .values(log=log, seq=seq, hash=digest)
                .on_conflict_do_update(index_elements=[audit_head.c.log], set_={"seq": seq, "hash": digest})
            )
        crash_point("audit log anchored")

    def forwarded(self, log: str) -> int:
        """The seq of the last record of ``log`` the syslog copy holds (0: none yet)."""
        with self._reading() as db:
            seq = db.execute(sa.select(audit_forward.c.seq).where(audit_forward.c.log == log)).scalar()
            return int(seq or 0)

    def set_forwarded(self, log: str, seq: int) -> None:
        with self._writing() as db:
            db.execute(
                _insert(db)(audit_forward)
                .values(log=log, seq=seq)
                .on_conflict_do_update(index_elements=[audit_forward.c.log], set_={"seq": seq})
            )

    def audit_head(self, log: str) -> tuple[int, str] | None:
        with self._reading() as db:
            row = db.execute(sa.select(audit_head).where(audit_head.c.log == log)).first()
            return (row.seq, row.hash) if row else None


def _reason(exc: sa.exc.DBAPIError) -> str:
    """The driver's own words (first line), and what to do about the usual causes."""
    text = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
    if "password" in text or "authentication" in text:
        text += " (give the password in PGPASSWORD or ~/.pgpass, not in the URL)"
    return text
