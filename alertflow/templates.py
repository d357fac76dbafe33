"""``{name}`` placeholders in switch bodies and runbook arguments, from a fixed set of names.

Config values that are sent somewhere (an HTTP body, a command's argument) may
name a few facts of the incident: ``{service}``, ``{target}``, ``{switch}``,
``{incident_id}``. Nothing else is ever substituted: not arbitrary alert
labels, not attributes (``str.format`` would allow ``{0.__class__}``), and an
unknown name is a config error at load time, not a surprise at 3 a.m. JSON's own
braces (``{"active": "{target}"}``) are left alone because only ``{identifier}``
is a placeholder.
"""

from __future__ import annotations

import json
import re

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
SWITCH_VARIABLES = frozenset({"service", "target", "switch", "incident_id"})
RUNBOOK_VARIABLES = frozenset({"service", "incident_id", "runbook"})


def placeholders(template: str) -> set[str]:
    return set(PLACEHOLDER.findall(template))


def check_placeholders(template: str, allowed: frozenset[str]) -> str:
    """Validate a template at load time; returns it unchanged (for pydantic validators)."""
    unknown = placeholders(template) - allowed
    if unknown:
        names = ", ".join("{" + name + "}" for name in sorted(allowed))
        raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}}; allowed: {names}")
    return template


def render(template: str, values: dict[str, str], *, json_string: bool = False) -> str:
    """Substitute known names; with ``json_string`` each value is escaped for use inside a JSON string."""

    def value(found: re.Match[str]) -> str:
        name = found[1]
        if name not in values:
            return found[0]
        return json.dumps(values[name])[1:-1] if json_string else values[name]

    return PLACEHOLDER.sub(value, template)
