"""Rule engine throughput: alerts/s through ``rules.Engine`` in one process, and its memory.

Why: every alert goes through the engine on one core, in order. The goal is
at least 100,000 alerts/s at 1,000 rules with 10,000 active incident groups,
with matching that does not cost linearly in the number of rules (rules are
indexed by the labels they require), and a storm of 100,000 alerts of one
fault that makes one incident with flat memory.

For 10, 100 and 1,000 rules it first opens 10,000 groups, then measures, on a
fake clock (no I/O, no sleeping):
  resend    alerts already firing, sent again (most of Alertmanager's traffic)
  join      new alerts joining open incidents (new fingerprints)
  unmatched alerts no rule accepts (every candidate rule is tried)
  scan      the same "join" alerts matched by trying every rule in order
            (the baseline the index replaces; matching only)
Then the storm: 100 instances of one fault, each resent 1,000 times within a
minute, and the memory traced before and after.

    .venv/bin/python bench/engine.py                 # all sizes
    .venv/bin/python bench/engine.py --rules 1000    # one size
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from datetime import datetime, timedelta, timezone

from alertflow.models import Alert, AlertStatus, Severity
from alertflow.pipeline.stages import tune_garbage_collector
from alertflow.rules import Engine, RuleSet
from alertflow.rules.schema import Rule

T0 = datetime(2030, 1, 7, 12, 0, tzinfo=timezone.utc)
GROUPS = 10_000
SCAN_SAMPLE = 5_000


def ruleset(count: int) -> RuleSet:
    rules = [
        Rule.model_validate(
            {
                "id": f"r{i}",
                "description": f"rule {i}",
                "matchers": [f'alertname="Alert{i}"', 'env=~"prod|staging"'],
                "group_by": ["cluster"],
                "actions": [{"flow": "paging"}],
            }
        )
        for i in range(count)
    ]
    return RuleSet(rules=rules)


def alert(rule: int, cluster: int, instance: int, at: datetime, status: AlertStatus = AlertStatus.firing) -> Alert:
    labels = {"alertname": f"Alert{rule}", "env": "prod", "cluster": f"c{cluster}", "instance": f"i{instance}"}
    return Alert.model_construct(
        source="bench", fingerprint=f"{rule}:{cluster}:{instance}", name=labels["alertname"], service="svc", severity=Severity.warning,
        status=status, labels=labels, annotations={}, starts_at=at, ends_at=None, received_at=at, generator_url=None, raw={},
    )  # fmt: skip


def rate(engine: Engine, alerts: list[Alert], now: datetime) -> float:
    tune_garbage_collector()  # as the API process does after start-up
    start = time.perf_counter()
    for a in alerts:
        engine.process(a, now)
    return len(alerts) / (time.perf_counter() - start)


def measure(rule_count: int, size: int) -> dict[str, float]:
    engine = Engine(ruleset(rule_count))
    opening = [alert(g % rule_count, g, 0, T0) for g in range(GROUPS)]
    figures = {"open": rate(engine, opening, T0)}
    figures["resend"] = rate(engine, [opening[i % GROUPS] for i in range(size)], T0)
    joining = [alert(g % rule_count, g, 1 + i // GROUPS, T0) for i, g in enumerate(j % GROUPS for j in range(size))]
    figures["join"] = rate(engine, joining, T0)
    unmatched = [
        Alert.model_construct(**{**joining[i].__dict__, "labels": {**joining[i].labels, "env": "dev"}, "fingerprint": f"u{i}"})
        for i in range(size)
    ]
    figures["unmatched"] = rate(engine, unmatched, T0)
    sample = joining[:SCAN_SAMPLE]  # trying every rule is slow: a sample is enough for its rate
    start = time.perf_counter()
    for a in sample:
        next((r for r in engine.ruleset.rules if r.matches(a.labels, a.severity)), None)
    figures["scan"] = len(sample) / (time.perf_counter() - start)
    figures["groups"] = len(engine.groups)
    engine.changes()
    return figures


def traced_peak(rule_count: int) -> float:
    """Peak traced memory (MiB) of an engine with ``rule_count`` rules holding 10,000 open groups.

    Measured apart from the rates: tracemalloc slows every allocation several times.
    """
    tracemalloc.start()
    engine = Engine(ruleset(rule_count))
    for g in range(GROUPS):
        engine.process(alert(g % rule_count, g, 0, T0), T0)
    engine.changes()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return peak


def storm(traced: bool) -> tuple[int, int, float, float, float]:
    """100 instances x 1,000 resends in a minute: incidents opened, pages, alerts/s, memory before/after (KiB).

    With ``traced`` memory is followed by tracemalloc, which slows every allocation,
    so the rate is only meaningful from an untraced run.
    """
    engine = Engine(ruleset(1000))
    rounds = [(T0 + timedelta(seconds=60 * r / 1000), r) for r in range(1000)]
    alerts = [[alert(7, 1, instance, now) for instance in range(100)] for now, _ in rounds]
    if traced:
        tracemalloc.start()
    opened = pages = 0
    sent = 0
    start = time.perf_counter()
    before = 0.0
    for now, round_ in rounds:
        for storm_alert in alerts[round_]:
            for decision in engine.process(storm_alert, now):
                opened += decision.kind.value == "open"
                pages += len(decision.actions)
            sent += 1
        engine.changes()
        if round_ == 0 and traced:
            before = tracemalloc.get_traced_memory()[0] / 2**10
    elapsed = time.perf_counter() - start
    after = tracemalloc.get_traced_memory()[0] / 2**10 if traced else 0.0
    tracemalloc.stop()
    return opened, pages, sent / elapsed, before, after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rules", type=int, action="append", help="rule counts (default 10, 100, 1000)")
    parser.add_argument("--alerts", type=int, default=200_000, help="alerts per measured phase")
    args = parser.parse_args()
    print(f"{'rules':>6} {'groups':>7} {'open/s':>10} {'resend/s':>10} {'join/s':>10} {'unmatched/s':>12} {'scan/s':>10}  join/scan")
    for count in args.rules or [10, 100, 1000]:
        f = measure(count, args.alerts)
        peak = traced_peak(count)
        print(f"{count:>6} {int(f['groups']):>7} {f['open']:>10,.0f} {f['resend']:>10,.0f} {f['join']:>10,.0f} {f['unmatched']:>12,.0f} "
              f"{f['scan']:>10,.0f}  {f['join'] / f['scan']:.1f}x   (peak traced memory {peak:,.0f} MiB)")  # fmt: skip
    opened, pages, per_second, _, _ = storm(traced=False)
    _, _, _, before, after = storm(traced=True)
    print(f"storm: 100,000 alerts of one fault in one (simulated) minute -> {opened} incident, {pages} page; "
          f"{per_second:,.0f} alerts/s; traced memory {before:,.0f} KiB after the first round, {after:,.0f} KiB after the last")  # fmt: skip


if __name__ == "__main__":
    main()
