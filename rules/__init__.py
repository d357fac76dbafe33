"""The rule engine: pure Python that turns alerts into decisions (no I/O, no Prefect)."""

from rules.engine import Engine, OpenIncident
from rules.matchers import Matcher
from rules.schema import Rule, RuleSet, parse_rules

__all__ = ["Engine", "Matcher", "OpenIncident", "Rule", "RuleSet", "parse_rules"]
