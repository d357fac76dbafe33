"""rules/engine.py: alerts in, decisions out, as table-driven scenarios."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from alertflow.models import Alert, AlertStatus, DecisionKind, FailoverAction, PagingAction, Severity
from rules import Engine, OpenIncident, parse_rules

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)

RULES = parse_rules(
    """\
rules:
  - id: db-down
    description: The database stopped answering
    matchers: ['alertname="DBDown"']
    severity: warning
    group_by: [service]
    actions:
      - flow: paging
        params: {channel: "#db"}
      - flow: failover
        params: {switch: db}
  - id: api
    description: API alerts
    matchers: ['service=~"api|web"']
    severity: warning
    group_by: [service]
  - id: critical-anything
    description: Any other critical alert
    severity: critical
    group_by: [alertname]
""",
    "rules.yaml",
)

open_, attach, duplicate, escalate = DecisionKind.open, DecisionKind.attach, DecisionKind.duplicate, DecisionKind.escalate
alert_resolved, resolve, unmatched = DecisionKind.alert_resolved, DecisionKind.resolve, DecisionKind.unmatched


def alert(fingerprint: str, status: str = "firing", severity: str = "warning", **labels: str) -> Alert:
    """A normalized alert as a source would produce it; labels default to a HighLatency alert on api."""
    labels = {"alertname": "HighLatency", "service": "api", **labels}
    return Alert(
        source="test",
        fingerprint=fingerprint,
        name=labels["alertname"],
        service=labels["service"],
        severity=Severity(severity),
        status=AlertStatus(status),
        labels=labels,
        annotations={"summary": f"{labels['alertname']} on {labels['service']}"},
        starts_at=NOW - timedelta(minutes=5),
        received_at=NOW,
    )


def resolved(fingerprint: str, **labels: str) -> Alert:
    return alert(fingerprint, status="resolved", **labels)


def run(engine: Engine, alerts: list[Alert]) -> list[list[DecisionKind]]:
    return [[decision.kind for decision in engine.process(a, NOW)] for a in alerts]


SCENARIOS = [
    pytest.param([alert("a1", alertname="Noise", service="billing")], [[unmatched]], id="unmatched"),
    pytest.param(
        [alert("a1", severity="info"), alert("a2", severity="warning")],
        [[unmatched], [open_]],
        id="severity-threshold-ignores-info",
    ),
    pytest.param(
        [alert("a1"), alert("a1"), alert("a2", instance="api-2"), alert("a3", service="web")],
        [[open_], [duplicate], [attach], [open_]],
        id="open-duplicate-attach-new-group",
    ),
    pytest.param(
        [alert("a1"), alert("a2", severity="critical"), alert("a3", severity="error"), alert("a4", severity="critical")],
        [[open_], [attach, escalate], [attach], [attach]],
        id="severity-raise-escalates-once",
    ),
    pytest.param(
        [alert("a1"), alert("a2"), resolved("a1"), resolved("a2")],
        [[open_], [attach], [alert_resolved], [alert_resolved, resolve]],
        id="resolve-one-then-last",
    ),
    pytest.param([resolved("ghost")], [[unmatched]], id="resolve-of-unknown-fingerprint"),
    pytest.param(
        [alert("a1"), alert("a2"), resolved("a1"), resolved("a1")],
        [[open_], [attach], [alert_resolved], [duplicate]],
        id="duplicate-resolve",
    ),
    pytest.param(
        [alert("a1"), resolved("a1"), resolved("a1")],
        [[open_], [alert_resolved, resolve], [unmatched]],
        id="resolve-after-incident-closed",
    ),
    pytest.param(
        [alert("a1"), resolved("a1"), alert("a1")],
        [[open_], [alert_resolved, resolve], [open_]],
        id="refire-after-incident-resolved-opens-new",
    ),
    pytest.param(
        [alert("a1"), alert("a2"), resolved("a1"), alert("a1"), resolved("a2"), resolved("a1")],
        [[open_], [attach], [alert_resolved], [attach], [alert_resolved], [alert_resolved, resolve]],
        id="refire-inside-open-incident-attaches",
    ),
    pytest.param(
        [alert("a1", severity="error"), resolved("a1"), alert("a1", severity="critical")],
        [[open_], [alert_resolved, resolve], [open_]],
        id="refire-never-escalates-a-closed-incident",
    ),
]


@pytest.mark.parametrize(("alerts", "expected"), SCENARIOS)
def test_scenario(alerts: list[Alert], expected: list[list[DecisionKind]]) -> None:
    """Each alert, fed in order, yields the expected sequence of decision kinds."""
    assert run(Engine(RULES), alerts) == expected


@pytest.mark.parametrize(
    ("labels", "severity", "rule_id"),
    [
        pytest.param({"alertname": "DBDown", "service": "api"}, "warning", "db-down", id="first-of-two-matching-wins"),
        pytest.param({"alertname": "DBDown", "service": "api"}, "info", None, id="below-every-threshold"),
        pytest.param({"alertname": "HighLatency", "service": "web"}, "warning", "api", id="second-rule"),
        pytest.param({"alertname": "DiskFull", "service": "batch"}, "critical", "critical-anything", id="fallthrough-to-critical"),
        pytest.param({"alertname": "DiskFull", "service": "batch"}, "error", None, id="error-below-critical-rule"),
    ],
)
def test_first_matching_rule_decides(labels: dict[str, str], severity: str, rule_id: str | None) -> None:
    """Rules are tried in file order; the first whose matchers and threshold accept the alert opens it."""
    [decision] = Engine(RULES).process(alert("a1", severity=severity, **labels), NOW)
    assert (decision.kind, decision.rule_id) == ((open_, rule_id) if rule_id else (unmatched, None))


def test_groups_get_distinct_keys_and_attach_joins_the_right_one() -> None:
    """Two groups open two incidents; a later alert attaches to the incident of its own group."""
    engine = Engine(RULES)
    api = engine.process(alert("a1"), NOW)[0]
    web = engine.process(alert("w1", service="web"), NOW)[0]
    joined = engine.process(alert("w2", service="web", instance="web-2"), NOW)[0]
    assert (api.key, web.key) == ("api|service=api", "api|service=web")
    assert (joined.kind, joined.key) == (attach, web.key)


def test_escalate_carries_the_new_severity() -> None:
    """An escalate decision names the raised severity, and the incident remembers it."""
    engine = Engine(RULES)
    key = engine.process(alert("a1"), NOW)[0].key
    escalation = engine.process(alert("a2", severity="critical", alertname="Errors"), NOW)[1]
    assert escalation.severity is Severity.critical
    assert "from warning to critical by Errors" in escalation.reason
    assert engine.open_incident(key).severity is Severity.critical  # type: ignore[union-attr]


def test_open_decision_carries_rule_actions_and_reason() -> None:
    """The open decision lists the rule's actions and explains itself by rule id and description."""
    [decision] = Engine(RULES).process(alert("d1", alertname="DBDown", service="orders", severity="error"), NOW)
    assert decision.kind is open_
    assert [type(action) for action in decision.actions] == [PagingAction, FailoverAction]
    assert decision.actions == RULES.rules[0].actions
    assert "rule db-down (The database stopped answering)" in decision.reason
    assert 'alertname="DBDown"' in decision.reason
    assert (decision.key, decision.title, decision.service, decision.severity) == (
        "db-down|service=orders",
        "DBDown on orders",
        "orders",
        Severity.error,
    )


