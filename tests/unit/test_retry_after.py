"""Reading a Retry-After header (Slack and PagerDuty send delta seconds)."""

from __future__ import annotations

import pytest

from alertflow.integrations.http import retry_after_seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1", 1.0),
        ("30", 30.0),
        ("0.5", 0.5),
        ("0", 0.0),
        ("-3", 0.0),  # never a negative wait
        (None, None),
        ("", None),
        ("soon", None),
        ("Wed, 21 Oct 2026 07:28:00 GMT", None),  # the date form: not sent by either vendor; the caller's backoff applies
        ("nan", None),
        ("inf", None),
    ],
)
def test_retry_after_in_seconds_or_none(value: str | None, seconds: float | None) -> None:
    """Delta seconds are read, clamped at zero; anything else is None, so no NaN or endless wait reaches a sleep."""
    assert retry_after_seconds(value) == seconds
