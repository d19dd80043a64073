"""Python's cyclic garbage collector held back while a bulk read builds many objects that live on.

A sweep loads every identity and then allocates a few objects per account
read, most of which stay alive until the end. The collector counts those
allocations and, every few hundred, walks the young objects; every so often
it walks *all* live objects, so its cost grows with the number of people:
profiled at 20,000 people it took a quarter of a sweep (issue 14). Inside
`quiet`, what is alive on entry (identities, policy) is frozen out of the
collector's walks (`gc.freeze`) and a young collection waits for many more
allocations. Nothing is turned off: cyclic garbage is still collected, just
less often. On the way out, even when the body raised, the thresholds and
the frozen set are as they were. Nested or concurrent users (threads of one
``iam serve``) share one pause; the last to leave restores.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Allocations between young collections while quiet (CPython's default is 700).
YOUNG_THRESHOLD = 100_000

_lock = threading.Lock()
_depth = 0
_saved: tuple[tuple[int, int, int], bool] | None = None


@contextmanager
def quiet() -> Iterator[None]:
    """Hold the collector back for the body; everything restored on exit, however it exits."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            thresholds = gc.get_threshold()
            # A process that froze objects itself (a pre-fork server) keeps them frozen afterwards.
            froze = gc.get_freeze_count() == 0
            _saved = (thresholds, froze)
            if froze:
                gc.freeze()
            if thresholds[0]:  # 0 means collection is off: left off
                gc.set_threshold(max(thresholds[0], YOUNG_THRESHOLD), *thresholds[1:])
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                thresholds, froze = _saved
                _saved = None
                gc.set_threshold(*thresholds)
                if froze:
                    gc.unfreeze()
