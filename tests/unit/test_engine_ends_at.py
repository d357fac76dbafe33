"""Resolve by endsAt, as Alertmanager does: an incident whose every firing alert promised an endsAt (Prometheus) resolves
when the latest passes without a resend; one alert without an endsAt (most sources) turns that off; restarts keep it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from alertflow.models import Alert, AlertStatus, Severity
from alertflow.rules import Engine, parse_rules
from alertflow.rules.decision import DecisionKind

K = DecisionKind
T0 = datetime(2026, 12, 5, 9, 0, tzinfo=timezone.utc)
RULES = parse_rules(
    "rules:\n  - {id: down, description: down, matchers: ['alertname=\"Down\"'], group_by: [service], actions: [{flow: paging}]}\n",
    "rules.yaml",
)


def firing(fp: str, at: timedelta, ends_in: timedelta | None) -> Alert:
    """A firing alert received at T0 + ``at``; Prometheus sets endsAt a few evaluations ahead (``ends_in``)."""
    received = T0 + at
    return Alert(source="prometheus", fingerprint=fp, name="Down", service="api", severity=Severity.critical, status=AlertStatus.firing,
                 labels={"alertname": "Down", "service": "api"}, starts_at=T0, received_at=received,
                 ends_at=received + ends_in if ends_in is not None else None)  # fmt: skip


def kinds(engine: Engine, at: timedelta) -> list[DecisionKind]:
    return [d.kind for d in engine.tick(T0 + at)]


def test_the_incident_resolves_when_the_last_promised_end_passes_without_a_resend() -> None:
    engine = Engine(RULES)
    assert [d.kind for d in engine.process(firing("a", timedelta(0), timedelta(minutes=4)), T0)] == [K.open]
    assert kinds(engine, timedelta(minutes=3)) == []
    engine.process(firing("a", timedelta(minutes=3), timedelta(minutes=4)), T0 + timedelta(minutes=3))  # Prometheus resends
    assert kinds(engine, timedelta(minutes=5)) == []  # the first promise passed, the resend's holds
    [resolved] = engine.tick(T0 + timedelta(minutes=7))
    assert resolved.kind is K.resolve and "endsAt" in resolved.reason


def test_an_alert_without_an_end_keeps_the_incident_open() -> None:
    engine = Engine(RULES)
    engine.process(firing("a", timedelta(0), timedelta(minutes=4)), T0)
    engine.process(firing("b", timedelta(minutes=1), None), T0 + timedelta(minutes=1))  # e.g. through an Alertmanager webhook
    assert kinds(engine, timedelta(hours=1)) == []


def test_a_restart_keeps_the_promised_end() -> None:
    engine = Engine(RULES)
    engine.process(firing("a", timedelta(0), timedelta(minutes=4)), T0)
    state = [(kind, key, json.loads(json.dumps(value))) for kind, key, value in engine.changes() if value is not None]
    restarted = Engine(RULES)
    restarted.restore(state)
    assert kinds(restarted, timedelta(minutes=3)) == []
    assert kinds(restarted, timedelta(minutes=4)) == [K.resolve]
