"""The one retry helper (alertflow/retries.py): attempts, waits, Retry-After and the error surfaced, with a recorded sleep."""

from __future__ import annotations

import pytest

from alertflow.errors import PermanentIntegrationError, RetryableIntegrationError
from alertflow.retries import delay_after, exponential, honouring_retry_after, retrying

pytestmark = pytest.mark.anyio


class Sleeps(list[float]):
    """An injected sleep that records each wait instead of waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Failing:
    """Raises the given errors in turn, then returns the number of calls."""

    def __init__(self, *errors: Exception) -> None:
        self.errors, self.calls = list(errors), 0

    async def __call__(self) -> int:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.calls


def test_exponential_doubles_from_the_factor_up_to_the_cap() -> None:
    """After the n-th failure: factor * 2**(n-1), never above the cap (the outbox's 0.5 s ... 30 s)."""
    assert [delay_after(exponential(0.5, cap=30.0), n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert delay_after(exponential(0.5, cap=30.0), 10_000) == 30  # a row that failed all week: no overflow


async def test_retries_then_returns_with_exponential_waits() -> None:
    """Two retryable failures, then success: three calls, waits of factor and twice that."""
    work, sleeps = Failing(RetryableIntegrationError("503"), RetryableIntegrationError("503")), Sleeps()
    assert await retrying(attempts=3, wait=exponential(0.1), retry_on=RetryableIntegrationError, sleep=sleeps)(work) == 3
    assert sleeps == [0.1, 0.2]


async def test_the_last_error_is_raised_as_it_was() -> None:
    """Out of attempts: our own error comes out (not tenacity's RetryError), after exactly ``attempts`` calls."""
    work = Failing(*[RetryableIntegrationError(f"try {n}") for n in range(1, 6)])
    with pytest.raises(RetryableIntegrationError, match="try 2"):
        await retrying(attempts=2, wait=exponential(0.1), retry_on=RetryableIntegrationError, sleep=Sleeps())(work)
    assert work.calls == 2


async def test_errors_not_worth_retrying_are_raised_at_once() -> None:
    """An error outside ``retry_on`` (a permanent one, or one a predicate refuses) is not retried."""
    work, sleeps = Failing(PermanentIntegrationError("400")), Sleeps()
    with pytest.raises(PermanentIntegrationError):
        await retrying(attempts=5, wait=exponential(0.1), retry_on=RetryableIntegrationError, sleep=sleeps)(work)
    refused = Failing(ValueError("not busy"))
    with pytest.raises(ValueError, match="not busy"):
        await retrying(attempts=5, wait=exponential(0.1), retry_on=lambda err: str(err) == "busy", sleep=sleeps)(refused)
    assert (work.calls, refused.calls, sleeps) == (1, 1, [])


async def test_retry_after_is_a_floor_and_the_cap_a_ceiling() -> None:
    """A Retry-After longer than the backoff is waited instead; neither passes the cap; a shorter one changes nothing."""
    errors = [RetryableIntegrationError("429", retry_after=2.0), RetryableIntegrationError("429", retry_after=90.0)]
    work, sleeps = Failing(*errors, RetryableIntegrationError("503", retry_after=0.01)), Sleeps()
    wait = honouring_retry_after(exponential(0.1), cap=60.0)
    await retrying(attempts=4, wait=wait, retry_on=RetryableIntegrationError, sleep=sleeps)(work)
    assert sleeps == [2.0, 60.0, 0.4]


async def test_without_attempts_it_tries_until_it_works() -> None:
    """attempts=None keeps trying (the worker waiting for Prefect), with the capped backoff between tries."""
    work, sleeps = Failing(*[OSError("refused")] * 7), Sleeps()
    assert await retrying(wait=exponential(1.0, cap=30.0), sleep=sleeps)(work) == 8
    assert sleeps == [1, 2, 4, 8, 16, 30, 30]
