"""alertflow/models.py: severities, retry policies, the action union, alerts and timestamps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from alertflow.flows.runtime import retry_delays
from alertflow.models import (
    ActionSpec,
    Alert,
    FailoverAction,
    PagingAction,
    RecoveryAction,
    RetryPolicy,
    Severity,
    TimelineAction,
    timestamp,
)

ACTIONS: TypeAdapter[Any] = TypeAdapter(ActionSpec)


@pytest.mark.parametrize(
    ("label", "severity"),
    [
        pytest.param("critical", Severity.critical, id="critical"),
        pytest.param("CRIT", Severity.critical, id="crit-uppercase"),
        pytest.param("P1", Severity.critical, id="p1"),
        pytest.param("page", Severity.critical, id="page"),
        pytest.param(" high ", Severity.error, id="high-padded"),
        pytest.param("err", Severity.error, id="err"),
        pytest.param("warn", Severity.warning, id="warn"),
        pytest.param("p3", Severity.warning, id="p3"),
        pytest.param("low", Severity.info, id="low"),
        pytest.param("none", Severity.info, id="none-string"),
        pytest.param("bogus", Severity.warning, id="unknown"),
        pytest.param("", Severity.warning, id="empty"),
        pytest.param(None, Severity.warning, id="absent"),
    ],
)
def test_severity_parse(label: str | None, severity: Severity) -> None:
    """Severity labels map through case-insensitive aliases; anything unknown becomes warning."""
    assert Severity.parse(label) is severity


def test_severity_rank_orders_info_to_critical() -> None:
    """rank orders severities info < warning < error < critical."""
    shuffled = [Severity.critical, Severity.info, Severity.error, Severity.warning]
    assert sorted(shuffled, key=lambda s: s.rank) == [Severity.info, Severity.warning, Severity.error, Severity.critical]
    assert len({s.rank for s in Severity}) == 4


@pytest.mark.parametrize(
    ("policy", "delays"),
    [
        pytest.param({}, [0.0], id="default"),
        pytest.param({"retries": 3, "retry_delay_seconds": 5}, [5.0], id="one-number"),
        pytest.param({"retries": 3, "retry_delay_seconds": [1, 5, 15]}, [1, 5, 15], id="list"),
        pytest.param({"retries": 2, "retry_delay_seconds": []}, [0.0], id="empty-list"),
        pytest.param({"retries": 3, "exponential_backoff": 2}, [2, 4, 8], id="exponential-factor-2"),
        pytest.param({"retries": 4, "exponential_backoff": 0.5}, [0.5, 1, 2, 4], id="exponential-half"),
        pytest.param({"retries": 2, "retry_delay_seconds": 0, "exponential_backoff": 1}, [1, 2], id="zero-delay-with-backoff"),
    ],
)
def test_retry_policy_delays(policy: dict[str, Any], delays: list[float]) -> None:
    """retry_delays gives the wait before each retry in Prefect's retry_delay_seconds form (backoff via Prefect's own)."""
    assert retry_delays(RetryPolicy.model_validate(policy)) == delays


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        pytest.param({"retry_delay_seconds": -1}, "retry delays must be >= 0", id="negative-number"),
        pytest.param({"retry_delay_seconds": [1, -2]}, "retry delays must be >= 0", id="negative-in-list"),
        pytest.param({"retry_delay_seconds": 3, "exponential_backoff": 2}, "not both", id="both-styles"),
        pytest.param({"exponential_backoff": 0}, "greater than 0", id="zero-backoff"),
        pytest.param({"retries": -1}, "greater than or equal to 0", id="negative-retries"),
        pytest.param({"retries": 21}, "less than or equal to 20", id="too-many-retries"),
        pytest.param({"retry": 3}, "Extra inputs", id="unknown-key"),
    ],
)
def test_retry_policy_rejects(policy: dict[str, Any], message: str) -> None:
    """An impossible retry policy is refused when the rules file loads."""
    with pytest.raises(ValidationError, match=message):
        RetryPolicy.model_validate(policy)


@pytest.mark.parametrize(
    ("data", "kind", "params"),
    [
        pytest.param({"flow": "timeline"}, TimelineAction, None, id="timeline"),
        pytest.param(
            {"flow": "paging"},
            PagingAction,
            {"channel": None, "reason": None, "detail": None, "policy": None, "repeat_interval": None, "repeat_as": "thread"},
            id="paging-default-channel",
        ),
        pytest.param(
            {"flow": "paging", "params": {"channel": "#db", "repeat_interval": "4h"}},
            PagingAction,
            {"channel": "#db", "reason": None, "detail": None, "policy": None, "repeat_interval": "4h", "repeat_as": "thread"},
            id="paging-channel",
        ),
        pytest.param(
            {"flow": "failover", "params": {"switch": "lb"}},
            FailoverAction,
            {"switch": "lb", "to": "standby", "back_to": "primary", "failback_after_seconds": None, "dry_run": False},
            id="failover",
        ),
        pytest.param({"flow": "recovery", "params": {"runbook": "rb"}}, RecoveryAction, {"runbook": "rb", "dry_run": False}, id="recovery"),
    ],
)
def test_action_union_picks_the_class_by_flow(data: dict[str, Any], kind: type, params: dict[str, Any] | None) -> None:
    """The `flow` tag selects the Action subclass, and it survives a JSON round trip."""
    action = ACTIONS.validate_python(data)
    assert type(action) is kind
    if params is not None:
        assert action.params.model_dump() == params
    assert ACTIONS.validate_json(ACTIONS.dump_json(action)) == action


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"flow": "pager"}, id="unknown-flow"),
        pytest.param({}, id="no-flow"),
        pytest.param({"flow": "failover"}, id="failover-without-params"),
        pytest.param({"flow": "recovery", "params": {}}, id="recovery-without-runbook"),
        pytest.param({"flow": "timeline", "params": {"x": 1}}, id="timeline-takes-no-params"),
        pytest.param({"flow": "paging", "params": {"chanel": "#x"}}, id="misspelled-param"),
    ],
)
def test_action_union_rejects(data: dict[str, Any]) -> None:
    """An unknown flow, a missing required param or an unknown key fails validation."""
    with pytest.raises(ValidationError):
        ACTIONS.validate_python(data)


def _alert(**overrides: Any) -> Alert:
    fields: dict[str, Any] = {
        "source": "test",
        "fingerprint": "fp",
        "name": "HighLatency",
        "service": "api",
        "severity": "warning",
        "status": "firing",
        "labels": {"alertname": "HighLatency"},
        "starts_at": datetime(2026, 1, 1, tzinfo=timezone.utc),
        "received_at": datetime(2026, 1, 1, tzinfo=timezone.utc),
    }
    return Alert(**{**fields, **overrides})


@pytest.mark.parametrize(
    ("annotations", "summary"),
    [
        pytest.param({"summary": "s", "description": "d"}, "s", id="summary-first"),
        pytest.param({"description": "d"}, "d", id="then-description"),
        pytest.param({}, "HighLatency", id="then-name"),
    ],
)
def test_alert_summary(annotations: dict[str, str], summary: str) -> None:
    """An alert's summary is its summary annotation, else its description, else its name."""
    assert _alert(annotations=annotations).summary == summary


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"starts_at": datetime(2026, 1, 1)}, id="naive-starts-at"),
        pytest.param({"received_at": datetime(2026, 1, 1)}, id="naive-received-at"),
        pytest.param({"fingerprint": ""}, id="empty-fingerprint"),
    ],
)
def test_alert_rejects(overrides: dict[str, Any]) -> None:
    """Alerts take aware datetimes only and a non-empty fingerprint."""
    with pytest.raises(ValidationError):
        _alert(**overrides)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(
            datetime(2026, 11, 27, 9, 58, 31, 512345, tzinfo=timezone.utc), "2026-11-27T09:58:31.512+00:00", id="utc-truncated-to-ms"
        ),
        pytest.param(
            datetime(2026, 11, 27, 11, 0, tzinfo=timezone(timedelta(hours=2))), "2026-11-27T09:00:00.000+00:00", id="converted-to-utc"
        ),
        pytest.param(
            datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=-5))), "2026-01-01T05:30:00.000+00:00", id="negative-offset"
        ),
    ],
)
def test_timestamp_is_utc_with_milliseconds(value: datetime, text: str) -> None:
    """timestamp() renders any aware datetime in UTC with exactly three fractional digits."""
    assert timestamp(value) == text
