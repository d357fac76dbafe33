"""Find the first matching rule without trying every rule.

With a thousand rules, trying each in turn costs a thousand matcher checks per
new alert. Most rules require some label to equal a value (``alertname="X"``),
so each rule is filed under one such equality; an alert only tries the rules
filed under its own label values, plus the few with no equality to file them
under. Candidates are tried in file order, so "first match wins" still holds.
"""

from __future__ import annotations

from collections import defaultdict

from alertflow.models import Severity
from rules.matchers import Op
from rules.schema import Rule


class RuleIndex:
    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self._by_label: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        self._always: list[int] = []
        counts: dict[str, int] = defaultdict(int)
        for rule in rules:  # prefer the label most rules use (alertname, usually): fewer dicts to look in
            for matcher in rule.matchers:
                if matcher.op is Op.eq:
                    counts[matcher.name] += 1
        for position, rule in enumerate(rules):
            equalities = [m for m in rule.matchers if m.op is Op.eq]
            if not equalities:
                self._always.append(position)
                continue
            best = max(equalities, key=lambda m: counts[m.name])
            self._by_label[best.name][best.value].append(position)
        self._labels = list(self._by_label)

    def match(self, labels: dict[str, str], severity: Severity) -> Rule | None:
        candidates = list(self._always)
        for name in self._labels:
            found = self._by_label[name].get(labels.get(name, ""))
            if found:
                candidates.extend(found)
        if len(candidates) > 1:
            candidates.sort()
        for position in candidates:
            rule = self.rules[position]
            if rule.matches(labels, severity):
                return rule
        return None
