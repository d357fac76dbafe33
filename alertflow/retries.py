"""One way to retry work that is not a Prefect task: tenacity, honouring Retry-After.

Work that is a Prefect task is retried by Prefect (flows/runtime.py ``with_retry``,
with Prefect's own ``exponential_backoff``). Everything else that retries (a
notifier's HTTP call, the dispatcher creating a flow run, the worker waiting for
Prefect to come up, a paging run resuming itself) builds its loop here, so
attempts, waits and the error surfaced are decided the same way everywhere:

- ``retrying`` gives at most ``attempts`` tries and re-raises the last error
  itself (never tenacity's ``RetryError``), so callers see our own errors;
- ``exponential`` is the one backoff formula, ``factor * 2**(n - 1)`` after the
  n-th failure, capped; ``honouring_retry_after`` never waits less than the
  vendor's Retry-After (``RetryableIntegrationError.retry_after``), still capped;
- ``delay_after`` reads the same formula for retries whose count is persisted
  state rather than a loop (the outbox row's ``attempts``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    stop_never,
    wait_exponential,
)

__all__ = ["delay_after", "exponential", "honouring_retry_after", "retrying"]

Sleep = Callable[[float], Awaitable[Any]]
Wait = Callable[[RetryCallState], float]  # what tenacity calls a wait: seconds before the next attempt


def exponential(factor: float, cap: float = float("inf")) -> Wait:
    """``factor``, ``2 * factor``, ``4 * factor``, ... seconds, never more than ``cap``."""
    return wait_exponential(multiplier=factor, max=cap)


def honouring_retry_after(wait: Wait, cap: float) -> Wait:
    """``wait``, but never shorter than the Retry-After the failed attempt's error carries; at most ``cap``."""

    def wait_at_least_retry_after(retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(error, "retry_after", None) or 0.0
        return min(max(wait(retry_state), retry_after), cap)

    return wait_at_least_retry_after


def delay_after(wait: Wait, failures: int) -> float:
    """What ``wait`` waits after the ``failures``-th failed attempt, for a retry count kept outside a loop."""
    state = RetryCallState(AsyncRetrying(), None, (), {})
    state.attempt_number = failures
    return float(wait(state))


def retrying(
    *,
    wait: Wait,
    attempts: int | None = None,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool] = Exception,
    sleep: Sleep = asyncio.sleep,
    before_sleep: Callable[[RetryCallState], Any] | None = None,
) -> AsyncRetrying:
    """An ``async for attempt in retrying(...): with attempt: ...`` loop; ``attempts=None`` tries until it works.

    Errors ``retry_on`` does not accept are raised at once; after the last attempt its error is
    raised as it was. ``sleep`` is injectable so a caller (or a test) can make waits interruptible.
    """
    is_type = isinstance(retry_on, (tuple, type))
    return AsyncRetrying(
        stop=stop_never if attempts is None else stop_after_attempt(attempts),
        wait=wait,
        retry=retry_if_exception_type(retry_on) if is_type else retry_if_exception(retry_on),  # type: ignore[arg-type]
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
