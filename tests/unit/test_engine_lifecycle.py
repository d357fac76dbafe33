"""rules/engine.py + rules/groups.py: an incident's life (open, attach, group_wait, resolve, reopen, severity).

Each scenario is a table of timed steps on a fake clock, each with the
decisions it must produce: ``(kind, key)`` or ``(kind, key, detail)`` where
detail is the actions' flows, a severity decision's new level, or a
suppressed alert's related key.
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

RULES = parse_rules(
    """\
rules:
  - id: api
    description: API error rate
    matchers: ['alertname="HighErrorRate"']
    group_by: [service]
    actions:
      - flow: paging
      - flow: failover
        params: {switch: api}
        min_severity: critical
  - id: wait
    description: Collected for 30 seconds before anyone is paged
    matchers: ['alertname="Wait"']
    group_by: [service]
    group_wait: 30s
    actions: [{flow: paging}, {flow: failover, params: {switch: api}, min_severity: critical}]
  - id: quiet
    description: Resolves after five quiet minutes
    matchers: ['alertname="Quiet"']
    group_by: [service]
    resolve_after: 5m
    actions: [{flow: paging}]
  - id: stale
    description: Resolves when nothing was heard for an hour
    matchers: ['alertname="Stale"']
    group_by: [service]
    auto_resolve_after: 1h
    actions: [{flow: paging}]
  - id: again
    description: Reopens within ten minutes
    matchers: ['alertname="Again"']
    group_by: [service]
    reopen_within: 10m
    actions: [{flow: paging}]
