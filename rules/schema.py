"""The rules file: which alerts make an incident, how they group, what responds.

A rule is data, validated once at load time with line-precise errors, so the
engine itself never meets a malformed rule. Format (see examples/rules.yaml)::

    rules:
      - id: service-down
        description: A production service stopped answering
        matchers: ['alertname=~"ServiceDown|InstanceDown"', 'env!="staging"']
        severity: warning          # minimum alert severity this rule accepts
        group_by: [service]        # labels forming the incident key
        actions:
          - flow: paging
            params: {channel: "#oncall"}
            retry: {retries: 3, retry_delay_seconds: [1, 5, 10]}
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, WithJsonSchema, model_validator

from alertflow.models import ActionSpec, Severity
from alertflow.yamlmodel import LocatedValueError, validate_yaml
from rules.matchers import Matcher


def _to_matcher(value: Any) -> Matcher:
    if isinstance(value, Matcher):
        return value
    if not isinstance(value, str):
        raise ValueError('a matcher is a string such as service="api"')
    return Matcher.parse(value)


MatcherField = Annotated[
    Matcher,
    PlainValidator(_to_matcher),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "examples": ['service="api"']}),
]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    description: str = Field(min_length=1, description="the human label shown in timelines")
    matchers: list[MatcherField] = Field(default_factory=list, description="all must match")
    severity: Severity = Field(Severity.info, description="minimum alert severity")
    group_by: list[str] = Field(default_factory=list, description='labels forming the incident key; ["..."] = every label')
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
        return severity.rank >= self.severity.rank and all(m.matches(labels) for m in self.matchers)

    def incident_key(self, labels: dict[str, str]) -> str:
        """``rule-id|name=value|...``; ``|`` and ``\\`` in values are escaped so two groups never share a key."""
        names = sorted(labels) if self.group_by == ["..."] else self.group_by
        return self.id + "".join(f"|{name}={_escape(labels.get(name, ''))}" for name in names)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|")


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule] = Field(default_factory=list, description="first matching rule wins")

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleSet:
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            if rule.id in seen:
                raise LocatedValueError(("rules", index, "id"), f"duplicate rule id {rule.id!r}")
            seen.add(rule.id)
        return self

    def get(self, rule_id: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.id == rule_id), None)


def parse_rules(text: str, filename: str = "<rules>") -> RuleSet:
    return validate_yaml(RuleSet, text, filename)
