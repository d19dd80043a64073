"""The engine's retry policy: transient errors only, exponential backoff.

Connectors never retry; this is the one place that does, and it reads the
error's type (``retryable``), never its message. A `RateLimited` error's
``retry_after`` is honoured when longer than the backoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from iam.config import RetryPolicy
from iam.errors import ConnectorError, RateLimited

T = TypeVar("T")


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, ConnectorError) and exc.retryable


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[BaseException, int], None] | None = None,
) -> T:
    """Call ``fn``; retry transient failures per ``policy``; re-raise the last error."""
    backoff = wait_exponential(multiplier=policy.initial_wait, max=policy.max_wait)

    def wait(state: RetryCallState) -> float:
        seconds = backoff(state)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after:
            seconds = max(seconds, min(exc.retry_after, policy.max_wait))
        return seconds

    def before_sleep(state: RetryCallState) -> None:
        if on_retry and state.outcome:
            on_retry(state.outcome.exception(), state.attempt_number)

    retrying = Retrying(
        retry=retry_if_exception(is_retryable),
        stop=stop_after_attempt(policy.attempts),
        wait=wait,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(fn)
