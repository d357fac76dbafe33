"""Alertmanager-style label matchers, so rules read like the routes people already write.

``alertname="HighLatency"``, ``env!="staging"``, ``service=~"api|web"``,
``instance!~"canary-.*"``: same operators and semantics as Alertmanager
(regexes are fully anchored; a missing label equals the empty string).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

_MATCHER = re.compile(
    r"""^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*
        (?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^"\s][^"]*?))?\s*$""",
    re.VERBOSE,
)


class Op(str, enum.Enum):
    eq = "="
    ne = "!="
    re = "=~"
    nre = "!~"


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Op
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    _wants_hit: bool = field(default=True, compare=False, repr=False)  # = and =~; != and !~ want no hit

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """Parse one matcher; raises ValueError naming what is wrong."""
        found = _MATCHER.match(text)
        if not found:
            raise ValueError(f'not a label matcher: {text!r} (expected e.g. service="api" or env!~"stag.*")')
        op = Op(found["op"])
        raw = found["quoted"] if found["quoted"] is not None else (found["bare"] or "")
        value = _unescape(raw) if found["quoted"] is not None else raw
        regex = None
        if op in (Op.re, Op.nre):
            try:
                regex = re.compile(value)
            except re.error as err:
                raise ValueError(f"invalid regex in {text!r}: {err}") from None
        return cls(found["name"], op, value, regex, op in (Op.eq, Op.re))

    def matches(self, labels: dict[str, str]) -> bool:
        # Runs for every rule an alert is checked against: fields only, no Op lookups (slow on enums).
        actual = labels.get(self.name, "")
        hit = actual == self.value if self._regex is None else self._regex.fullmatch(actual) is not None
        return hit == self._wants_hit

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op.value}"{escaped}"'


def _unescape(raw: str) -> str:
    """Alertmanager's rule: \\" \\\\ and \\n are escapes; any other backslash is literal (so \\d stays a regex class)."""
    out, escaped = [], False
    for char in raw:
        if escaped:
            out.append({"n": "\n", '"': '"', "\\": "\\"}.get(char, "\\" + char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append(char)
    if escaped:
        out.append("\\")
    return "".join(out)


def _to_matcher(value: Any) -> Matcher:
    if isinstance(value, Matcher):
        return value
    if not isinstance(value, str):
        raise ValueError('a matcher is a string such as service="api"')
    return Matcher.parse(value)


# A matcher as it appears in YAML: a string, parsed (and its regex compiled) at load time.
MatcherField = Annotated[
    Matcher,
    PlainValidator(_to_matcher),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "examples": ['service="api"']}),
]


def match_all(matchers: list[Matcher], labels: dict[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
