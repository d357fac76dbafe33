"""What each source refuses, and how: the InputError's field is the path a sender must fix."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from alertflow.errors import InputError
from tests.fuzzing import PAYLOADS
from tests.unit.test_source_payloads import RECEIVED, source_for


def golden(case: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / f"{case}.json").read_text())


def changed(case: str, **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(golden(case))
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target: Any = body
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return body


def cloudwatch_with(**alarm: Any) -> dict[str, Any]:
    body = golden("cloudwatch/alarm")
    return {**body, "Message": json.dumps({**json.loads(body["Message"]), **alarm})}


REFUSALS = [
    pytest.param("grafana", changed("grafana/firing-two", version="4"), "version", "'1'", id="grafana-alertmanager-version"),
    pytest.param("grafana", changed("grafana/firing-two", alerts__0__values="high"), "alerts.0.values", "dictionary", id="grafana-values"),
    pytest.param("grafana", changed("grafana/firing-two", alerts__0__values={"B": [1]}), "alerts.0.values.B", "number", id="grafana-value"),
    pytest.param("grafana", changed("grafana/firing-two", alerts__1__labels={}), "alerts.1.labels", "alertname", id="grafana-no-alertname"),
    pytest.param("alertmanager", {"version": "4", "status": "firing"}, "alerts", "required", id="am-no-alerts"),
    pytest.param("alertmanager", changed("alertmanager/firing", truncatedAlerts=-1), "truncatedAlerts", "greater than", id="am-truncated"),
    pytest.param("datadog", changed("datadog/default-template-triggered", date="yesterday"), "date", "epoch milliseconds", id="dd-date"),
    pytest.param("datadog", changed("datadog/default-template-triggered", title="[Triggered] "), "title", "$EVENT_TITLE", id="dd-no-name"),
    pytest.param("datadog", changed("datadog/default-template-triggered", date="9" * 30), "date", "not a time", id="dd-date-overflow"),
    pytest.param("datadog", changed("datadog/full-template-triggered", tags={"env": "prod"}), "tags", "valid string", id="dd-tags-object"),
    pytest.param("pagerduty", changed("pagerduty/trigger-full", event_action="page"), "event_action", "trigger", id="pd-action"),
    pytest.param("pagerduty", {"routing_key": "k", "event_action": "trigger"}, "payload", "needs a payload", id="pd-trigger-no-payload"),
    pytest.param("pagerduty", {"routing_key": "k", "event_action": "resolve"}, "dedup_key", "the dedup_key of its trigger", id="pd-resolve-no-key"),
    pytest.param("pagerduty", changed("pagerduty/trigger-full", payload__severity="sev1"), "payload.severity", "critical", id="pd-severity"),
    pytest.param("pagerduty", changed("pagerduty/acknowledge", client="c" * 300), "client", "at most 128", id="pd-client-long"),
    pytest.param("cloudwatch", {**golden("cloudwatch/alarm"), "Message": "ALARM: disk full"}, "Message", "CloudWatch alarm", id="cw-text"),
    pytest.param("cloudwatch", cloudwatch_with(NewStateValue="BROKEN"), "Message.NewStateValue", "ALARM", id="cw-state"),
    pytest.param("cloudwatch", cloudwatch_with(StateChangeTime="now"), "Message.StateChangeTime", "datetime", id="cw-time"),
    pytest.param("generic", {"checks": []}, "checks", "non-empty list", id="generic-empty"),
    pytest.param("generic", {"checks": [{"monitor": {}}]}, "checks.0.monitor.name", "missing", id="generic-no-name"),
    pytest.param("generic", {"checks": [{"monitor": {"name": {"a": 1}}}]}, "checks.0.monitor.name", "text", id="generic-name-object"),
    pytest.param("generic", {"checks": ["x"]}, "checks.0", "JSON object", id="generic-item-not-object"),
    pytest.param(
        "generic", {"checks": [{"monitor": {"name": "a"}, "heartbeat": {"time": "10:00"}}]}, "checks.0.heartbeat.time", "ISO-8601",
        id="generic-time",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("source", "body", "field", "phrase"), REFUSALS)
def test_refusal_names_the_field(source: str, body: Any, field: str, phrase: str) -> None:
    """The error's field is the path to fix, and the message starts with it and says what was expected."""
    with pytest.raises(InputError) as caught:
        source_for(PAYLOADS / source).parse(body, RECEIVED)
    assert caught.value.field == field, str(caught.value)
    assert str(caught.value).startswith(f"{field}: ") and phrase in str(caught.value)
