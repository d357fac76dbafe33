"""rules/groups.py: correlation patterns (threshold, sequence, flapping) as timed scenarios.

Steps are ("process", seconds, alert, expected) or ("tick", seconds, expected);
expected decisions are ``(kind, key)`` or ``(kind, key, flows)``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
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
  - id: hosts-down
    description: Three hosts down within five minutes
    matchers: ['alertname="HostDown"']
    group_by: [cluster]
    pattern: {kind: threshold, count: 3, within: 5m}
    actions: [{flow: paging}]
  - id: disk-then-db
    description: A full disk took the database down
    matchers: ['alertname=~"DiskFull|DatabaseDown"']
    group_by: [host]
    pattern:
      kind: sequence
      within: 10m
      steps: [['alertname="DiskFull"'], ['alertname="DatabaseDown"']]
    actions: [{flow: paging}]
  - id: flappy
    description: A link that keeps going up and down
    matchers: ['alertname="LinkDown"']
    group_by: [link]
    pattern: {kind: flapping, transitions: 4, within: 15m}
    actions: [{flow: paging}]
""",
    "rules.yaml",
)
C1, C2 = "hosts-down|cluster=c1", "hosts-down|cluster=c2"
H1, H2 = "disk-then-db|host=h1", "disk-then-db|host=h2"
L1 = "flappy|link=l1"


def alert(fp: str, name: str, status: str = "firing", **labels: str) -> Alert:
    """A warning alert in cluster c1 on host h1, link l1; received_at is set when a step processes it."""
    labels = {"alertname": name, "cluster": "c1", "host": "h1", "link": "l1", "severity": "warning", **labels}
    return Alert(source="test", fingerprint=fp, name=name, service="infra", severity=Severity.warning,
                 status=AlertStatus(status), labels=labels, starts_at=T0, received_at=T0)  # fmt: skip


def host(fp: str, status: str = "firing", **labels: str) -> Alert:
    return alert(fp, "HostDown", status, **labels)


def disk(fp: str = "disk", **labels: str) -> Alert:
    return alert(fp, "DiskFull", **labels)


def db(fp: str = "db", **labels: str) -> Alert:
    return alert(fp, "DatabaseDown", **labels)


def link(status: str = "firing") -> Alert:
    return alert("l1", "LinkDown", status)


def run(engine: Engine, steps: list[tuple[Any, ...]]) -> list[list[Decision]]:
    return run_steps(engine, steps, T0)


THRESHOLD = {
    "three-within-window-open-once": [
        ("process", 0, host("a"), [(K.pending, C1)]),
        ("process", 60, host("b"), [(K.pending, C1)]),
        ("process", 120, host("c"), [(K.open, C1, "paging")]),
        ("process", 130, host("d"), [(K.attach, C1)]),
        ("process", 140, host("a"), []),
    ],
    "counted-per-incident-key": [
        ("process", 0, host("a"), [(K.pending, C1)]),
        ("process", 10, host("b"), [(K.pending, C1)]),
        ("process", 20, host("c", cluster="c2"), [(K.pending, C2)]),
    ],
    "resolved-alerts-do-not-count": [
        ("process", 0, host("a"), [(K.pending, C1)]),
        ("process", 10, host("b"), [(K.pending, C1)]),
        ("process", 20, host("a", "resolved"), []),
        ("process", 30, host("c"), [(K.pending, C1)]),
        ("process", 40, host("d"), [(K.open, C1, "paging")]),
    ],
    "alerts-not-seen-within-window-drop-out-on-tick": [
        ("process", 0, host("a"), [(K.pending, C1)]),
        ("process", 200, host("b"), [(K.pending, C1)]),
        ("tick", 301, []),
        ("process", 320, host("c"), [(K.pending, C1)]),
        ("process", 330, host("d"), [(K.open, C1, "paging")]),
    ],
    "alerts-not-seen-within-window-do-not-count-without-tick": [
        ("process", 0, host("a"), [(K.pending, C1)]),
        ("process", 200, host("b"), [(K.pending, C1)]),
        ("process", 320, host("c"), [(K.pending, C1)]),
    ],
    "resend-keeps-an-alert-counted": [
        ("process", 0, host("a"), [(K.pending, C1)]),
        ("process", 200, host("b"), [(K.pending, C1)]),
        ("process", 290, host("a"), []),
        ("tick", 301, []),
        ("process", 320, host("c"), [(K.open, C1, "paging")]),
    ],
    "resend-of-a-stale-alert-completes-the-window-between-ticks": [
        ("process", 0, host("a"), [(K.pending, C1)]),
        ("process", 200, host("b"), [(K.pending, C1)]),
        ("process", 320, host("c"), [(K.pending, C1)]),
        ("process", 330, host("a"), [(K.open, C1, "paging")]),
    ],
    "dropped-out-alert-counts-again-when-resent": [
        ("process", 0, host("a"), [(K.pending, C1)]),
        ("tick", 400, []),
        ("process", 410, host("b"), [(K.pending, C1)]),
        ("process", 420, host("a"), [(K.pending, C1)]),
        ("process", 430, host("c"), [(K.open, C1, "paging")]),
    ],
}

