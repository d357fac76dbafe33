"""The rule engine: pure Python that turns alerts and time into decisions (no I/O, no Prefect)."""

from alertflow.rules.engine import Engine
from alertflow.rules.matchers import Matcher
from alertflow.rules.schema import Rule, RuleSet, parse_rules

__all__ = ["Engine", "Matcher", "Rule", "RuleSet", "parse_rules"]
