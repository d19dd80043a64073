"""The audit chain, read and judged: links, hashes, the store's anchor, signed checkpoints.

Pure: the lines of a log go in, a `ChainReport` naming every problem comes
out. Each record carries ``seq``, the ``prev`` record's hash and its own
``hash`` (SHA-256 of the canonical JSON of the rest), so an edited, removed
or reordered record breaks a link. Removing records from the end keeps the
links whole: the store's anchor (the last record it saw appended) and the
signed checkpoints catch that, and catch a chain recomputed from scratch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from iam.signing import key_id, signature_valid

GENESIS = "0" * 64
CHECKPOINT = "audit.checkpoint"


def canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def signed_part(record: dict[str, Any]) -> bytes:
    """What a checkpoint's signature covers: the record without its signature and its own hash
    (its ``prev`` is the hash of the last record it seals, its ``seq`` where it stands)."""
    return canonical({k: v for k, v in record.items() if k not in ("signature", "hash")}).encode()


ROTATED = "audit.rotated"
PRUNED = "audit.pruned"


@dataclass(frozen=True)
class Line:
    """One line of a log: its number, and the record it holds (None: not a whole record)."""

    number: int
    record: dict[str, Any] | None
    #: The file it is in, when a log spans several (rotated) files; None for the current one.
    source: str | None = None

    @property
    def label(self) -> str:
        return f"{self.source} line {self.number}" if self.source else f"line {self.number}"


def parse(lines: Iterable[bytes], source: str | None = None) -> Iterator[Line]:
    """The log's lines as records; a torn or foreign line is kept as None, never dropped."""
    for number, raw in enumerate(lines, start=1):
        text = raw.rstrip(b"\n")
        try:
            record = json.loads(text) if text.strip() else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            record = None
        yield Line(number, record if isinstance(record, dict) else None, source)


@dataclass
class ChainReport:
    """What `verify` found; ``ok`` only when nothing at all is wrong."""

    records: int = 0
    problems: list[str] = field(default_factory=list)
    last_seq: int = 0
    last_hash: str = GENESIS
    checkpoints: int = 0
    #: The seq of the last record a valid checkpoint seals.
    sealed: int = 0
    #: A public key asked for signatures and the log holds no checkpoint at all: never signed.
    unsigned: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(
    lines: Iterable[Line],
    *,
    anchor: tuple[int, str] | None = None,
    anchored: bool = False,
    public_key: Ed25519PublicKey | None = None,
    start: tuple[int, str] = (0, GENESIS),
) -> ChainReport:
    """Judge a log: every link and hash; the ``anchor`` (the store's head) when ``anchored``; every
    checkpoint's signature and that the chain ends sealed when a ``public_key`` is given.

    ``lines`` are a log's parsed lines (`parse`), a whole series of rotated files in order;
    ``start`` is the link the first record follows (an audited prune removed what came before).
    """
    report = ChainReport()
    seq, prev = start
    anchor_seen = False
    checkpoint_lines = 0
    for line in lines:
        record = line.record
        if record is None:
            report.problems.append(
                f"{line.label}: not a whole record (a torn write or a foreign line); "
                "the records after it are checked against the last whole one"
            )
            continue
        report.records += 1
        where = f"{line.label} (record {record.get('seq')}, {record.get('event')})"
        if record.get("seq") != seq + 1:
            report.problems.append(
                f"{where}: seq {record.get('seq')} where {seq + 1} was expected "
                "(a record was removed, inserted or reordered)"
            )
        if record.get("prev") != prev:
            report.problems.append(f"{where}: does not link to the record before it")
        digest = record_hash(record)
        if record.get("hash") != digest:
            report.problems.append(f"{where}: its content does not match its hash (edited)")
        if record.get("event") == CHECKPOINT:
            checkpoint_lines += 1
            _checkpoint(record, where, public_key, report)
        seq = record["seq"] if isinstance(record.get("seq"), int) else seq + 1
        prev = str(record.get("hash", ""))
        if anchor is not None and seq == anchor[0]:
            anchor_seen = True
            if prev != anchor[1]:
                report.problems.append(
                    f"{where}: is not the record the store anchored at seq {anchor[0]} "
                    "(the log was rewritten up to there)"
                )
    report.last_seq, report.last_hash = seq, prev
    if anchored:
        _judge_anchor(report, anchor, anchor_seen)
    if public_key is not None:
        _judge_seal(report, unsigned=not checkpoint_lines)
    return report


def _checkpoint(
    record: dict[str, Any], where: str, public_key: Ed25519PublicKey | None, report: ChainReport
) -> None:
    if public_key is None:
        report.checkpoints += 1
        return
    if record.get("key") != key_id(public_key):
        report.problems.append(f"{where}: signed by key {record.get('key')}, not by the key given")
        return
    if not signature_valid(public_key, signed_part(record), str(record.get("signature", ""))):
        report.problems.append(f"{where}: the checkpoint's signature is not valid (forged or edited)")
        return
    report.checkpoints += 1
    report.sealed = int(record["seq"])


def _judge_anchor(report: ChainReport, anchor: tuple[int, str] | None, seen: bool) -> None:
    if anchor is None:
        if report.records:
            report.problems.append(
                "the store holds no anchor for this log (deleted, replaced or a store never used with it): "
                "whether records were removed from the end cannot be told"
            )
        return
    if report.last_seq < anchor[0]:
        report.problems.append(
            f"the log ends at record {report.last_seq}, but the store saw record {anchor[0]} appended: "
            "records were removed from the end"
        )
    elif report.last_seq > anchor[0]:
        report.problems.append(
            f"records {anchor[0] + 1} to {report.last_seq} come after the last record the store saw "
            f"appended (seq {anchor[0]}): added behind iam's back, or the store was rolled back"
        )
    elif not seen:
        report.problems.append(f"no record {anchor[0]} in the log, which the store anchored")


def _judge_seal(report: ChainReport, *, unsigned: bool) -> None:
    if not report.records:
        return
    if unsigned:
        report.unsigned = True
        report.problems.append(
            "no signed checkpoint in the log: it was written without audit.signing_key (or its "
            "checkpoints were removed), so nothing in it can be checked with the key"
        )
    elif not report.checkpoints:
        report.problems.append("no valid signed checkpoint in the log: nothing in it is sealed")
    elif report.sealed < report.last_seq:
        report.problems.append(
            f"records {report.sealed + 1} to {report.last_seq} come after the last signed checkpoint "
            f"(record {report.sealed}): they are not sealed"
        )