""",
    "rules.yaml",
)
API, WEB = "api|service=api", "api|service=web"
WAIT, QUIET, STALE, AGAIN = "wait|service=api", "quiet|service=api", "stale|service=api", "again|service=api"


def alert(fp: str, name: str = "HighErrorRate", severity: str = "warning", status: str = "firing", **labels: str) -> Alert:
    """An Alertmanager-shaped alert on service api; received_at is set when a step processes it."""
    labels = {"alertname": name, "service": "api", "severity": severity, **labels}
    return Alert(source="test", fingerprint=fp, name=name, service=labels["service"], severity=Severity(severity),
                 status=AlertStatus(status), labels=labels, starts_at=T0, received_at=T0)  # fmt: skip


def resolved(fp: str, name: str = "HighErrorRate", **labels: str) -> Alert:
    return alert(fp, name, status="resolved", **labels)


def run(engine: Engine, steps: list[tuple[Any, ...]]) -> list[list[Decision]]:
    return run_steps(engine, steps, T0)


SCENARIOS = {
    "open-resend-attach-other-key": [
        ("process", 0, alert("a1"), [(K.open, API, "paging")]),
        ("process", 10, alert("a1"), []),
        ("process", 20, alert("a2", instance="i2"), [(K.attach, API)]),
        ("process", 30, alert("w1", service="web"), [(K.open, WEB, "paging")]),
    ],
    "unmatched-alert-is-only-stored": [
        ("process", 0, alert("x1", name="Noise"), [(K.unmatched, None)]),
        ("process", 10, resolved("x1", name="Noise"), [(K.unmatched, None)]),
    ],
    "resolves-when-every-alert-resolved": [
        ("process", 0, alert("a1"), [(K.open, API, "paging")]),
        ("process", 10, alert("a2"), [(K.attach, API)]),
        ("process", 20, resolved("a1"), [(K.alert_resolved, API)]),
        ("process", 25, resolved("a1"), []),
        ("process", 30, resolved("a2"), [(K.alert_resolved, API), (K.resolve, API)]),
        ("process", 40, alert("a1"), [(K.open, API, "paging")]),
    ],
    "group-wait-holds-actions-until-tick": [
        ("process", 0, alert("a1", "Wait"), [(K.open, WAIT)]),
        ("process", 10, alert("a2", "Wait"), [(K.attach, WAIT)]),
        ("tick", 29, []),
        ("tick", 30, [(K.act, WAIT, "paging")]),
        ("tick", 60, []),
    ],
    "group-wait-runs-actions-of-the-severity-reached-meanwhile": [
        ("process", 0, alert("a1", "Wait"), [(K.open, WAIT)]),
        ("process", 10, alert("a2", "Wait", "critical"), [(K.attach, WAIT), (K.severity, WAIT, "critical")]),
        ("tick", 31, [(K.act, WAIT, "paging failover")]),
    ],
    "severity-reached-after-group-wait-acts-at-once": [
        ("process", 0, alert("a1", "Wait"), [(K.open, WAIT)]),
        ("tick", 30, [(K.act, WAIT, "paging")]),
        ("process", 40, alert("a2", "Wait", "critical"), [(K.attach, WAIT), (K.severity, WAIT, "critical"), (K.act, WAIT, "failover")]),
    ],
    "resolve-after-quiet-period-and-refire-keeps-it-open": [
        ("process", 0, alert("a1", "Quiet"), [(K.open, QUIET, "paging")]),
        ("process", 60, resolved("a1", "Quiet"), [(K.alert_resolved, QUIET), (K.resolving, QUIET)]),
        ("process", 200, alert("a1", "Quiet"), [(K.attach, QUIET)]),
        ("tick", 400, []),
        ("process", 500, resolved("a1", "Quiet"), [(K.alert_resolved, QUIET), (K.resolving, QUIET)]),
        ("tick", 799, []),
        ("tick", 800, [(K.resolve, QUIET)]),
    ],
    "new-alert-during-quiet-period-keeps-it-open": [
        ("process", 0, alert("a1", "Quiet"), [(K.open, QUIET, "paging")]),
        ("process", 60, resolved("a1", "Quiet"), [(K.alert_resolved, QUIET), (K.resolving, QUIET)]),
        ("process", 120, alert("a2", "Quiet"), [(K.attach, QUIET)]),
        ("tick", 400, []),
    ],
    "auto-resolve-when-nothing-heard": [
        ("process", 0, alert("a1", "Stale"), [(K.open, STALE, "paging")]),
        ("tick", 3599, []),
        ("tick", 3600, [(K.resolve, STALE)]),
    ],
    "auto-resolve-counts-a-resend-as-heard": [
        ("process", 0, alert("a1", "Stale"), [(K.open, STALE, "paging")]),
        ("process", 1800, alert("a1", "Stale"), []),
        ("tick", 3600, []),
        ("tick", 5399, []),
        ("tick", 5400, [(K.resolve, STALE)]),
    ],
    "reopen-within-window-runs-actions-again": [
        ("process", 0, alert("a1", "Again"), [(K.open, AGAIN, "paging")]),
        ("process", 60, resolved("a1", "Again"), [(K.alert_resolved, AGAIN), (K.resolve, AGAIN)]),
        ("tick", 300, []),
        ("process", 660, alert("a1", "Again"), [(K.reopen, AGAIN, "paging")]),
        ("process", 670, alert("a2", "Again"), [(K.attach, AGAIN)]),
    ],
    "firing-after-reopen-window-opens-a-new-incident": [
        ("process", 0, alert("a1", "Again"), [(K.open, AGAIN, "paging")]),
        ("process", 60, resolved("a1", "Again"), [(K.alert_resolved, AGAIN), (K.resolve, AGAIN)]),
        ("process", 661, alert("a1", "Again"), [(K.open, AGAIN, "paging")]),
    ],
    "firing-after-reopen-window-with-tick-opens-a-new-incident": [
        ("process", 0, alert("a1", "Again"), [(K.open, AGAIN, "paging")]),
        ("process", 60, resolved("a1", "Again"), [(K.alert_resolved, AGAIN), (K.resolve, AGAIN)]),
        ("tick", 661, []),
        ("process", 700, alert("a1", "Again"), [(K.open, AGAIN, "paging")]),
    ],
    "severity-raise-runs-min-severity-action-once-and-lowers": [
        ("process", 0, alert("a1"), [(K.open, API, "paging")]),
        ("process", 10, alert("a2", severity="error"), [(K.attach, API), (K.severity, API, "error")]),
        ("process", 20, alert("a3", severity="critical"), [(K.attach, API), (K.severity, API, "critical"), (K.act, API, "failover")]),
        ("process", 30, resolved("a3"), [(K.alert_resolved, API), (K.severity, API, "error")]),
        ("process", 40, alert("a3", severity="critical"), [(K.attach, API), (K.severity, API, "critical")]),
        ("process", 50, resolved("a2"), [(K.alert_resolved, API)]),
    ],
    "critical-first-alert-runs-every-action-at-open": [
        ("process", 0, alert("a1", severity="critical"), [(K.open, API, "paging failover")]),
        ("process", 10, alert("a2"), [(K.attach, API)]),
    ],
    "person-resolves-then-resend-opens-a-new-incident": [
        ("process", 0, alert("a1"), [(K.open, API, "paging")]),
        ("forget", 10, API, []),
        ("process", 20, alert("a1"), [(K.open, API, "paging")]),
    ],
    "person-resolves-then-resend-within-window-reopens": [
        ("process", 0, alert("a1", "Again"), [(K.open, AGAIN, "paging")]),
        ("forget", 10, AGAIN, []),
        ("process", 20, alert("a1", "Again"), [(K.reopen, AGAIN, "paging")]),
    ],
    "person-resolves-a-resolving-incident": [
        ("process", 0, alert("a1", "Quiet"), [(K.open, QUIET, "paging")]),
        ("process", 10, resolved("a1", "Quiet"), [(K.alert_resolved, QUIET), (K.resolving, QUIET)]),
        ("forget", 20, QUIET, []),
        ("tick", 400, []),
        ("forget", 410, "no-such-key", []),
    ],
}


@pytest.mark.parametrize("steps", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_lifecycle_scenario(steps: list[tuple[Any, ...]]) -> None:
    """Each timed step of an incident's life produces exactly the listed decisions."""
    run(Engine(RULES), steps)


def test_open_decision_names_rule_title_severity_and_other_members() -> None:
    """An open decision carries the rule, the first alert's title and service, the severity, and no other members."""
    engine = Engine(RULES)
    (decision,) = engine.process(alert("a1", severity="error"), T0)
    assert (decision.rule_id, decision.title, decision.service, decision.severity) == ("api", "HighErrorRate", "api", Severity.error)
    assert decision.fingerprint == "a1" and decision.members == ()


@pytest.mark.parametrize(
    ("group_by", "labels", "key"),
    [
        pytest.param([], {"service": "api"}, "r", id="empty-group-by-one-incident"),
        pytest.param(["service"], {"service": "api"}, "r|service=api", id="one-label"),
        pytest.param(["service", "env"], {"service": "api"}, "r|service=api|env=", id="missing-label-is-empty"),
        pytest.param(["..."], {"b": "2", "a": "1"}, "r|a=1|b=2", id="every-label-sorted"),
        pytest.param(["service"], {"service": "a|b"}, "r|service=a\\|b", id="pipe-escaped"),
    ],
)
def test_incident_key_from_group_by(group_by: list[str], labels: dict[str, str], key: str) -> None:
    """group_by labels form the incident key: rule id, then name=value pairs."""
    rule = parse_rules(f"rules: [{{id: r, description: d, group_by: {group_by}}}]".replace("'", '"'), "r.yaml").rules[0]
    assert rule.incident_key(labels) == key
