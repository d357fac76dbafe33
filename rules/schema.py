"""The rules file: which alerts make an incident, how they group, when it opens and resolves, what responds.

A rule is data, validated once at load time with line-precise errors, so the
engine never meets a malformed rule. docs/rules.md describes every field with
an example; in short::

    rules:
      - id: db-down
        description: The database stopped answering      # shown in timelines
        matchers: ['alertname="DatabaseDown"']           # Alertmanager syntax, all must match
        severity: warning                                # the least severe alert accepted
        group_by: [cluster]                              # incident key
        group_wait: 30s                                  # hold actions for more alerts of the group
        resolve_after: 2m                                # resolve only after a quiet period
        auto_resolve_after: 1h                           # resolve when nothing was heard
        reopen_within: 10m                               # a new firing within this reopens the incident
        pattern: {kind: threshold, count: 3, within: 5m} # or sequence / flapping
        actions:
          - flow: paging
          - flow: failover
            min_severity: critical                       # only once the incident is critical
    inhibit_rules: [...]        # rules/suppression.py
    maintenance_windows: [...]  # rules/suppression.py
    heartbeats: [...]           # rules/heartbeats.py
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alertflow.durations import Duration
from alertflow.models import ActionSpec, Severity
from alertflow.rules.heartbeats import Heartbeat
from alertflow.rules.matchers import MatcherField, match_all
from alertflow.rules.suppression import InhibitRule, MaintenanceWindow
from alertflow.yamlmodel import LocatedValueError, validate_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ThresholdPattern(_Strict):
    """Open the incident only when ``count`` matching alerts fire (and still fire) within ``within``."""

    kind: Literal["threshold"]
    count: int = Field(ge=2)
    within: Duration


class SequencePattern(_Strict):
    """Open the incident only when alerts matching each step fire in order, all within ``within``."""

    kind: Literal["sequence"]
    steps: list[list[MatcherField]] = Field(min_length=2, description="each step: matchers an alert must satisfy")
    within: Duration


class FlappingPattern(_Strict):
    """Alerts that resolve and fire again keep one incident; ``transitions`` changes within ``within`` mark it flapping."""

    kind: Literal["flapping"]
    transitions: int = Field(ge=2)
    within: Duration


Pattern = Annotated[ThresholdPattern | SequencePattern | FlappingPattern, Field(discriminator="kind")]


class Rule(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    description: str = Field(min_length=1, description="the human label shown in timelines")
    matchers: list[MatcherField] = Field(default_factory=list, description="all must match")
    severity: Severity = Field(Severity.info, description="minimum alert severity")
    group_by: list[str] = Field(default_factory=list, description='labels forming the incident key; ["..."] = every label')
    group_wait: Duration = timedelta(0)
    resolve_after: Duration = timedelta(0)
    auto_resolve_after: Duration | None = None
    reopen_within: Duration = timedelta(0)
    pattern: Pattern | None = None
    actions: list[ActionSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_action_per_flow(self) -> Rule:
        seen: set[str] = set()
        for index, action in enumerate(self.actions):
            if action.flow in seen:
                raise LocatedValueError(
                    ("actions", index, "flow"), f"flow {action.flow.value} appears twice; each flow may appear once in a rule's actions"
                )
            seen.add(action.flow)
        return self

    def matches(self, labels: dict[str, str], severity: Severity) -> bool:
        return severity.rank >= self.severity.rank and match_all(self.matchers, labels)

    def incident_key(self, labels: dict[str, str]) -> str:
        """``rule-id|name=value|...``; ``|`` and ``\\`` in values are escaped so two groups never share a key."""
        names = sorted(labels) if self.group_by == ["..."] else self.group_by
        key = self.id
        for name in names:
            value = labels.get(name, "")
            if "\\" in value or "|" in value:
                value = _escape(value)
            key += f"|{name}={value}"
        return key

    # Worked out once per rule, not per alert: the engine needs them for every incident it opens.

    def prepare(self) -> None:
        """Work them out now (the engine starting) rather than on the rule's first alert."""
        _ = self.matched_reason, self.action_floors, self.waits_for_pattern

    @cached_property
    def matched_reason(self) -> str:
        """How a timeline says this rule matched."""
        return f"rule {self.id} ({self.description}) matched: {', '.join(str(m) for m in self.matchers) or 'every alert'}"

    @cached_property
    def action_floors(self) -> tuple[tuple[ActionSpec, str, int], ...]:
        """Each action with its flow name and the least severity rank it runs at."""
        return tuple((a, a.flow.value, a.min_severity.rank if a.min_severity else -1) for a in self.actions)

    @cached_property
    def waits_for_pattern(self) -> bool:
        """Its groups are pending until a threshold or sequence completes."""
        return isinstance(self.pattern, (ThresholdPattern, SequencePattern))

    def quiet_period(self) -> timedelta:
        """How long a fully resolved incident waits before it resolves (a flapping pattern needs its window)."""
        flapping = self.pattern.within if isinstance(self.pattern, FlappingPattern) else timedelta(0)
        return max(self.resolve_after, flapping)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|")


def key_labels(key: str) -> tuple[str, dict[str, str]]:
    """``Rule.incident_key`` read back: the rule id and the group's labels (those with a value), as the
    Alertmanager API shows an alert group's labels."""
    parts, current, escaped = [], [], False
    for char in key:
        if escaped or char not in "\\|":
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            parts.append("".join(current))
            current = []
    rule_id, *pairs = [*parts, "".join(current)]
    labels = dict(pair.partition("=")[::2] for pair in pairs)
    return rule_id, {name: value for name, value in labels.items() if value}


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule] = Field(default_factory=list, description="first matching rule wins")
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)
    maintenance_windows: list[MaintenanceWindow] = Field(default_factory=list)
    heartbeats: list[Heartbeat] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleSet:
        sections = (("rules", "rule id", "id", self.rules), ("heartbeats", "heartbeat id", "id", self.heartbeats),
                    ("maintenance_windows", "maintenance window name", "name", self.maintenance_windows))  # fmt: skip
        for section, what, field, items in sections:
            seen: set[str] = set()
            for index, item in enumerate(items):
                name = getattr(item, field)
                if name in seen:
                    raise LocatedValueError((section, index, field), f"duplicate {what} {name!r}")
                seen.add(name)
        return self

    def get(self, rule_id: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.id == rule_id), None)


def parse_rules(text: str, filename: str = "<rules>") -> RuleSet:
    return validate_yaml(RuleSet, text, filename)
