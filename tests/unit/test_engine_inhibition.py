"""rules/engine.py + rules/inhibition.py: Alertmanager-compatible inhibition, as timed scenarios.

Steps are ("process", seconds, alert, expected), ("tick", seconds, expected)
or ("forget", seconds, key, expected); expected decisions are ``(kind, key)``
or ``(kind, key, detail)`` with detail = action flows, or a suppressed alert's
related (inhibiting) incident key.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from alertflow.models import Alert, AlertStatus, Severity, Silence
from alertflow.rules import Engine, parse_rules
from alertflow.rules.decision import Decision, DecisionKind
from tests.unit.engine_steps import run_steps, show

K = DecisionKind
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

RULES = parse_rules(
    """\
rules:
  - id: dc
    description: A datacenter is down
    matchers: ['alertname="DatacenterDown"']
    group_by: [datacenter]
    actions: [{flow: paging}]
  - id: stale-dc
    description: A datacenter alert nobody resends
    matchers: ['alertname="DatacenterGone"']
    group_by: [datacenter]
    auto_resolve_after: 1h
    actions: [{flow: paging}]
  - id: svc
    description: A service is slow
    matchers: ['alertname="ServiceSlow"']
    group_by: [service]
    actions: [{flow: paging}]
inhibit_rules:
  - source_matchers: ['alertname=~"DatacenterDown|DatacenterGone"']
    target_matchers: ['severity=~"warning|error"']
    equal: [datacenter]
""",
    "rules.yaml",
)
DC1, DC2, GONE = "dc|datacenter=dc1", "dc|datacenter=dc2", "stale-dc|datacenter=dc1"
SVC, SVC2 = "svc|service=api", "svc|service=web"


def alert(fp: str, name: str, severity: str = "warning", status: str = "firing", **labels: str) -> Alert:
    """An Alertmanager-shaped alert in datacenter dc1, service api; received_at is set when a step processes it."""
    labels = {"alertname": name, "datacenter": "dc1", "service": "api", "severity": severity, **labels}
    return Alert(source="test", fingerprint=fp, name=name, service=labels["service"], severity=Severity(severity),
                 status=AlertStatus(status), labels=labels, starts_at=T0, received_at=T0)  # fmt: skip


def dc(fp: str = "d1", status: str = "firing", **labels: str) -> Alert:
    return alert(fp, "DatacenterDown", "critical", status, **labels)


def slow(fp: str = "s1", status: str = "firing", **labels: str) -> Alert:
    return alert(fp, "ServiceSlow", "warning", status, **labels)


def run(engine: Engine, steps: list[tuple[Any, ...]]) -> list[list[Decision]]:
    return run_steps(engine, steps, T0)


SCENARIOS = {
    "equal-labels-inhibit-with-related-key": [
        ("process", 0, dc(), [(K.open, DC1, "paging")]),
        ("process", 10, slow(), [(K.suppressed, None, DC1)]),
        ("process", 20, slow(), []),
        ("tick", 30, []),
    ],
    "different-equal-label-value-does-not-inhibit": [
        ("process", 0, dc(datacenter="dc2"), [(K.open, DC2, "paging")]),
        ("process", 10, slow(), [(K.open, SVC, "paging")]),
    ],
    "non-target-severity-is-not-inhibited": [
        ("process", 0, dc(), [(K.open, DC1, "paging")]),
        ("process", 10, alert("s1", "ServiceSlow", "critical"), [(K.open, SVC, "paging")]),
    ],
    "target-before-source-keeps-its-incident": [
        ("process", 0, slow(), [(K.open, SVC, "paging")]),
        ("process", 10, dc(), [(K.open, DC1, "paging")]),
        ("process", 20, slow(), []),
    ],
    "source-resolves-still-firing-target-opens": [
        ("process", 0, dc(), [(K.open, DC1, "paging")]),
        ("process", 10, slow(), [(K.suppressed, None, DC1)]),
        ("process", 20, slow("s2", service="web"), [(K.suppressed, None, DC1)]),
        (
            "process",
            30,
            dc(status="resolved"),
            [(K.open, SVC, "paging"), (K.open, SVC2, "paging"), (K.alert_resolved, DC1), (K.resolve, DC1)],
        ),
        ("process", 40, slow(), []),
    ],
    "target-resolved-while-inhibited-is-not-reevaluated": [
        ("process", 0, dc(), [(K.open, DC1, "paging")]),
        ("process", 10, slow(), [(K.suppressed, None, DC1)]),
        ("process", 20, slow(status="resolved"), []),
        ("process", 30, dc(status="resolved"), [(K.alert_resolved, DC1), (K.resolve, DC1)]),
        ("tick", 40, []),
    ],
    "resolved-source-no-longer-inhibits-new-targets": [
        ("process", 0, dc(), [(K.open, DC1, "paging")]),
        ("process", 10, dc(status="resolved"), [(K.alert_resolved, DC1), (K.resolve, DC1)]),
        ("process", 20, slow(), [(K.open, SVC, "paging")]),
    ],
    "refiring-source-inhibits-again": [
        ("process", 0, dc(), [(K.open, DC1, "paging")]),
        ("process", 5, dc("d2"), [(K.attach, DC1)]),
        ("process", 10, dc(status="resolved"), [(K.alert_resolved, DC1)]),
        ("process", 15, dc("d2", status="resolved"), [(K.alert_resolved, DC1), (K.resolve, DC1)]),
        ("process", 20, dc(), [(K.open, DC1, "paging")]),
        ("process", 30, slow(), [(K.suppressed, None, DC1)]),
    ],
}


@pytest.mark.parametrize("steps", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_inhibition_scenario(steps: list[tuple[Any, ...]]) -> None:
    """Each timed step of an inhibition scenario produces exactly the listed decisions."""
    run(Engine(RULES), steps)


def test_target_stays_inhibited_while_any_source_fires() -> None:
    """With two firing sources, the target opens only once the last one resolves (whichever one it was filed under)."""
    engine = Engine(RULES)
    run(engine, [("process", 0, dc(), [(K.open, DC1, "paging")]), ("process", 5, dc("d2"), [(K.attach, DC1)])])
    run(engine, [("process", 10, slow(), [(K.suppressed, None, DC1)])])
    first = engine.process(dc(status="resolved"), T0 + timedelta(seconds=20))
    assert [show(d) for d in first if d.kind is not K.suppressed] == [(K.alert_resolved, DC1)]
    last = engine.process(dc("d2", status="resolved"), T0 + timedelta(seconds=30))
    assert [show(d) for d in last] == [(K.open, SVC, "paging"), (K.alert_resolved, DC1), (K.resolve, DC1)]


def test_a_source_never_inhibits_itself() -> None:
    """An alert matching both sides of an inhibit rule, filed as a source while silenced, is not inhibited by itself."""
    both = alert("d1", "DatacenterDown", "warning")  # a source that also matches the target side
    engine = Engine(RULES)
    engine.set_silences(
        [Silence(id=1, matchers=['alertname="DatacenterDown"'], starts_at=T0, ends_at=T0 + timedelta(seconds=60), author="a")]
    )
    steps = [
        ("process", 0, both, [(K.suppressed, None)]),
        ("tick", 60, [(K.open, DC1, "paging")]),
        ("process", 70, both.model_copy(update={"status": AlertStatus.resolved}), [(K.alert_resolved, DC1), (K.resolve, DC1)]),
        ("process", 80, both, [(K.open, DC1, "paging")]),
    ]
    run(engine, steps)


def test_two_sided_alerts_do_not_inhibit_each_other() -> None:
    """Alertmanager rule: a target that also matches the source side is not inhibited by sources that match both sides."""
    engine = Engine(RULES)
    steps = [
        ("process", 0, alert("d1", "DatacenterDown", "warning"), [(K.open, DC1, "paging")]),
        ("process", 10, alert("d2", "DatacenterDown", "warning", probe="b"), [(K.attach, DC1)]),
    ]
    run(engine, steps)


def test_suppressed_decision_names_the_alert_and_the_inhibitor() -> None:
    """A suppressed decision carries the alert, no incident key, and a reason naming the inhibiting alert."""
    engine = Engine(RULES)
    engine.process(dc(), T0)
    (decision,) = engine.process(slow(), T0)
    assert (decision.kind, decision.key, decision.related_key, decision.fingerprint) == (K.suppressed, None, DC1, "s1")
    assert decision.alert is not None and decision.alert.fingerprint == "s1"
    assert "d1" in decision.reason


def test_target_of_a_source_that_stopped_counting_is_evaluated_again() -> None:
    """When the source's incident auto-resolves (nothing heard), a still-firing inhibited target opens its own incident."""
    engine = Engine(RULES)
    steps = [
        ("process", 0, alert("g1", "DatacenterGone", "critical"), [(K.open, GONE, "paging")]),
        ("process", 10, slow(), [(K.suppressed, None, GONE)]),
        ("process", 1800, slow(), []),
    ]
    run(engine, steps)
    later = [engine.tick(T0 + timedelta(seconds=3600)), engine.process(slow(), T0 + timedelta(seconds=3700))]
    assert [(K.resolve, GONE)] == [show(d) for d in later[0] if d.kind is K.resolve]
    assert (K.open, SVC, "paging") in [show(d) for decisions in later for d in decisions]


