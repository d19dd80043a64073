"""Waiting on a condition with a deadline, never for time to pass: the lab's and the tests' one helper.

tenacity does the polling (it is a dependency already, and the engine's
retries use it); this names the wait so a timeout says what never came.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], seconds: float, what: str, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy (and return that); TimeoutError after ``seconds``.

    An exception from ``check`` ends the wait at once (a process that exited
    will not come up by waiting).
    """
    waiting = Retrying(
        retry=retry_if_result(lambda value: not value),
        stop=stop_after_delay(seconds),
        wait=wait_fixed(interval),
    )
    try:
        return waiting(check)  # type: ignore[return-value]  # falsy results are retried, never returned
    except RetryError:
        raise TimeoutError(f"timed out after {seconds:g}s waiting for {what}") from None
