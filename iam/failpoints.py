"""Crash points: where a test may kill the process to prove nothing is lost or done twice.

The journal, the audit outbox and the audit file each mark the moments a
crash matters (`crash_point`). With ``IAM_CRASH_AT=N`` in the environment
the process dies (``os._exit``, no cleanup, like a kill -9) at the N-th such
moment; without it, a crash point costs one dictionary lookup. Only tests
set it (`tests/e2e/test_crash.py`).
"""

from __future__ import annotations

import os
import sys
import threading

#: Exit status of a process killed at a crash point.
CRASHED = 86

_lock = threading.Lock()
_count = 0


def crash_point(where: str) -> None:
    """Die here if this is the crash point the environment names."""
    target = os.environ.get("IAM_CRASH_AT")
    if not target:
        return
    global _count
    with _lock:
        _count += 1
        reached = _count == int(target)
    if reached:
        sys.stderr.write(f"crash point {target}: {where}\n")
        sys.stderr.flush()
        os._exit(CRASHED)
