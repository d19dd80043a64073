"""The audit log: append-only JSON lines, hash-chained, signed, secrets scrubbed, nothing lost.

A record is first kept in the store's outbox, in the same transaction as
the journal entry it describes when there is one (`Store.step_finished`),
then appended to the file by `flush`, which chains it (``seq``, ``prev``,
``hash``, see `iam.chain`) and anchors the new head in the store. A crash
between the two loses nothing: the next command, `iam resume` or `iam audit
verify` appends what was left, once (records already in the file are
recognised by their outbox id, ``oid``). A torn last line (a crash mid-write,
a full disk) stays in the file, visible to `verify`; new records go after
the last whole one.

Every record names who acted (`iam.actor`) and, when given, the ticket.
With ``audit.signing_key`` configured, `checkpoint` appends a record signed
with Ed25519 that seals the chain up to it (`iam.signing`).

Records go through a structlog processor chain: timestamp, actor, then the
redaction of every registered secret.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from iam import actor, chain
from iam.chain import CHECKPOINT, GENESIS, PRUNED, ROTATED, ChainReport, canonical, record_hash, signed_part
from iam.failpoints import crash_point
from iam.forward import Forwarder
from iam.logfiles import LogFiles, first_whole, last_whole
from iam.secrets import redact_value
from iam.signing import Signer
from iam.store import Store

#: Seconds the syslog copy is not tried again after it failed (a down server must not slow every step).
FORWARD_PAUSE = 30.0

#: Inside `AuditLog.batch`, the file is appended once this many records wait, and by a timer
#: at least this often (and always at the batch's end).
BATCH_RECORDS = 1000
BATCH_SECONDS = 2.0


def _who(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event_dict.setdefault("actor", actor.current())
    ticket = actor.ticket()
    if ticket:
        event_dict.setdefault("ticket", ticket)
    return event_dict


def _redact(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> Mapping[str, Any]:
    redacted: Mapping[str, Any] = redact_value(dict(event_dict))
    return redacted


class _Capture:
    """structlog's final "logger": hands the processed record back to `AuditLog.prepare`."""

    def msg(self, **record: Any) -> dict[str, Any]:
        return record

    info = msg


