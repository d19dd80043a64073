"""The audit log on disk: the current file, the files rotated out of it, one lock for every writer.

A rotated file is named after the current one and the seq of its last
record (``audit.jsonl.0000012345``), so the series sorts in chain order; the
chain itself runs on from one file into the next (`iam.audit`). Every writer
takes the lock of ``<log>.lock``, a file that is never renamed, so a rotation
cannot slip between two writers.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from iam import chain


class LogFiles:
    """The files of one audit log."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rotated(self) -> list[Path]:
        """The files rotated out of the log, oldest first."""
        prefix = self.path.name + "."
        found = [
            p for p in self.path.parent.glob(prefix + "*") if p.name[len(prefix) :].isdigit() and p.is_file()
        ]
        return sorted(found, key=lambda p: int(p.name[len(prefix) :]))

    def series(self) -> list[Path]:
        """Every file of the log in chain order: the rotated ones, then the current one if it exists."""
        return self.rotated() + ([self.path] if self.path.exists() else [])

    def lines(self) -> Iterator[chain.Line]:
        """Every line of the series, each labelled with its file when it is not the current one."""
        for path in self.series():
            with open(path, "rb") as handle:
                yield from chain.parse(handle, None if path == self.path else path.name)

    @contextmanager
    def locked(self) -> Iterator[BinaryIO]:
        """The current file, open for appending, while this process alone may write the log."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{self.path}.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                with open(self.path, "a+b") as handle:
                    yield handle
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def last_link(self, handle: BinaryIO) -> dict[str, Any] | None:
        """The last whole record of the chain: in the current file, else in the newest rotated one."""
        last = last_whole(handle)
        if last is None:
            for path in reversed(self.rotated()):
                with open(path, "rb") as older:
                    last = last_whole(older)
                if last is not None:
                    break
        return last

    def rotate(self, last_seq: int) -> str:
        """Move the current file aside (the lock is held); returns the rotated file's name."""
        target = self.path.with_name(f"{self.path.name}.{last_seq:010d}")
        os.replace(self.path, target)
        return target.name


def last_whole(handle: BinaryIO) -> dict[str, Any] | None:
    """A file's last whole record (a torn tail is passed over), or None if it has none."""
    end = handle.seek(0, os.SEEK_END)
    size = 65536
    while True:
        start = max(0, end - size)
        handle.seek(start)
        lines = handle.read(end - start).split(b"\n")
        if start > 0:
            lines = lines[1:]  # may begin mid-line
        for raw in reversed(lines):  # usually the very last line: parse no more than needed
            (line,) = chain.parse([raw])
            if line.record is not None and isinstance(line.record.get("seq"), int):
                return line.record
        if start == 0:
            return None
        size *= 4


def first_whole(path: Path) -> dict[str, Any] | None:
    with open(path, "rb") as handle:
        for line in chain.parse(handle):
            if line.record is not None:
                return line.record
    return None
