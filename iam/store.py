"""The store: identities, runs and the step journal, through SQLAlchemy.

SQLite by default; the same code runs on PostgreSQL when several workers
share the work. A step is written *before* it runs (``running``) and *after*
(``done``/``failed``), so a crash leaves an exact record for `iam resume`.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from iam.secrets import redact_value

metadata = sa.MetaData()

identities = sa.Table(
    "identities",
    metadata,
    sa.Column("username", sa.String(128), primary_key=True),
    sa.Column("hr_id", sa.String(128), unique=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("attributes", sa.JSON, nullable=False, default=dict),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

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
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
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
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("username", sa.String(128), nullable=False, index=True),
    sa.Column("identity", sa.JSON, nullable=False),
    sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("run_id", sa.String(36)),
    sa.Column("error", sa.Text),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("applied_at", sa.DateTime(timezone=True)),
)

seen_requests = sa.Table(
    "seen_requests",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
)

sweeps = sa.Table(
    "sweeps",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
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
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers (status, audit verify) run beside a writer; NORMAL
    sync survives a process crash, which is what the journal must survive."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


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


def _upsert_identity(db: Any, username: str, status: str, attributes: dict[str, Any] | None) -> None:
    exists = db.execute(sa.select(identities.c.username).where(identities.c.username == username)).first()
    values: dict[str, Any] = {"status": status, "updated_at": now()}
    if attributes is not None:
        values["attributes"] = attributes
        values["hr_id"] = attributes.get("hr_id") or None
    if exists:
        db.execute(identities.update().where(identities.c.username == username).values(**values))
    else:
        values.setdefault("attributes", {})
        db.execute(identities.insert().values(username=username, **values))


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
    """A file path becomes a SQLite URL; a URL is used as given."""
    return location if "://" in location else f"sqlite:///{location}"


class Store:
    """Thread-safe access to the journal; one instance per process."""

    def __init__(self, location: str) -> None:
        url = store_url(location)
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        self.engine: Engine = sa.create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self._lock = threading.Lock()
        metadata.create_all(self.engine)

    def close(self) -> None:
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
    ) -> str:
        """Record a run and all its planned steps as ``pending`` in one transaction."""
        run_id = str(uuid.uuid4())
        with self._lock, self.engine.begin() as db:
            db.execute(
                runs.insert().values(
                    id=run_id,
                    kind=kind,
                    username=username,
                    reason=reason,
                    status="planned" if dry_run else "running",
                    dry_run=dry_run,
                    plan_errors=redact_value(plan_errors),
                    desired=desired,
                    created_at=now(),
                )
            )
            if plan_steps:
                db.execute(steps.insert(), _pending(run_id, plan_steps))
        return run_id

    def add_steps(self, run_id: str, new_steps: list[StepRow]) -> None:
        with self._lock, self.engine.begin() as db:
            db.execute(steps.insert(), _pending(run_id, new_steps))

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as db:
            row = db.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
            return dict(row) if row else None

    def find_runs(self, prefix: str) -> list[dict[str, Any]]:
        with self.engine.connect() as db:
            rows = db.execute(sa.select(runs).where(runs.c.id.startswith(prefix, autoescape=True)))
            return [dict(r) for r in rows.mappings()]

    def latest_unfinished_run(self) -> dict[str, Any] | None:
        with self.engine.connect() as db:
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

    def list_runs(self, username: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = sa.select(runs).order_by(runs.c.created_at.desc()).limit(limit)
        if username:
            query = query.where(runs.c.username == username)
        with self.engine.connect() as db:
            return [dict(r) for r in db.execute(query).mappings()]

    def set_run_plan_errors(self, run_id: str, plan_errors: dict[str, str]) -> None:
        with self._lock, self.engine.begin() as db:
            db.execute(runs.update().where(runs.c.id == run_id).values(plan_errors=redact_value(plan_errors)))

    def finish_run(self, run_id: str, status: str, report: dict[str, Any]) -> None:
        with self._lock, self.engine.begin() as db:
            db.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(status=status, report=json.loads(json.dumps(redact_value(report))), finished_at=now())
            )

    # steps (the journal) ------------------------------------------------

    def run_steps(self, run_id: str) -> list[StepRow]:
        with self.engine.connect() as db:
            rows = db.execute(sa.select(steps).where(steps.c.run_id == run_id).order_by(steps.c.seq))
            return [
                StepRow(
                    run_id=r["run_id"],
                    seq=r["seq"],
                    system=r["system"],
                    op=r["op"],
                    target=r["target"],
                    description=r["description"],
                    payload=r["payload"] or {},
                    status=r["status"],
                    outcome=r["outcome"],
                    error=r["error"],
                    attempts=r["attempts"],
                )
                for r in rows.mappings()
            ]

    def step_started(self, run_id: str, seq: int) -> None:
        """Journal *before* the step runs."""
        with self._lock, self.engine.begin() as db:
            db.execute(
                steps.update()
                .where(steps.c.run_id == run_id, steps.c.seq == seq)
                .values(status="running", started_at=now(), attempts=steps.c.attempts + 1)
            )

    def step_finished(
        self, run_id: str, seq: int, status: str, outcome: str | None, error: str | None
    ) -> None:
        """Journal *after* the step ran."""
        with self._lock, self.engine.begin() as db:
            db.execute(
                steps.update()
                .where(steps.c.run_id == run_id, steps.c.seq == seq)
                .values(status=status, outcome=outcome, error=error, finished_at=now())
            )

    # identities ---------------------------------------------------------

    def upsert_identity(self, username: str, status: str, attributes: dict[str, Any] | None = None) -> None:
        with self._lock, self.engine.begin() as db:
            _upsert_identity(db, username, status, attributes)

    def identities(self) -> list[dict[str, Any]]:
        with self.engine.connect() as db:
            return [
                dict(r) for r in db.execute(sa.select(identities).order_by(identities.c.username)).mappings()
            ]

    # events -------------------------------------------------------------

    def record_event(self, event: dict[str, Any], identity_status: str | None) -> None:
        """Store an event and, with it, the identity it changes: all or nothing."""
        with self._lock, self.engine.begin() as db:
            db.execute(events.insert().values(**event, received_at=now()))
            if identity_status is not None:
                _upsert_identity(db, event["username"], identity_status, event["identity"])

    def finish_event(self, event_id: str, status: str, run_id: str | None, error: str | None) -> None:
        with self._lock, self.engine.begin() as db:
            db.execute(
                events.update()
                .where(events.c.id == event_id)
                .values(status=status, run_id=run_id, error=error, applied_at=now())
            )

    def due_events(self, at: datetime) -> list[dict[str, Any]]:
        with self.engine.connect() as db:
            rows = db.execute(
                sa.select(events)
                .where(events.c.status == "pending", events.c.effective_at <= at)
                .order_by(events.c.effective_at, events.c.received_at)
            )
            return [dict(r) for r in rows.mappings()]

    def list_events(self, status: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(events).order_by(events.c.effective_at)
        if status:
            query = query.where(events.c.status == status)
        with self.engine.connect() as db:
            return [dict(r) for r in db.execute(query).mappings()]

    def cancel_pending(self, username: str, types: tuple[str, ...]) -> int:
        """Drop pending events a newer fact makes moot (a rehire cancels a future leave)."""
        with self._lock, self.engine.begin() as db:
            result = db.execute(
                events.update()
                .where(events.c.username == username, events.c.status == "pending", events.c.type.in_(types))
                .values(status="cancelled", applied_at=now())
            )
            return int(result.rowcount or 0)

    def first_sighting(self, digest: str, window_start: datetime) -> bool:
        """Remember a signed request; False if it was seen before (a replay)."""
        with self._lock, self.engine.begin() as db:
            db.execute(seen_requests.delete().where(seen_requests.c.seen_at < window_start))
            if db.execute(sa.select(seen_requests.c.digest).where(seen_requests.c.digest == digest)).first():
                return False
            db.execute(seen_requests.insert().values(digest=digest, seen_at=now()))
            return True

    def get_identity(self, username: str) -> dict[str, Any] | None:
        with self.engine.connect() as db:
            row = (
                db.execute(sa.select(identities).where(identities.c.username == username)).mappings().first()
            )
            return dict(row) if row else None

    # reviews ------------------------------------------------------------

    def save_sweep(
        self, sweep_id: str, at: datetime, summary: dict[str, Any], findings: list[dict[str, Any]]
    ) -> None:
        with self._lock, self.engine.begin() as db:
            db.execute(
                sweeps.insert().values(
                    id=sweep_id, at=at, stored_at=now(), summary=summary, findings=findings
                )
            )

    def sweeps(self, limit: int = 2) -> list[dict[str, Any]]:
        """The latest sweeps, newest first (by sweep time, then by when stored)."""
        query = sa.select(sweeps).order_by(sweeps.c.at.desc(), sweeps.c.stored_at.desc()).limit(limit)
        with self.engine.connect() as db:
            return [dict(r) for r in db.execute(query).mappings()]

    def save_certification(self, cert_id: str, manager: str, due: Any, items: list[dict[str, Any]]) -> None:
        with self._lock, self.engine.begin() as db:
            db.execute(
                certifications.insert().values(
                    id=cert_id, manager=manager, due=due, items=items, decisions={}, created_at=now()
                )
            )

    def get_certification(self, cert_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as db:
            row = (
                db.execute(sa.select(certifications).where(certifications.c.id == cert_id)).mappings().first()
            )
            return dict(row) if row else None

    def set_certification_decisions(self, cert_id: str, decisions: dict[str, Any]) -> None:
        with self._lock, self.engine.begin() as db:
            db.execute(
                certifications.update().where(certifications.c.id == cert_id).values(decisions=decisions)
            )

    # audit anchor -------------------------------------------------------

    def audit_head(self, log: str) -> tuple[int, str] | None:
        with self.engine.connect() as db:
            row = db.execute(sa.select(audit_head).where(audit_head.c.log == log)).first()
            return (row.seq, row.hash) if row else None

    def set_audit_head(self, log: str, seq: int, digest: str) -> None:
        with self.engine.begin() as db:
            updated = db.execute(
                audit_head.update().where(audit_head.c.log == log).values(seq=seq, hash=digest)
            )
            if not updated.rowcount:
                db.execute(audit_head.insert().values(log=log, seq=seq, hash=digest))
