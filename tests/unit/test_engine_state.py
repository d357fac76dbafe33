"""rules/state.py + Engine.changes/restore: a restart resumes windows, timers and held-back alerts exactly.

A dict stands in for the store: ``changes()`` rows are written to it (state
None deletes), JSON round-tripped as the database would; a ("restart", s, [])
step builds a new Engine from the same RuleSet and restores it from those rows.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from alertflow.models import Alert, AlertStatus, Severity, Silence
from alertflow.rules import Engine, parse_rules
from alertflow.rules.decision import Decision, DecisionKind

K = DecisionKind
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
Store = dict[tuple[str, str], dict[str, Any]]

RULES = parse_rules(
    """\
rules:
  - {id: hosts, description: hosts down, matchers: ['alertname="HostDown"'], group_by: [cluster],
     pattern: {kind: threshold, count: 3, within: 5m}, actions: [{flow: paging}]}
  - {id: seq, description: disk then db, matchers: ['alertname=~"DiskFull|DatabaseDown"'], group_by: [host],
     pattern: {kind: sequence, within: 10m, steps: [['alertname="DiskFull"'], ['alertname="DatabaseDown"']]}, actions: [{flow: paging}]}
  - {id: flappy, description: link flaps, matchers: ['alertname="LinkDown"'], group_by: [link],
     pattern: {kind: flapping, transitions: 4, within: 15m}}
  - {id: dc, description: datacenter down, matchers: ['alertname="DatacenterDown"'], group_by: [datacenter], actions: [{flow: paging}]}
  - {id: wait, description: waits, matchers: ['alertname="Wait"'], group_wait: 30s, actions: [{flow: paging}]}
  - {id: quiet, description: quiet period, matchers: ['alertname="Quiet"'], resolve_after: 5m, reopen_within: 10m, actions: [{flow: paging}]}
  - {id: api, description: api errors, matchers: ['alertname="HighErrorRate"'],
     actions: [{flow: paging}, {flow: failover, params: {switch: api}, min_severity: critical}]}
  - {id: svc, description: slow service, matchers: ['alertname=~"ServiceSlow|MonitoringDown"'], group_by: [service], actions: [{flow: paging}]}
inhibit_rules:
  - {source_matchers: ['alertname="DatacenterDown"'], target_matchers: ['severity="warning"'], equal: [datacenter]}
heartbeats:
  - {id: watchdog, description: watchdog, matchers: ['alertname="Watchdog"'], group_by: [cluster], missing_after: 5m,
     alert: {name: MonitoringDown, labels: {service: monitoring}}}
