"""The engine's retry policy: transient errors only, exponential backoff.

Connectors never retry; this is the one place that does, and it reads the
error's type (``retryable``), never its message. A `RateLimited` error's
``retry_after`` is honoured when longer than the backoff.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from iam.config import RetryPolicy
from iam.errors import ConnectorError, RateLimited, TransientError

T = TypeVar("T")


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, ConnectorError) and exc.retryable


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[BaseException, int], None] | None = None,
) -> T:
    """Call ``fn``; retry transient failures per ``policy``; re-raise the last error.

    The first attempt is a plain call: nearly every call succeeds at once, and
    setting up tenacity costs more than a directory modify. Only a retryable
    failure enters tenacity, which counts it as attempt 1.
    """
    try:
        return fn()
    except Exception as exc:
        if not is_retryable(exc) or policy.attempts <= 1:
            raise
        first: list[BaseException] = [exc]

    def again() -> T:
        if first:
            raise first.pop()
        return fn()

    return _retrying(policy, sleep, on_retry)(again)


def _retrying(
    policy: RetryPolicy, sleep: Callable[[float], None], on_retry: Callable[[BaseException, int], None] | None
) -> Retrying:
    backoff = wait_exponential(multiplier=policy.initial_wait, max=policy.max_wait)

    def wait(state: RetryCallState) -> float:
        seconds = backoff(state)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after:
            seconds = max(seconds, min(exc.retry_after, policy.max_wait))
        return seconds

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if on_retry and exc is not None:
            on_retry(exc, state.attempt_number)

    return Retrying(
        retry=retry_if_exception(is_retryable),
        stop=stop_after_attempt(policy.attempts),
        wait=wait,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


class Outages:
    """Systems found unreachable during one command, so the next read fails at once.

    A sync of 300 people against a directory that is down would otherwise
    spend the whole retry policy on every person, and say the same thing 300
    times. After ``hold`` seconds a system gets one real try again (a long
    `iam serve` must notice it coming back).
    """

    def __init__(self, hold: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.hold = hold
        self.clock = clock
        self._down: dict[str, tuple[float, TransientError]] = {}
        self._lock = threading.Lock()

    def mark(self, system: str, error: BaseException) -> None:
        """Remember a system whose read failed for good with a transient error (retries spent)."""
        if isinstance(error, TransientError):
            with self._lock:
                self._down[system] = (self.clock(), error)

    def clear(self, system: str) -> None:
        with self._lock:
            self._down.pop(system, None)

    def still_down(self, system: str) -> TransientError | None:
        """A fresh error of the same kind if ``system`` failed less than ``hold`` seconds ago."""
        with self._lock:
            found = self._down.get(system)
        if found is None or self.clock() - found[0] >= self.hold:
            return None
        first = found[1]
        return type(first)(f"not tried again: unreachable moments ago ({first})", system=first.system)

    def summary(self) -> dict[str, str]:
        """Each system found unreachable in this command, with its first error."""
        with self._lock:
            return {system: str(error) for system, (_, error) in sorted(self._down.items())}
