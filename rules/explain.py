"""Why an alert would (or would not) become an incident: ``alertflow rules explain``.

For one alert: every rule in order with the first matcher that fails it (or
its severity threshold), the rule that decides, the incident key it would
join, and the silences and maintenance windows that hold it back now.
Inhibition depends on which alerts fire at the moment, so it is named only
as a possibility (the inhibit rules whose targets the alert matches).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from alertflow.models import Alert, Silence
from alertflow.rules.matchers import match_all
from alertflow.rules.schema import Rule, RuleSet
from alertflow.rules.suppression import ActiveSilence


@dataclass
class Verdict:
    rule_id: str
    matched: bool
    reason: str


@dataclass
class Explanation:
    verdicts: list[Verdict] = field(default_factory=list)
    deciding_rule: str | None = None
    key: str | None = None
    held_back: list[str] = field(default_factory=list)
    may_be_inhibited: list[str] = field(default_factory=list)


def explain(ruleset: RuleSet, alert: Alert, now: datetime, silences: Iterable[Silence] = ()) -> Explanation:
    result = Explanation()
    for rule in ruleset.rules:
        verdict = _verdict(rule, alert)
        result.verdicts.append(verdict)
        if verdict.matched and result.deciding_rule is None:
            result.deciding_rule, result.key = rule.id, rule.incident_key(alert.labels)
    for silence in map(ActiveSilence.of, silences):
        if silence.covers(alert.labels, now):
            result.held_back.append(f"silence {silence.id} by {silence.author} until {silence.ends_at.isoformat()}")
    for window in ruleset.maintenance_windows:
        if window.covers(alert.labels, now):
            result.held_back.append(f"maintenance window {window.name}")
    for index, inhibit in enumerate(ruleset.inhibit_rules):
        if match_all(inhibit.target_matchers, alert.labels):
            sources = ", ".join(str(m) for m in inhibit.source_matchers)
            equal = f" with the same {', '.join(inhibit.equal)}" if inhibit.equal else ""
            result.may_be_inhibited.append(f"inhibit rule #{index + 1}: while an alert matching {sources} fires{equal}")
    return result


def _verdict(rule: Rule, alert: Alert) -> Verdict:
    for matcher in rule.matchers:
        if not matcher.matches(alert.labels):
            actual = alert.labels.get(matcher.name)
            has = f'{matcher.name}="{actual}"' if actual is not None else f"no {matcher.name} label"
            return Verdict(rule.id, False, f"{matcher} does not match ({has})")
    if alert.severity.rank < rule.severity.rank:
        return Verdict(rule.id, False, f"severity {alert.severity.value} is below the rule's {rule.severity.value}")
    return Verdict(rule.id, True, "matches")
