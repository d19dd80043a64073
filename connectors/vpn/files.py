"""Atomic file replacement: readers see the old file or the new one, never half of one.

OpenVPN re-reads its CRL on every connection and WireGuard's configuration
is read at start-up, so a torn write would lock everyone out. The new
content is written to a temporary file in the same directory, given its
final mode *before* any byte is written (a profile holds a private key),
synced, then renamed over the old file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def replace_file(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically.

    ``mode`` None keeps the mode and ownership of an existing file (so a
    server that reads it as another user still can) and uses 0644 for a new one.
    """
    keep: os.stat_result | None = None
    if mode is None:
        with contextlib.suppress(FileNotFoundError):
            keep = path.stat()
        mode = keep.st_mode & 0o7777 if keep else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(fd, mode)
            if keep is not None and os.geteuid() == 0:
                os.fchown(fd, keep.st_uid, keep.st_gid)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
