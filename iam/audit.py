"""The audit log: append-only JSON lines, hash-chained, secrets scrubbed.

Each record carries ``seq``, the ``prev`` record's hash and its own ``hash``
(SHA-256 of the canonical JSON of everything else), so an edited, removed or
reordered record breaks the chain. Removing records from the *end* leaves a
valid chain, so the store keeps the head (last seq and hash) as an anchor
that `verify` compares with.

Records go through a structlog processor chain: timestamp, redaction of
every registered secret, then the chaining writer.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from iam.secrets import redact_value
from iam.store import Store

GENESIS = "0" * 64


def canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def _redact_processor(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> Mapping[str, Any]:
    redacted: Mapping[str, Any] = redact_value(dict(event_dict))
    return redacted


class _ChainWriter:
    """structlog's final "logger": chains and appends one record under a file lock."""

    def __init__(self, path: Path, store: Store | None) -> None:
        self.path = path
        self.store = store
        self._lock = threading.Lock()

    def msg(self, **record: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                seq, prev = _last_link(handle)
                record["seq"] = seq + 1
                record["prev"] = prev
                record["hash"] = record_hash(record)
                handle.seek(0, os.SEEK_END)
                handle.write(canonical(record).encode() + b"\n")
                handle.flush()
                if self.store is not None:
                    self.store.set_audit_head(str(self.path.resolve()), record["seq"], record["hash"])
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    info = msg


def _last_link(handle: Any) -> tuple[int, str]:
    """The seq and hash of the file's last record (0 and genesis if empty)."""
    end = handle.seek(0, os.SEEK_END)
    if end == 0:
        return 0, GENESIS
    size = min(end, 65536)
    while True:
        handle.seek(end - size)
        chunk = handle.read(size).rstrip(b"\n")
        if b"\n" in chunk or size == end:
            last = chunk.rsplit(b"\n", 1)[-1]
            break
        size = min(end, size * 4)
    record = json.loads(last)
    return int(record["seq"]), str(record["hash"])


class AuditLog:
    """Where every access change and every decision is recorded."""

    def __init__(self, path: str | Path, store: Store | None = None) -> None:
        self.path = Path(path)
        self.store = store
        self._logger = structlog.wrap_logger(
            _ChainWriter(self.path, store),
            processors=[
                structlog.processors.TimeStamper(fmt="iso", utc=True, key="at"),
                _redact_processor,
            ],
            cache_logger_on_first_use=True,
        )

    def record(self, event: str, **fields: Any) -> None:
        """Append one record: ``event`` is a stable dotted name, fields are flat."""
        self._logger.info(event, **fields)

    def records(self, username: str | None = None) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                record = json.loads(line)
                if username is None or record.get("username") == username:
                    yield record

    def verify(self) -> VerifyReport:
        anchor = self.store.audit_head(str(self.path.resolve())) if self.store else None
        return verify_file(self.path, anchor)


@dataclass
class VerifyReport:
    records: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_file(path: Path, anchor: tuple[int, str] | None = None) -> VerifyReport:
    """Check every link of the chain, then the head against the stored anchor."""
    report = VerifyReport()
    prev, seq = GENESIS, 0
    if path.exists():
        with open(path, encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, start=1):
                if not line.strip():
                    report.problems.append(f"line {lineno}: empty line inside the log")
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    report.problems.append(f"line {lineno}: not JSON")
                    continue
                report.records += 1
                if record.get("seq") != seq + 1:
                    report.problems.append(
                        f"line {lineno}: seq {record.get('seq')} where {seq + 1} was expected "
                        "(a record was removed or reordered)"
                    )
                if record.get("prev") != prev:
                    report.problems.append(f"line {lineno}: does not link to the record before it")
                if record.get("hash") != record_hash(record):
                    report.problems.append(f"line {lineno}: content does not match its hash (edited)")
                prev, seq = record.get("hash", ""), int(record.get("seq") or seq + 1)
    elif anchor is None:
        return report
    if anchor is not None:
        anchor_seq, anchor_hash = anchor
        if seq < anchor_seq:
            report.problems.append(
                f"the log ends at record {seq} but the store saw record {anchor_seq}: records were removed"
            )
        elif seq == anchor_seq and prev != anchor_hash:
            report.problems.append("the last record differs from the one the store saw")
    return report