""",
    "rules.yaml",
)
HOSTS, SEQ, LINK, DC, WAIT, QUIET, API = "hosts|cluster=c1", "seq|host=h1", "flappy|link=l1", "dc|datacenter=dc1", "wait", "quiet", "api"
SVC, MON = "svc|service=api", "svc|service=monitoring"
SILENCE = Silence(id=1, matchers=['alertname="ServiceSlow"'], starts_at=T0, ends_at=T0 + timedelta(hours=1), author="alice")


def fire(fp: str, name: str, severity: str = "warning") -> Alert:
    """A firing alert in cluster c1, host h1, link l1, datacenter dc1, service api; received_at is set when processed."""
    labels = {"alertname": name, "cluster": "c1", "host": "h1", "link": "l1", "datacenter": "dc1", "service": "api", "severity": severity}
    return Alert(source="test", fingerprint=fp, name=name, service="api", severity=Severity(severity), status=AlertStatus.firing,
                 labels=labels, starts_at=T0, received_at=T0)  # fmt: skip


def done(fp: str, name: str) -> Alert:
    return fire(fp, name).model_copy(update={"status": AlertStatus.resolved})


def show(d: Decision) -> tuple[Any, ...]:
    flows = " ".join(a.flow.value for a in d.actions)
    return (d.kind, d.key, flows) if flows else (d.kind, d.key)


def save(engine: Engine, store: Store) -> None:
    """Write ``changes()`` as the pipeline does: one JSON row per piece, None deletes it."""
    for kind, key, state in engine.changes():
        if state is None:
            store.pop((kind, key), None)
        else:
            store[(kind, key)] = json.loads(json.dumps(state))


def restarted(engine: Engine, store: Store) -> Engine:
    save(engine, store)
    fresh = Engine(engine.ruleset)
    fresh.restore([(kind, key, state) for (kind, key), state in store.items()])
    fresh.set_silences([SILENCE])  # silences live in the store too
    return fresh


def run(steps: list[tuple[Any, ...]], store: Store | None = None) -> list[tuple[Any, ...]]:
    """Run the steps on a fresh engine writing to ``store`` (restarting where asked); return (op, seconds, decisions) per step."""
    engine, store, actual = Engine(RULES), {} if store is None else store, []
    engine.set_silences([SILENCE])
    for op, seconds, *args in steps:
        now = T0 + timedelta(seconds=seconds)
        if op == "restart":
            engine, decisions = restarted(engine, store), []
        elif op == "process":
            decisions = engine.process(args[0].model_copy(update={"received_at": now}), now)
        else:
            decisions = engine.tick(now)
        save(engine, store)
        actual.append((op, seconds, [show(d) for d in decisions]))
    return actual


SCENARIOS = {
    "threshold-window-fires-exactly-once": [
        ("process", 0, fire("a", "HostDown"), [(K.pending, HOSTS)]),
        ("process", 60, fire("b", "HostDown"), [(K.pending, HOSTS)]),
        ("restart", 90, []),
        ("process", 120, fire("c", "HostDown"), [(K.open, HOSTS, "paging")]),
        ("restart", 125, []),
        ("process", 130, fire("d", "HostDown"), [(K.attach, HOSTS)]),
    ],
    "threshold-pruned-after-restart": [
        ("process", 0, fire("a", "HostDown"), [(K.pending, HOSTS)]),
        ("process", 200, fire("b", "HostDown"), [(K.pending, HOSTS)]),
        ("restart", 250, []),
        ("tick", 301, []),
        ("process", 320, fire("c", "HostDown"), [(K.pending, HOSTS)]),
    ],
    "sequence-step-survives": [
        ("process", 0, fire("disk", "DiskFull"), [(K.pending, SEQ)]),
        ("restart", 30, []),
        ("process", 60, fire("db", "DatabaseDown"), [(K.open, SEQ, "paging")]),
    ],
    "pending-group-wait-acts-once": [
        ("process", 0, fire("w", "Wait"), [(K.open, WAIT)]),
        ("restart", 10, []),
        ("tick", 29, []),
        ("tick", 30, [(K.act, WAIT, "paging")]),
        ("restart", 40, []),
        ("tick", 60, []),
    ],
    "resolving-quiet-period-resolves-on-time": [
        ("process", 0, fire("q", "Quiet"), [(K.open, QUIET, "paging")]),
        ("process", 60, done("q", "Quiet"), [(K.alert_resolved, QUIET), (K.resolving, QUIET)]),
        ("restart", 70, []),
        ("tick", 359, []),
        ("tick", 360, [(K.resolve, QUIET)]),
        ("restart", 370, []),
        ("process", 380, fire("q", "Quiet"), [(K.reopen, QUIET, "paging")]),
    ],
    "refire-in-quiet-period-after-restart-keeps-it-open": [
        ("process", 0, fire("q", "Quiet"), [(K.open, QUIET, "paging")]),
        ("process", 60, done("q", "Quiet"), [(K.alert_resolved, QUIET), (K.resolving, QUIET)]),
        ("restart", 70, []),
        ("process", 100, fire("q", "Quiet"), [(K.attach, QUIET)]),
        ("tick", 400, []),
    ],
    "actions-run-once-per-incident": [
        ("process", 0, fire("a1", "HighErrorRate"), [(K.open, API, "paging")]),
        ("process", 10, fire("a2", "HighErrorRate", "critical"), [(K.attach, API), (K.severity, API), (K.act, API, "failover")]),
        ("restart", 15, []),
        ("process", 20, done("a2", "HighErrorRate"), [(K.alert_resolved, API), (K.severity, API)]),
        ("process", 30, fire("a2", "HighErrorRate", "critical"), [(K.attach, API), (K.severity, API)]),
    ],
    "flapping-transitions-survive": [
        ("process", 0, fire("l", "LinkDown"), [(K.open, LINK)]),
        ("process", 60, done("l", "LinkDown"), [(K.alert_resolved, LINK), (K.resolving, LINK)]),
        ("restart", 70, []),
        ("process", 120, fire("l", "LinkDown"), [(K.attach, LINK)]),
        ("process", 180, done("l", "LinkDown"), [(K.alert_resolved, LINK), (K.resolving, LINK)]),
        ("restart", 190, []),
        ("process", 240, fire("l", "LinkDown"), [(K.flapping, LINK), (K.attach, LINK)]),
    ],
    "silenced-alert-released-after-restart": [
        ("process", 10, fire("s", "ServiceSlow"), [(K.suppressed, None)]),
        ("restart", 20, []),
        ("process", 30, fire("s", "ServiceSlow"), []),
        ("tick", 3600, [(K.open, SVC, "paging")]),
    ],
    "inhibited-alert-released-after-restart": [
        ("tick", 3600, []),  # the silence is over
        ("process", 3600, fire("d", "DatacenterDown", "critical"), [(K.open, DC, "paging")]),
        ("process", 3610, fire("s", "ServiceSlow"), [(K.suppressed, None)]),
        ("restart", 3620, []),
        ("process", 3630, done("d", "DatacenterDown"), [(K.open, SVC, "paging"), (K.alert_resolved, DC), (K.resolve, DC)]),
    ],
    "inhibiting-source-still-inhibits-after-restart": [
        ("tick", 3600, []),
        ("process", 3600, fire("d", "DatacenterDown", "critical"), [(K.open, DC, "paging")]),
        ("restart", 3620, []),
        ("process", 3630, fire("s", "ServiceSlow"), [(K.suppressed, None)]),
    ],
    "heartbeat-goes-missing-and-clears-across-restarts": [
        ("process", 0, fire("wd", "Watchdog"), [(K.unmatched, None)]),
        ("restart", 100, []),
        ("tick", 300, [(K.synthetic, None), (K.open, MON, "paging")]),
        ("process", 400, fire("wd", "Watchdog"), [(K.synthetic, None), (K.alert_resolved, MON), (K.resolve, MON), (K.unmatched, None)]),
    ],
}


@pytest.mark.parametrize("steps", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_restart_resumes_where_the_last_commit_left_off(steps: list[tuple[Any, ...]]) -> None:
    """A restart between steps (new Engine restored from the rows) yields exactly the listed decisions."""
    assert run(steps) == [(op, seconds, expected) for op, seconds, *_, expected in steps]


@pytest.mark.parametrize("steps", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_restart_after_every_step_changes_no_decision(steps: list[tuple[Any, ...]]) -> None:
    """Restarting after every single step decides exactly what one uninterrupted engine decides."""
    plain = [step for step in steps if step[0] != "restart"]
    interrupted = [s for step in plain for s in (step, ("restart", step[1], []))]
    assert [row for row in run(interrupted) if row[0] != "restart"] == run(plain)


DELETIONS = {
    "resolved-incident": (
        [
            ("process", 0, fire("a1", "HighErrorRate")),
            ("process", 0, fire("a2", "HighErrorRate")),
            ("process", 1, done("a2", "HighErrorRate")),
        ],
        ("process", 2, done("a1", "HighErrorRate")),
        {("group", API), ("member", API + "\x1fa1"), ("member", API + "\x1fa2")},
    ),
    "suppressed-alert-resolved": (
        [("process", 0, fire("s", "ServiceSlow"))],
        ("process", 1, done("s", "ServiceSlow")),
        {("suppressed", "s")},
    ),
    "suppressed-alert-released": ([("process", 0, fire("s", "ServiceSlow"))], ("tick", 3600), {("suppressed", "s")}),
    "resolved-pending-alert": (
        [("process", 0, fire("a", "HostDown"))],
        ("process", 1, done("a", "HostDown")),
        {("group", HOSTS), ("member", HOSTS + "\x1fa")},
    ),
    "pending-window-emptied": (
        [("process", 0, fire("a", "HostDown")), ("tick", 60)],
        ("tick", 301),
        {("group", HOSTS), ("member", HOSTS + "\x1fa")},
    ),
    "reopen-window-over": (
        [("process", 0, fire("q", "Quiet")), ("process", 60, done("q", "Quiet")), ("tick", 360)],
        ("tick", 961),
        {("group", QUIET)},
    ),
}


@pytest.mark.parametrize(("before", "last", "deleted"), list(DELETIONS.values()), ids=list(DELETIONS))
def test_changes_returns_deletions(before: list[tuple[Any, ...]], last: tuple[Any, ...], deleted: set[tuple[str, str]]) -> None:
    """changes() deletes (state None) exactly the group, member and suppressed rows a step made obsolete."""
    kept: Store = {}
    run(before, kept)
    after: Store = {}
    run([*before, last], after)
    assert set(kept) - set(after) == deleted


def test_changes_are_reported_once_and_bind_is_kept() -> None:
    """changes() empties after a call; the incident id from bind() survives a restore."""
    engine, store = Engine(RULES), {}
    engine.process(fire("a1", "HighErrorRate"), T0)
    engine.bind(API, 42)
    save(engine, store)
    assert engine.changes() == []
    assert restarted(engine, store).groups[API].ref == 42
