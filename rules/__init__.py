"""The rule engine: pure Python that turns alerts and time into decisions (no I/O, no Prefect)."""

from rules.engine import Engine
from rules.matchers import Matcher
from rules.schema import Rule, RuleSet, parse_rules

__all__ = ["Engine", "Matcher", "Rule", "RuleSet", "parse_rules"]