SEQUENCE = {
    "a-then-b-within-window-opens": [
        ("process", 0, disk(), [(K.pending, H1)]),
        ("process", 60, db(), [(K.open, H1, "paging")]),
    ],
    "b-before-a-does-not-open": [
        ("process", 0, db(), [(K.pending, H1)]),
        ("process", 60, disk(), [(K.pending, H1)]),
        ("process", 120, db(), []),
        ("tick", 180, []),
    ],
    "a-then-b-after-window-does-not-open": [
        ("process", 0, disk(), [(K.pending, H1)]),
        ("process", 601, db(), [(K.pending, H1)]),
    ],
    "a-then-tick-past-window-then-b-does-not-open": [
        ("process", 0, disk(), [(K.pending, H1)]),
        ("process", 300, disk(), []),
        ("tick", 601, []),
        ("process", 660, db(), [(K.pending, H1)]),
    ],
    "a-again-restarts-the-window": [
        ("process", 0, disk(), [(K.pending, H1)]),
        ("process", 500, disk("disk2"), [(K.pending, H1)]),
        ("process", 900, db(), [(K.open, H1, "paging")]),
    ],
    "steps-on-different-keys-do-not-combine": [
        ("process", 0, disk(), [(K.pending, H1)]),
        ("process", 60, db(host="h2"), [(K.pending, H2)]),
    ],
}

FLAPPING = {
    "cycles-keep-one-incident-marked-flapping-once": [
        ("process", 0, link(), [(K.open, L1, "paging")]),
        ("process", 60, link("resolved"), [(K.alert_resolved, L1), (K.resolving, L1)]),
        ("process", 120, link(), [(K.attach, L1)]),
        ("process", 180, link("resolved"), [(K.alert_resolved, L1), (K.resolving, L1)]),
        ("process", 240, link(), [(K.flapping, L1), (K.attach, L1)]),
        ("process", 300, link("resolved"), [(K.alert_resolved, L1), (K.resolving, L1)]),
        ("process", 360, link(), [(K.attach, L1)]),
        ("process", 420, link("resolved"), [(K.alert_resolved, L1), (K.resolving, L1)]),
        ("tick", 1319, []),
        ("tick", 1320, [(K.resolve, L1)]),
    ],
    "changes-of-every-alert-of-the-key-count": [
        ("process", 0, link(), [(K.open, L1, "paging")]),
        ("process", 10, alert("l2", "LinkDown"), [(K.attach, L1)]),
        ("process", 60, link("resolved"), [(K.alert_resolved, L1)]),
        ("process", 120, link(), [(K.attach, L1)]),
        ("process", 180, link("resolved"), [(K.alert_resolved, L1)]),
        ("process", 240, alert("l2", "LinkDown", "resolved"), [(K.alert_resolved, L1), (K.flapping, L1), (K.resolving, L1)]),
    ],
    "resolves-only-after-a-quiet-window": [
        ("process", 0, link(), [(K.open, L1, "paging")]),
        ("process", 60, link("resolved"), [(K.alert_resolved, L1), (K.resolving, L1)]),
        ("tick", 959, []),
        ("tick", 960, [(K.resolve, L1)]),
        ("process", 970, link(), [(K.open, L1, "paging")]),
    ],
    "slow-cycles-are-not-flapping": [
        ("process", 0, link(), [(K.open, L1, "paging")]),
        ("process", 60, link("resolved"), [(K.alert_resolved, L1), (K.resolving, L1)]),
        ("process", 900, link(), [(K.attach, L1)]),
        ("process", 1800, link("resolved"), [(K.alert_resolved, L1), (K.resolving, L1)]),
        ("process", 2600, link(), [(K.attach, L1)]),
        ("process", 3400, link("resolved"), [(K.alert_resolved, L1), (K.resolving, L1)]),
    ],
}


@pytest.mark.parametrize("steps", list(THRESHOLD.values()), ids=list(THRESHOLD))
def test_threshold_scenario(steps: list[tuple[Any, ...]]) -> None:
    """Threshold: N firing alerts seen within T open one incident; resolved or unseen alerts do not count."""
    run(Engine(RULES), steps)


@pytest.mark.parametrize("steps", list(SEQUENCE.values()), ids=list(SEQUENCE))
def test_sequence_scenario(steps: list[tuple[Any, ...]]) -> None:
    """Sequence: alerts matching each step, in order, within T of the first step open the incident."""
    run(Engine(RULES), steps)


@pytest.mark.parametrize("steps", list(FLAPPING.values()), ids=list(FLAPPING))
def test_flapping_scenario(steps: list[tuple[Any, ...]]) -> None:
    """Flapping: resolve/fire cycles keep one incident, marked flapping once, resolved after a quiet window."""
    run(Engine(RULES), steps)


def test_threshold_open_lists_the_alerts_it_opens_with() -> None:
    """The open decision of a completed threshold names the other counted alerts as members."""
    engine = Engine(RULES)
    for seconds, fp in [(0, "a"), (10, "b")]:
        engine.process(host(fp), T0 + timedelta(seconds=seconds))
    (decision,) = engine.process(host("c"), T0 + timedelta(seconds=20))
    assert (decision.kind, decision.fingerprint, sorted(decision.members)) == (K.open, "c", [("a", "HostDown"), ("b", "HostDown")])


def test_flapping_marks_the_incident() -> None:
    """Once flapping, the incident's state says so (the store shows flapping: true)."""
    engine = Engine(RULES)
    for seconds, status in enumerate(["firing", "resolved", "firing", "resolved", "firing"]):
        engine.process(link(status), T0 + timedelta(seconds=seconds))
    assert engine.groups[L1].flapping is True
    assert [row[2]["flapping"] for row in engine.changes() if row[:2] == ("group", L1)] == [True]
