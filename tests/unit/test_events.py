"""Events for Prefect (alertflow/events.py, the emitter's queue) and the JSON log format, without I/O."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

import pytest
from prefect.events import Event

from alertflow import events
from alertflow.logs import JsonFormatter, log_context
from alertflow.metrics import Metrics
from alertflow.models import Incident
from alertflow.pipeline.events import EventEmitter, describe

AT = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
INCIDENT = Incident(
    id=5, key="service-down|service=checkout", title="checkout API down", service="checkout", severity="critical",
    status="acknowledged", rule_id="service-down", opened_at=AT, acknowledged_by="alice", acknowledged_at=AT,
)  # fmt: skip


def test_an_incident_event_is_a_valid_prefect_event_about_the_incident() -> None:
    """The spec validates as Prefect's Event: the incident as the resource with its labels, rule and service related."""
    spec = events.event_for(events.ACKNOWLEDGED, INCIDENT, at=AT, by="alice", fingerprint=None)
    event = Event.model_validate(spec)
    assert event.event == "alertflow.incident.acknowledged" and event.occurred == AT
    assert event.resource.id == "alertflow.incident.5" and event.resource.name == "incident 5: checkout API down"
    assert {k: event.resource[k] for k in ("incident_id", "service", "severity", "rule", "status")} == {
        "incident_id": "5", "service": "checkout", "severity": "critical", "rule": "service-down", "status": "acknowledged",
    }  # fmt: skip
    assert [(r.id, r.role) for r in event.related] == [("alertflow.rule.service-down", "rule"), ("alertflow.service.checkout", "service")]
    assert event.payload == {"by": "alice"}  # None values are left out
    assert events.traffic("failback", "rolled-back") == "alertflow.failback.rolled-back"
    assert describe(spec) == "incident 5 acknowledged (checkout, critical, rule service-down): alice"


def test_a_full_queue_drops_its_oldest_counts_them_and_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    """Past its capacity the emitter's queue keeps the newest events, counts each dropped one, and warns once."""
    metrics = Metrics()
    emitter = EventEmitter(lambda: None, metrics, capacity=3)  # type: ignore[arg-type,return-value]
    sent = [events.event_for(events.OPENED, INCIDENT.model_copy(update={"id": i})) for i in range(5)]
    with caplog.at_level(logging.INFO, logger="alertflow.pipeline.events"):
        for event in sent:
            emitter.offer([event])
    assert list(emitter.queue) == sent[2:]
    assert metrics.events_dropped.labels("full")._value.get() == 2 and metrics.events_queued._value.get() == 3
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "Prefect events queue full (3): dropping the oldest until Prefect takes events again"
    ]
    assert [getattr(r, "incident_id", None) for r in caplog.records if r.levelno == logging.INFO] == [0, 1, 2, 3, 4]


def test_json_lines_carry_the_fields_known_from_the_record_or_the_context() -> None:
    """A record's extra fields win over the context's; exceptions are one field; the line is one JSON object."""
    formatter = JsonFormatter()

    def line(**extra: object) -> dict[str, object]:
        record = logging.LogRecord("alertflow.x", logging.ERROR, __file__, 1, "incident %s: é", (5,), None)
        record.__dict__.update(extra)
        return json.loads(formatter.format(record))

    first = line(incident_id=5)
    assert first == {"time": first["time"], "level": "ERROR", "logger": "alertflow.x", "message": "incident 5: é", "incident_id": 5}
    assert first["time"].endswith("Z") and len(first["time"]) == len("2026-11-27T10:00:00.000Z")
    with log_context(incident_id=1, fingerprint="fp", flow_run_id=None):
        assert (line()["incident_id"], line()["fingerprint"], line(incident_id=2)["incident_id"]) == (1, "fp", 2)
        assert "flow_run_id" not in line()
    assert "incident_id" not in line()
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("alertflow.x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    formatted = formatter.format(record)
    assert "\n" not in formatted and json.loads(formatted)["exception"].endswith("ValueError: boom")