def test_targets_are_treated_alike_after_a_person_resolves_the_source_incident() -> None:
    """After forget() on the source's incident, an already-inhibited target and a new target get the same outcome."""
    engine = Engine(RULES)
    run(engine, [("process", 0, dc(), [(K.open, DC1, "paging")]), ("process", 10, slow(), [(K.suppressed, None, DC1)])])
    released = engine.forget(DC1, T0 + timedelta(seconds=20))  # forget returns the decisions it causes
    old = released + engine.tick(T0 + timedelta(seconds=21)) + engine.process(slow(), T0 + timedelta(seconds=30))
    new = engine.process(slow("s2", service="web"), T0 + timedelta(seconds=30))
    assert sorted({d.kind for d in old}) == sorted({d.kind for d in new})


INFO_INHIBITOR = parse_rules(
    """\
rules:
  - {id: svc, description: any service alert, matchers: ['alertname="ServiceSlow"'], group_by: [service], actions: [{flow: paging}]}
inhibit_rules:
  - {source_matchers: ['alertname="InfoInhibitor"'], target_matchers: ['severity="info"'], equal: [datacenter]}
""",
    "rules.yaml",
)


def test_a_source_no_rule_accepts_still_inhibits() -> None:
    """A firing source alert inhibits even when no rule makes it an incident (kube-prometheus' InfoInhibitor)."""
    steps = [
        ("process", 0, alert("ii", "InfoInhibitor", "info"), [(K.unmatched, None)]),
        ("process", 10, alert("s1", "ServiceSlow", "info"), [(K.suppressed, None)]),
        ("process", 20, alert("ii", "InfoInhibitor", "info", "resolved"), [(K.open, SVC, "paging"), (K.unmatched, None)]),
    ]
    run(Engine(INFO_INHIBITOR), steps)
