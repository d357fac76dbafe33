"""integrations/sources/alertmanager.py: Alertmanager webhook payloads (version 4) into Alerts."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from alertflow.errors import InputError
from alertflow.integrations.sources.alertmanager import AlertmanagerSource
from alertflow.integrations.sources.payloads import label_fingerprint
from alertflow.models import AlertStatus, Severity

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RECEIVED = datetime(2026, 11, 27, 10, 0, 1, tzinfo=timezone.utc)


def sample(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "receiver": "alertflow", "alerts": list(alerts)}


def webhook_alert(status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "HighLatency", **labels},
        "annotations": {},
        "startsAt": "2026-11-27T09:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
    }


def parse(body: Any) -> list[Any]:
    return AlertmanagerSource().parse(body, RECEIVED)


def test_firing_sample() -> None:
    """The firing golden sample becomes one firing Alert with its fingerprint, service and severity."""
    body = sample("alertmanager-firing.json")
    [alert] = parse(body)
    assert alert.source == "alertmanager"
    assert alert.fingerprint == "8a3f1c2d9e4b7a60"
    assert (alert.name, alert.service, alert.severity, alert.status) == ("ServiceDown", "checkout", Severity.critical, AlertStatus.firing)
    assert alert.labels["instance"] == "checkout-1:8080"
    assert alert.summary == "checkout API is not answering health checks"
    assert alert.starts_at == datetime(2026, 11, 27, 9, 58, 31, 512000, tzinfo=timezone.utc)
    assert alert.ends_at is None
    assert alert.received_at == RECEIVED
    assert alert.generator_url is not None and alert.generator_url.startswith("http://prometheus.example.com:9090/graph")
    assert alert.raw == body["alerts"][0]


def test_resolved_sample() -> None:
    """The resolved golden sample keeps the same fingerprint and carries its real endsAt."""
    [alert] = parse(sample("alertmanager-resolved.json"))
    assert alert.status is AlertStatus.resolved
    assert alert.fingerprint == parse(sample("alertmanager-firing.json"))[0].fingerprint
    assert alert.ends_at == datetime(2026, 11, 27, 10, 7, 46, 201000, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("labels", "service"),
    [
        pytest.param({"service": "checkout", "job": "checkout-api"}, "checkout", id="service-label-first"),
        pytest.param({"job": "checkout-api"}, "checkout-api", id="job-fallback"),
        pytest.param({"service": "", "job": "node"}, "node", id="empty-service-falls-back"),
        pytest.param({}, "unknown", id="neither"),
    ],
)
def test_service_from_service_label_then_job(labels: dict[str, str], service: str) -> None:
    """service comes from the `service` label, then `job`, else "unknown"."""
    [alert] = parse(payload(webhook_alert(**labels)))
    assert alert.service == service


@pytest.mark.parametrize(
    ("label", "severity"),
    [
        pytest.param({"severity": "critical"}, Severity.critical, id="critical"),
        pytest.param({"severity": "page"}, Severity.critical, id="page-alias"),
        pytest.param({"severity": "high"}, Severity.error, id="high-alias"),
        pytest.param({"severity": "warning"}, Severity.warning, id="warning"),
        pytest.param({"severity": "info"}, Severity.info, id="info"),
        pytest.param({"severity": "weird"}, Severity.warning, id="unknown-is-warning"),
        pytest.param({}, Severity.warning, id="absent-is-warning"),
    ],
)
def test_severity_mapping(label: dict[str, str], severity: Severity) -> None:
    """The `severity` label maps through Severity.parse; unknown or absent becomes warning."""
    [alert] = parse(payload(webhook_alert(**label)))
    assert alert.severity is severity


def test_multi_alert_payload_keeps_order_and_each_raw() -> None:
    """A grouped payload yields one Alert per entry, in order, each keeping its own raw dict."""
    body = payload(
        webhook_alert(instance="a", status="firing"),
        webhook_alert(instance="b", status="resolved"),
        {**webhook_alert(instance="c"), "fingerprint": "fp-c", "extra": {"kept": True}},
    )
    alerts = parse(body)
    assert [a.labels["instance"] for a in alerts] == ["a", "b", "c"]
    assert [a.status for a in alerts] == [AlertStatus.firing, AlertStatus.resolved, AlertStatus.firing]
    assert [a.raw for a in alerts] == body["alerts"]
    assert alerts[2].fingerprint == "fp-c"
    assert len({a.fingerprint for a in alerts}) == 3


def test_missing_fingerprint_is_a_stable_label_hash() -> None:
    """Without a fingerprint, the same labels in any order give the same id; other labels another."""
    first = parse(payload({**webhook_alert(), "labels": {"alertname": "X", "env": "prod", "service": "api"}}))[0]
    reordered = parse(payload({**webhook_alert(), "labels": {"service": "api", "env": "prod", "alertname": "X"}}))[0]
    other = parse(payload({**webhook_alert(), "labels": {"alertname": "X", "env": "dev", "service": "api"}}))[0]
    assert first.fingerprint == reordered.fingerprint == label_fingerprint({"env": "prod", "alertname": "X", "service": "api"})
    assert other.fingerprint != first.fingerprint


def test_label_fingerprint_separates_names_from_values() -> None:
    """Labels that concatenate to the same text still hash differently."""
    assert label_fingerprint({"a": "bc"}) != label_fingerprint({"ab": "c"})
    assert label_fingerprint({"a": "b", "c": "d"}) != label_fingerprint({"a": "bcd"})


_DELETE = object()


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[last]
        else:
            target[int(last) if last.isdigit() else last] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "field", "fragment"),
    [
        pytest.param(_set("version", "3"), "version", "'4'", id="version-3"),
        pytest.param(_set("version", _DELETE), "version", "required", id="version-missing"),
        pytest.param(_set("alerts", []), "alerts", "at least 1", id="alerts-empty"),
        pytest.param(_set("alerts", _DELETE), "alerts", "required", id="alerts-missing"),
        pytest.param(_set("alerts", "nope"), "alerts", "list", id="alerts-not-a-list"),
        pytest.param(_set("alerts.0.labels.alertname", _DELETE), "alerts.0.labels", "alertname", id="no-alertname"),
        pytest.param(_set("alerts.0.labels.alertname", ""), "alerts.0.labels", "alertname", id="empty-alertname"),
        pytest.param(_set("alerts.0.startsAt", "yesterday"), "alerts.0.startsAt", "datetime", id="startsAt-garbage"),
        pytest.param(_set("alerts.0.startsAt", "2026-11-27T09:58:31"), "alerts.0.startsAt", "timezone", id="startsAt-naive"),
        pytest.param(_set("alerts.0.status", "pending"), "alerts.0.status", "'firing' or 'resolved'", id="alert-status"),
        pytest.param(_set("status", "pending"), "status", "'firing' or 'resolved'", id="payload-status"),
        pytest.param(_set("alerts.0.labels.env", 5), "alerts.0.labels.env", "string", id="label-not-string"),
    ],
)
def test_invalid_payload_raises_input_error_naming_the_field(mutate: Callable[[dict[str, Any]], None], field: str, fragment: str) -> None:
    """A payload we refuse raises InputError whose .field and message name the problem."""
    body = copy.deepcopy(sample("alertmanager-firing.json"))
    mutate(body)
    with pytest.raises(InputError) as excinfo:
        parse(body)
    assert excinfo.value.field == field
    assert str(excinfo.value).startswith(f"{field}: ")
    assert fragment in str(excinfo.value)


def test_non_object_body_is_an_input_error() -> None:
    """A JSON body that is not an object is refused as a whole ("body")."""
    with pytest.raises(InputError) as excinfo:
        parse([1, 2])
    assert excinfo.value.field == "body"