def test_restore_reproduces_dedup() -> None:
    """After restore() from stored open incidents, a resend is a duplicate and its group attaches."""
    key = RULES.rules[1].incident_key({"service": "api"})
    engine = Engine(RULES)
    engine.restore([OpenIncident(key=key, rule_id="api", severity=Severity.warning, firing={"a1"}, resolved={"a2"})])
    assert run(engine, [alert("a1"), alert("a3"), alert("a2"), resolved("a1")]) == [[duplicate], [attach], [attach], [alert_resolved]]


def test_restore_replaces_previous_state() -> None:
    """restore() drops whatever the engine held before: only the given incidents are open."""
    engine = Engine(RULES)
    engine.process(alert("a1"), NOW)
    engine.restore([])
    assert run(engine, [alert("a1")]) == [[open_]]


def test_forget_makes_the_next_alert_open_a_new_incident() -> None:
    """Once an incident is forgotten (closed by a person), its alerts open a new incident."""
    engine = Engine(RULES)
    key = engine.process(alert("a1"), NOW)[0].key
    engine.process(alert("a2"), NOW)
    engine.forget(key)  # type: ignore[arg-type]
    assert engine.open_incident(key) is None  # type: ignore[arg-type]
    assert run(engine, [resolved("a2"), alert("a1"), alert("a2")]) == [[unmatched], [open_], [attach]]


def test_forget_of_unknown_key_is_harmless() -> None:
    """Forgetting a key the engine does not hold changes nothing."""
    engine = Engine(RULES)
    engine.process(alert("a1"), NOW)
    engine.forget("no-such-key")
    assert run(engine, [alert("a1")]) == [[duplicate]]
