"""rules/engine.py + rules/heartbeats.py: dead man's switches raise (and clear) a synthetic alert.

Steps are ("process", seconds, alert, expected) or ("tick", seconds, expected);
expected decisions are ``(kind, key)`` or ``(kind, key, flows)``; the
synthetic decision has no key (the incident it opens does).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from alertflow.models import Alert, AlertStatus, Severity
from alertflow.rules import Engine, parse_rules
from alertflow.rules.decision import Decision, DecisionKind
from tests.unit.engine_steps import run_steps

K = DecisionKind
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

RULES = """\
rules:
  - id: monitoring
    description: Monitoring is blind
    matchers: ['alertname=~"MonitoringDown|PingMissing"']
    group_by: [cluster]
    actions: [{flow: paging}]
heartbeats:
"""
WATCHDOG = (
    RULES
    + """\
  - id: watchdog
    description: Alertmanager's always-firing Watchdog
    matchers: ['alertname="Watchdog"']
    group_by: [cluster]
    missing_after: 5m
    alert: {name: MonitoringDown, severity: critical, labels: {service: monitoring}}
"""
)
PING = (
    RULES
    + """\
  - id: ping
    description: The only pinger
    matchers: ['alertname="Ping"']
    missing_after: 1m
    alert: {name: PingMissing}
"""
)
M1, M2, MP = "monitoring|cluster=c1", "monitoring|cluster=c2", "monitoring|cluster="


def alert(name: str, cluster: str = "c1") -> Alert:
    """A firing heartbeat alert of ``cluster``; received_at is set when a step processes it."""
    labels = {"alertname": name, "cluster": cluster, "severity": "info"}
    return Alert(source="test", fingerprint=f"{name}-{cluster}", name=name, service="monitoring", severity=Severity.info,
                 status=AlertStatus.firing, labels=labels, starts_at=T0, received_at=T0)  # fmt: skip


def run(engine: Engine, steps: list[tuple[Any, ...]]) -> list[list[Decision]]:
    return run_steps(engine, steps, T0)


SEEN = [(K.unmatched, None)]  # the heartbeat alert itself matches no rule
RAISED = [(K.synthetic, None), (K.open, M1, "paging")]
CLEARED = [(K.synthetic, None), (K.alert_resolved, M1), (K.resolve, M1), *SEEN]

SCENARIOS = {
    "missing-raises-synthetic-that-opens-and-clears": (
        WATCHDOG,
        [
            ("process", 0, alert("Watchdog"), SEEN),
            ("tick", 299, []),
            ("tick", 300, RAISED),
            ("tick", 400, []),
            ("process", 450, alert("Watchdog"), CLEARED),
            ("tick", 600, []),
            ("tick", 750, RAISED),
        ],
    ),
    "arriving-in-time-keeps-it-quiet": (
        WATCHDOG,
        [
            ("process", 0, alert("Watchdog"), SEEN),
            ("process", 240, alert("Watchdog"), SEEN),
            ("tick", 480, []),
            ("tick", 540, RAISED),
        ],
    ),
    "one-heartbeat-per-group-by-key": (
        WATCHDOG,
        [
            ("process", 0, alert("Watchdog", "c1"), SEEN),
            ("process", 0, alert("Watchdog", "c2"), SEEN),
            ("process", 200, alert("Watchdog", "c2"), SEEN),
            ("tick", 300, RAISED),
            ("tick", 500, [(K.synthetic, None), (K.open, M2, "paging")]),
        ],
    ),
    "grouped-heartbeat-never-seen-is-not-expected": (
        WATCHDOG,
        [
            ("tick", 0, []),
            ("tick", 3600, []),
        ],
    ),
    "ungrouped-heartbeat-expected-from-the-first-tick": (
        PING,
        [
            ("tick", 0, []),
            ("tick", 59, []),
            ("tick", 60, [(K.synthetic, None), (K.open, MP, "paging")]),
        ],
    ),
    "ungrouped-heartbeat-seen-before-missing": (
        PING,
        [
            ("tick", 0, []),
            ("process", 30, alert("Ping"), SEEN),
            ("tick", 60, []),
            ("tick", 90, [(K.synthetic, None), (K.open, MP, "paging")]),
            ("process", 100, alert("Ping"), [(K.synthetic, None), (K.alert_resolved, MP), (K.resolve, MP), *SEEN]),
        ],
    ),
}


@pytest.mark.parametrize(("rules", "steps"), list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_heartbeat_scenario(rules: str, steps: list[tuple[Any, ...]]) -> None:
    """Each timed step of a heartbeat scenario produces exactly the listed decisions."""
    run(Engine(parse_rules(rules, "rules.yaml")), steps)


def test_synthetic_alert_carries_heartbeat_labels() -> None:
    """The missing alert is firing, from alertflow, with the group labels, the alert's labels, name and severity."""
    decided = run(Engine(parse_rules(WATCHDOG, "rules.yaml")), [("process", 0, alert("Watchdog"), SEEN), ("tick", 300, RAISED)])
    synthetic = decided[1][0].alert
    assert synthetic is not None
    assert (synthetic.source, synthetic.status, synthetic.name, synthetic.severity) == (
        "alertflow",
        AlertStatus.firing,
        "MonitoringDown",
        Severity.critical,
    )
    assert synthetic.labels == {"cluster": "c1", "service": "monitoring", "alertname": "MonitoringDown", "heartbeat": "watchdog"}
    assert decided[1][1].fingerprint == synthetic.fingerprint


def test_synthetic_alert_clears_with_the_same_fingerprint() -> None:
    """Seeing the heartbeat again emits the synthetic alert resolved, under the fingerprint it was raised with."""
    steps = [("process", 0, alert("Watchdog"), SEEN), ("tick", 300, RAISED), ("process", 400, alert("Watchdog"), CLEARED)]
    decided = run(Engine(parse_rules(WATCHDOG, "rules.yaml")), steps)
    raised, cleared = decided[1][0].alert, decided[2][0].alert
    assert raised is not None and cleared is not None
    assert (cleared.fingerprint, cleared.status) == (raised.fingerprint, AlertStatus.resolved)
