"""rules/index.py: RuleIndex finds the same first matching rule as trying every rule in file order."""

from __future__ import annotations

import random

import pytest

from alertflow.models import Severity
from alertflow.rules.index import RuleIndex
from alertflow.rules.schema import Rule


def rule(rule_id: str, *matchers: str, severity: str = "info") -> Rule:
    return Rule(id=rule_id, description=rule_id, matchers=list(matchers), severity=Severity(severity))


def first_match(rules: list[Rule], labels: dict[str, str], severity: Severity) -> str | None:
    """The reference: try every rule in file order."""
    return next((r.id for r in rules if r.matches(labels, severity)), None)


RULES = [
    rule("svc-api", 'service="api"'),  # filed under service (only one rule uses it)
    rule("db-down", 'alertname="DBDown"'),  # filed under alertname
    rule("high-latency", 'alertname="HighLatency"', 'env="prod"'),
    rule("no-team", 'alertname="Orphan"', 'team=""'),
    rule("regex-only", 'alertname=~"Disk.*"'),
    rule("critical-latency", 'alertname="HighLatency"', severity="critical"),
    rule("not-staging", 'env!="staging"', severity="error"),
    rule("catch-all"),
]


@pytest.mark.parametrize(
    ("labels", "severity", "expected"),
    [
        pytest.param({"alertname": "DBDown", "service": "api"}, "warning", "svc-api", id="first-wins-across-buckets"),
        pytest.param({"alertname": "DBDown", "service": "db"}, "warning", "db-down", id="equality-bucket"),
        pytest.param({"alertname": "HighLatency", "env": "prod"}, "info", "high-latency", id="every-equality-must-hold"),
        pytest.param({"alertname": "HighLatency", "env": "dev"}, "critical", "critical-latency", id="second-equality-fails"),
        pytest.param({"alertname": "HighLatency", "env": "dev"}, "error", "not-staging", id="severity-at-rule-minimum"),
        pytest.param({"alertname": "HighLatency", "env": "dev"}, "warning", "catch-all", id="severity-below-rule-minimums"),
        pytest.param({"alertname": "HighLatency", "env": "staging"}, "error", "catch-all", id="falls-through-to-catch-all"),
        pytest.param({"alertname": "Orphan"}, "info", "no-team", id="empty-value-matches-missing-label"),
        pytest.param({"alertname": "Orphan", "team": "x"}, "info", "catch-all", id="empty-value-rejects-present-label"),
        pytest.param({"alertname": "DiskFull"}, "info", "regex-only", id="rule-without-equality-always-tried"),
        pytest.param({}, "info", "catch-all", id="no-labels"),
    ],
)
def test_index_picks_first_matching_rule(labels: dict[str, str], severity: str, expected: str) -> None:
    """The index returns the first rule in file order that accepts the labels and severity."""
    found = RuleIndex(RULES).match(labels, Severity(severity))
    assert found is not None and found.id == expected
    assert first_match(RULES, labels, Severity(severity)) == expected


def test_no_rule_matches_without_a_catch_all() -> None:
    """Without a rule accepting the alert the index returns None."""
    assert RuleIndex(RULES[:-1]).match({"alertname": "Other", "env": "staging"}, Severity.critical) is None
    assert RuleIndex([]).match({"alertname": "Other"}, Severity.critical) is None


NAMES = ["alertname", "service", "env", "team"]
VALUES = ["", "a", "b", "c"]
OPS = ["=", "=", "=", "!=", "=~", "!~"]


def random_rules(rng: random.Random, count: int) -> list[Rule]:
    rules = []
    for i in range(count):
        matchers = []
        for name in rng.sample(NAMES, rng.randint(0, 3)):
            op = rng.choice(OPS)
            value = rng.choice(VALUES) if op in ("=", "!=") else rng.choice(["a|b", ".*", "", "b.*", "c?"])
            matchers.append(f'{name}{op}"{value}"')
        rules.append(rule(f"r{i}", *matchers, severity=rng.choice(list(Severity)).value))
    return rules


def random_labels(rng: random.Random) -> dict[str, str]:
    return {name: rng.choice(VALUES) for name in NAMES if rng.random() < 0.7}


@pytest.mark.parametrize("seed", range(5))
def test_index_agrees_with_brute_force(seed: int) -> None:
    """For random rules and alerts (fixed seeds), the index finds exactly the rule a file-order scan finds."""
    rng = random.Random(seed)
    rules = random_rules(rng, rng.choice([5, 40, 200]))
    index = RuleIndex(rules)
    for _ in range(300):
        labels, severity = random_labels(rng), rng.choice(list(Severity))
        found = index.match(labels, severity)
        assert (found.id if found else None) == first_match(rules, labels, severity), (labels, severity)
