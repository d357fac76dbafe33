"""Find the first matching rule without trying every rule.

With a thousand rules, trying each in turn costs a thousand matcher checks per
new alert. Most rules require some label to equal a value (``alertname="X"``),
so each rule is filed under one such equality; an alert only tries the rules
filed under its own label values, plus the few with no equality to file them
under. Candidates are tried in file order, so "first match wins" still holds.

A candidate found under ``name="value"`` already satisfies that equality, so
only its other matchers (and its minimum severity) are checked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from alertflow.models import Severity
from alertflow.rules.matchers import Matcher, Op
from alertflow.rules.schema import Rule

Check = Callable[[dict[str, str]], bool]
Entry = tuple[int, Rule, int, Check | None]  # (file position, rule, minimum severity rank, other matchers)


class RuleIndex:
    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        by_label: dict[str, dict[str, list[Entry]]] = defaultdict(lambda: defaultdict(list))
        self._always: list[Entry] = []
        counts: dict[str, int] = defaultdict(int)
        for rule in rules:  # prefer the label most rules use (alertname, usually): fewer dicts to look in
            for matcher in rule.matchers:
                if matcher.op is Op.eq:
                    counts[matcher.name] += 1
        for position, rule in enumerate(rules):
            equalities = [m for m in rule.matchers if m.op is Op.eq]
            if not equalities:
                self._always.append((position, rule, rule.severity.rank, _compile(rule.matchers)))
                continue
            best = max(equalities, key=lambda m: counts[m.name])
            others = list(rule.matchers)
            del others[next(i for i, m in enumerate(others) if m is best)]  # satisfied by the lookup itself
            by_label[best.name][best.value].append((position, rule, rule.severity.rank, _compile(others)))
        self._by_label = [(name, dict(files)) for name, files in by_label.items()]

    def match(self, labels: dict[str, str], severity: Severity) -> Rule | None:
        candidates = self._always
        merged = False
        for name, files in self._by_label:
            found = files.get(labels.get(name, ""))
            if found:
                if not candidates:
                    candidates = found  # one list: already in file order, no copy
                elif merged:
                    candidates.extend(found)
                else:
                    candidates, merged = [*candidates, *found], True
        if merged:
            candidates.sort(key=_position)
        rank = severity.rank
        for _, rule, least, check in candidates:
            if rank >= least and (check is None or check(labels)):
                return rule
        return None


def _position(entry: Entry) -> int:
    return entry[0]


def _compile(matchers: list[Matcher]) -> Check | None:
    """One function checking every matcher; None when there is none."""
    if not matchers:
        return None
    if len(matchers) == 1:
        return matchers[0].matches
    return lambda labels: all(m.matches(labels) for m in matchers)
