"""The PagerDuty notifier (Events API v2 over httpx) against a PagerDuty-compatible server on loopback."""

from __future__ import annotations

import pytest

from alertflow.config.settings import PagerDutySettings
from alertflow.errors import PermanentIntegrationError, RetryableIntegrationError
from alertflow.integrations.notifiers.pagerduty import PagerDutyNotifier
from alertflow.models import Severity
from tests.fake_pagerduty import ROUTING_KEY

pytestmark = pytest.mark.anyio
KEY = "service-down|service=checkout"


class Sleeps(list[float]):
    """An injected sleep that records how long the notifier would have waited, without waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def notifier(pagerduty, sleeps: Sleeps | None = None, **settings: object) -> PagerDutyNotifier:  # type: ignore[no-untyped-def]
    values = {"events_url": pagerduty.events_url, "routing_key": ROUTING_KEY, "backoff_seconds": 0.1} | settings
    return PagerDutyNotifier(PagerDutySettings(**values), sleep=sleeps if sleeps is not None else Sleeps())  # type: ignore[arg-type]


async def test_trigger_acknowledge_resolve_share_the_incident_key(pagerduty) -> None:  # type: ignore[no-untyped-def]
    """trigger, acknowledge and resolve reach one PagerDuty alert by dedup_key; the trigger carries what responders need."""
    pd = notifier(pagerduty)
    result = await pd.trigger(
        KEY, "checkout API down", Severity.critical, "checkout", {"firing": 3}, links={"Runbook": "https://wiki/checkout"}
    )
    assert (result.action, result.dedup_key, result.status, result.message, result.attempts) == (
        "trigger",
        KEY,
        "success",
        "Event processed",
        1,
    )
    assert pagerduty.state.alerts == {KEY: "triggered"}
    await pd.acknowledge(KEY)
    assert pagerduty.state.alerts == {KEY: "acknowledged"}
    await pd.resolve(KEY)
    assert pagerduty.state.alerts == {KEY: "resolved"}
    trigger = pagerduty.state.accepted[0]
    assert trigger["routing_key"] == ROUTING_KEY and trigger["links"] == [{"href": "https://wiki/checkout", "text": "Runbook"}]
    assert {k: trigger["payload"][k] for k in ("summary", "severity", "source", "custom_details")} == {
        "summary": "checkout API down",
        "severity": "critical",
        "source": "checkout",
        "custom_details": {"firing": 3},
    }


async def test_a_persons_routing_key_overrides_the_default(pagerduty) -> None:  # type: ignore[no-untyped-def]
    """A routing key given per call (the person's own service) is used instead of the configured one."""
    own = "0123456789abcdef0123456789abcdef"
    await notifier(pagerduty).trigger(KEY, "down", "error", "checkout", routing_key=own)
    assert pagerduty.state.accepted[0]["routing_key"] == own


async def test_rate_limit_is_retried_no_sooner_than_retry_after(pagerduty) -> None:  # type: ignore[no-untyped-def]
    """A 429 with Retry-After: 2 is retried after max(backoff, 2 s); the event is delivered once."""
    pagerduty.fail_next(429, retry_after=2)
    sleeps = Sleeps()
    result = await notifier(pagerduty, sleeps).trigger(KEY, "down", "critical", "checkout")
    assert result.attempts == 2 and sleeps == [2.0]
    assert len(pagerduty.state.events) == 2 and len(pagerduty.state.accepted) == 1


async def test_server_errors_back_off_doubling(pagerduty) -> None:  # type: ignore[no-untyped-def]
    """Two 5xx then success: waits of backoff, then twice that."""
    pagerduty.fail_next(500, times=2)
    sleeps = Sleeps()
    result = await notifier(pagerduty, sleeps).acknowledge(KEY)
    assert result.attempts == 3 and sleeps == [0.1, 0.2]


async def test_retries_are_bounded(pagerduty) -> None:  # type: ignore[no-untyped-def]
    """PagerDuty failing throughout: retries+1 attempts, then a retryable error without the routing key."""
    pagerduty.fail_next(503, times=10)
    with pytest.raises(RetryableIntegrationError, match=r"pagerduty resolve \(attempt 3\): .*HTTP 503") as raised:
        await notifier(pagerduty, retries=2).resolve(KEY)
    assert len(pagerduty.state.events) == 3 and ROUTING_KEY not in str(raised.value)


async def test_invalid_event_is_permanent_with_pagerdutys_reason(pagerduty) -> None:  # type: ignore[no-untyped-def]
    """A 400 is not retried; the error carries PagerDuty's explanation and never the routing key."""
    short_key = "not-a-real-key"
    with pytest.raises(PermanentIntegrationError, match="HTTP 400") as raised:
        await notifier(pagerduty).trigger(KEY, "down", "critical", "checkout", routing_key=short_key)
    assert "Length of 'routing_key' is incorrect" in str(raised.value) and short_key not in str(raised.value)
    assert len(pagerduty.state.events) == 1


async def test_no_routing_key_is_permanent_and_sends_nothing(pagerduty) -> None:  # type: ignore[no-untyped-def]
    """Without a configured or per-person routing key nothing is sent and the error says what to configure."""
    with pytest.raises(PermanentIntegrationError, match="no routing key"):
        await notifier(pagerduty, routing_key=None).trigger(KEY, "down", "critical", "checkout")
    assert pagerduty.state.events == []


async def test_long_incident_keys_become_stable_dedup_keys(pagerduty) -> None:  # type: ignore[no-untyped-def]
    """An incident key over PagerDuty's 255 characters is shortened the same way for trigger and resolve."""
    long_key = "service-down|" + "x" * 400
    pd = notifier(pagerduty)
    await pd.trigger(long_key, "down", "critical", "checkout")
    await pd.resolve(long_key)
    [(dedup_key, state)] = pagerduty.state.alerts.items()
    assert state == "resolved" and len(dedup_key) <= 255 and dedup_key.startswith("service-down|xxx")


async def test_unreachable_pagerduty_is_retryable(pagerduty) -> None:  # type: ignore[no-untyped-def]
    """Connection refused is retried and then raised as retryable."""
    url = pagerduty.events_url
    pagerduty.stop()
    with pytest.raises(RetryableIntegrationError, match="ConnectError"):
        await PagerDutyNotifier(PagerDutySettings(events_url=url, routing_key=ROUTING_KEY, retries=1), sleep=Sleeps()).resolve(KEY)