class AuditLog:
    """Where every access change and every decision is recorded."""

    def __init__(
        self,
        path: str | Path,
        store: Store | None = None,
        signer: Signer | None = None,
        forwarder: Forwarder | None = None,
        rotation: Rotation | None = None,
    ) -> None:
        self.path = Path(path)
        self.files = LogFiles(self.path)
        self.rotation = rotation or Rotation()
        self.store = store
        self.signer = signer
        self.forwarder = forwarder
        #: Until when (monotonic) the syslog copy is not tried again after a failure.
        self._forward_pause = 0.0
        #: Why the syslog copy is behind, if it is (said once per command).
        self.forward_problem: str | None = None
        #: The store keys a log by its absolute path: one log per path, one path per machine.
        self.key = str(self.path.resolve())
        self._lock = threading.Lock()
        self._appended = 0
        #: Open `batch` scopes (in any thread), their timer, and the records kept since the last append.
        self._batching = 0
        self._batch_lock = threading.Lock()
        self._timer_stop = threading.Event()
        self._timer: threading.Thread | None = None
        self._kept_since = 0
        self._logger = structlog.wrap_logger(
            _Capture(),
            processors=[structlog.processors.TimeStamper(fmt="iso", utc=True, key="at"), _who, _redact],
            cache_logger_on_first_use=True,
        )

    # writing -----------------------------------------------------------------------------

    def prepare(self, event: str, **fields: Any) -> dict[str, Any]:
        """A record ready to keep: ``event`` (a stable dotted name), time, actor, fields; no secret."""
        record: dict[str, Any] = self._logger.info(event, **fields)
        return record

    def pending(self, event: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        """(log, record) for the store to keep with a journal entry, in the same transaction."""
        self._kept_since += 1
        return self.key, self.prepare(event, **fields)

    def keep(self, event: str, **fields: Any) -> None:
        """Keep one record in the store, to be appended with the next `flush` (a run's end, or a
        resume's; inside `batch`, the batch's): one append and fsync of the log per run, or per
        batch, not one per record."""
        if self.store is None:
            self.record(event, **fields)
            return
        self._kept_since += 1
        self.store.outbox_add(self.key, self.prepare(event, **fields))

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Many runs in a row (a layoff, an HR sync): append their records together.

        Each record is already kept in the store with the journal entry it
        describes, so deferring the file append loses nothing on a crash (the
        next command appends what waits, as after any crash). Inside, the
        file is appended once `BATCH_RECORDS` wait (`settle`, `record`), and
        by a timer at least every `BATCH_SECONDS` while anything waits, so a
        run stuck on a slow system does not hold back what came before it;
        leaving a scope appends what waits. A single run (`iam offboard
        alice`) is not batched: its records are in the file when it returns.
        """
        with self._batch_lock:  # `iam serve` may run two feeds' batches at once, in two threads
            self._batching += 1
            if self._batching == 1:
                self._timer_stop = threading.Event()
                self._timer = threading.Thread(
                    target=self._flush_every, args=(self._timer_stop,), name="audit-batch", daemon=True
                )
                self._timer.start()
        try:
            yield
        finally:
            with self._batch_lock:
                self._batching -= 1
                last = self._timer if self._batching == 0 else None
                if last is not None:
                    self._timer_stop.set()
            if last is not None:
                last.join()
            self.flush()

    def _flush_every(self, stop: threading.Event) -> None:
        """The batch's timer: what waits reaches the file within `BATCH_SECONDS`."""
        while not stop.wait(BATCH_SECONDS):
            try:
                self.flush()
            except Exception:  # the batch's own last append meets the same error, and raises it
                return

    def settle(self) -> None:
        """Append what waits now, or, inside `batch`, once `BATCH_RECORDS` wait (a run's end, a record)."""
        if self._batching and self._kept_since < BATCH_RECORDS:
            return
        self.flush()

    def record(self, event: str, **fields: Any) -> None:
        """Keep one record and append it to the log now (inside `batch`: with the batch's)."""
        record = self.prepare(event, **fields)
        if self.store is None:
            with self.files.locked() as handle:
                self._append(handle, [record])
            return
        self._kept_since += 1
        self.store.outbox_add(self.key, record)
        self.settle()

    def flush(self) -> int:
        """Append every record the store keeps for this log, once; returns how many were appended."""
        if self.store is None:
            return 0
        with self._lock:
            if not self.store.outbox_pending(self.key):  # the usual case: nothing waits
                return 0
            with self.files.locked() as handle:
                pending = self.store.outbox_pending(self.key)  # again, now that the file is ours
                if not pending:
                    return 0
                done = _appended_oids(handle, self.store.audit_head(self.key))
                fresh = [{**record, "oid": oid} for oid, record in pending if oid not in done]
                seq, digest = self._append(handle, fresh)
                self.store.outbox_settle(self.key, [oid for oid, _ in pending], seq, digest)
                self._kept_since = 0
                self._forward(seq)
                self._rotate_if_due(handle, seq, digest)
                return len(fresh)

    def checkpoint(self) -> bool:
        """Append a signed checkpoint sealing the chain, if a key is configured and anything is unsealed."""
        if self.signer is None:
            return False
        self.flush()
        with self._lock, self.files.locked() as handle:
            last = self.files.last_link(handle)
            if last is None or last.get("event") == CHECKPOINT:
                return False  # nothing written since the last seal
            seal = self.prepare(CHECKPOINT, key=self.signer.key_id, log=self.path.name)
            seq, digest = self._append(handle, [seal], sign=True)
            if self.store is not None:
                self.store.outbox_settle(self.key, [], seq, digest)
                self._forward(seq)
            return True

    def _forward(self, last: int) -> None:
        """Send the syslog copy every record it lacks, in order; a failure waits for a later flush."""
        if self.forwarder is None or self.store is None or time.monotonic() < self._forward_pause:
            return
        sent = self.store.forwarded(self.key)
        if sent >= last:
            return
        behind = [
            line.record
            for line in self.files.lines()
            if line.record is not None
            and isinstance(line.record.get("seq"), int)
            and line.record["seq"] > sent
        ]
        try:
            self.forwarder.send(behind)
        except OSError as exc:
            self._forward_pause = time.monotonic() + FORWARD_PAUSE
            if self.forward_problem is None:
                self.forward_problem = f"the syslog copy is behind (records after {sent} wait): {exc}"
                sys.stderr.write(f"iam: {self.forward_problem}\n")
            return
        self.store.set_forwarded(self.key, last)

    def close(self) -> None:
        """End of a command: append what waits, seal what this command wrote, catch the syslog copy up."""
        self.flush()
        if self._appended:
            self.checkpoint()
        if self.forwarder is not None and self.store is not None:
            head = self.store.audit_head(self.key)
            if head is not None and self.store.forwarded(self.key) < head[0]:
                with self._lock, self.files.locked():
                    self._forward(head[0])

    def _rotate_if_due(self, handle: BinaryIO, seq: int, digest: str) -> None:
        """Start a new file when the current one is too big or too old; the chain runs on into it."""
        first = first_whole(self.path) if self.rotation.max_age_days else None
        too_old = first is not None and _older(str(first.get("at", "")), self.rotation.max_age_days)
        if not (self.rotation.max_bytes and handle.tell() >= self.rotation.max_bytes) and not too_old:
            return
        name = self.files.rotate(seq)
        with open(self.path, "a+b") as fresh:
            marker = self.prepare(ROTATED, previous=name, previous_last_seq=seq, previous_last_hash=digest)
            seq, digest = self._append(fresh, [marker])
        if self.store is not None:
            self.store.outbox_settle(self.key, [], seq, digest)
            self._forward(seq)

    def prune(self, now: datetime, days: int) -> list[str]:
        """Delete the rotated files whose last record is older than ``days`` (oldest first, never the
        current file), and record it: the chain then starts where the prune record says."""
        cutoff = now - timedelta(days=days)
        gone: list[tuple[str, dict[str, Any]]] = []
        with self._lock, self.files.locked():
            for path in self.files.rotated():
                with open(path, "rb") as older:
                    last = last_whole(older)
                if last is None or datetime.fromisoformat(str(last["at"])) >= cutoff:
                    break
                path.unlink()
                gone.append((path.name, last))
        if gone:
            through = gone[-1][1]
            self.record(
                PRUNED,
                files=[name for name, _ in gone],
                through_seq=through["seq"],
                through_hash=through["hash"],
                retention_days=days,
            )
        return [name for name, _ in gone]

    def _append(self, handle: BinaryIO, records: list[dict[str, Any]], sign: bool = False) -> tuple[int, str]:
        """Chain and append ``records`` after the last whole record; durable before it returns."""
        last = self.files.last_link(handle)
        seq, prev = (int(last["seq"]), str(last["hash"])) if last else (0, GENESIS)
        end = handle.seek(0, os.SEEK_END)
        if end:
            handle.seek(end - 1)
            if handle.read(1) != b"\n":  # a torn line stays, on a line of its own
                handle.write(b"\n")
        for record in records:
            seq += 1
            record = {**record, "seq": seq, "prev": prev}
            if sign and self.signer is not None:
                record["signature"] = self.signer.sign(signed_part(record))
            record["hash"] = prev = record_hash(record)
            handle.write(canonical(record).encode() + b"\n")
            handle.flush()
            crash_point("audit record appended")
        os.fsync(handle.fileno())
        self._appended += len(records)
        return seq, prev

    # reading ------------------------------------------------------------------------------

    def records(self, username: str | None = None) -> Iterator[dict[str, Any]]:
        """The log's whole records (after appending what waits), optionally about one person."""
        self.flush()
        for line in self.files.lines():
            record = line.record
            if record is not None and (username is None or record.get("username") == username):
                yield record

    def verify(self, public_key: Ed25519PublicKey | None = None) -> ChainReport:
        """Check every link and hash, the store's anchor, and (with a key) every signed checkpoint.

        What a crash left waiting is appended first, and sealed when this
        machine holds the signing key, so only what iam did not write is reported.
        """
        if self.signer:
            self.close()
        else:
            self.flush()
        key = public_key or (self.signer.public if self.signer else None)
        anchor = self.store.audit_head(self.key) if self.store is not None else None
        if not self.files.series():
            report = ChainReport()
            if anchor is not None:
                report.problems.append(
                    f"the log is gone, but the store saw record {anchor[0]} appended to it"
                )
            return report
        return verify_series(self.files, anchor=anchor, anchored=self.store is not None, public_key=key)


@dataclass(frozen=True)
class Rotation:
    """When the current file is moved aside and a new one begun (None: never for that reason)."""

    max_bytes: int | None = None
    max_age_days: int | None = None


def _older(at: str, days: int | None) -> bool:
    try:
        return days is not None and datetime.fromisoformat(at) < datetime.now(UTC) - timedelta(days=days)
    except ValueError:
        return False


def verify_series(
    files: LogFiles,
    *,
    anchor: tuple[int, str] | None = None,
    anchored: bool = False,
    public_key: Ed25519PublicKey | None = None,
) -> ChainReport:
    """Check a log across its rotated files; a start after record 1 is accepted only where an
    audited prune (``audit.pruned``) names exactly the link the first remaining record follows."""
    series = files.series()
    first = first_whole(series[0]) if series else None
    start = (0, GENESIS)
    if first is not None and first.get("seq") != 1:
        link = (int(first.get("seq", 1)) - 1, str(first.get("prev", "")))
        vouched = any(
            line.record is not None
            and line.record.get("event") == PRUNED
            and (line.record.get("through_seq"), line.record.get("through_hash")) == link
            for line in files.lines()
        )
        start = link if vouched else start
    return chain.verify(files.lines(), anchor=anchor, anchored=anchored, public_key=public_key, start=start)


def _appended_oids(handle: BinaryIO, head: tuple[int, str] | None) -> set[int]:
    """The outbox ids of records already in the file beyond the store's head: appended by a
    process that died before it could say so (they must not be appended twice)."""
    last = last_whole(handle)
    if last is None or (head is not None and int(last["seq"]) <= head[0]):
        return set()
    after = head[0] if head else 0
    handle.seek(0)
    return {
        int(line.record["oid"])
        for line in chain.parse(handle)
        if line.record is not None and int(line.record.get("seq", 0)) > after and "oid" in line.record
    }


def verify_copy(path: Path, public_key: Ed25519PublicKey) -> ChainReport:
    """An auditor's check of a log (with its rotated files) alone: links, hashes, signed checkpoints."""
    files = LogFiles(path)
    if not files.series():
        report = ChainReport()
        report.problems.append(f"{path}: no such file")
        return report
    return verify_series(files, public_key=public_key)
