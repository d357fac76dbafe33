"""Hypothesis strategies that mutate real payloads: the golden samples, with fields deleted,
replaced by other JSON, or their types changed, a few at a time. What a confused or hostile
sender could post, close enough to the real thing to get past the first checks."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

PAYLOADS = Path(__file__).resolve().parent / "payloads"
GOLDEN = sorted(p for p in PAYLOADS.glob("*/*.json") if not p.name.endswith(".expected.json"))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)
# Values that look like what belongs in such fields, so mutations reach deeper checks.
near_values = st.sampled_from(
    [
        "",
        "0001-01-01T00:00:00Z",
        "2026-11-27T10:00:00",
        "resolved",
        "firing",
        "OK",
        "ALARM",
        "4",
        "1",
        "trigger",
        "P1",
        "nan",
        "9" * 30,
        "a:b,c",
    ]
)


def paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``document`` (dict keys and list indexes)."""
    found = [prefix] if prefix else []
    items = document.items() if isinstance(document, dict) else enumerate(document) if isinstance(document, list) else ()
    for key, value in items:
        found += paths(value, (*prefix, key))
    return found


def mutate(document: Any, data: st.DataObject, rounds: int) -> Any:
    document = copy.deepcopy(document)
    for _ in range(rounds):
        targets = paths(document)
        if not targets:
            return data.draw(json_values)
        *parents, last = data.draw(st.sampled_from(targets))
        holder = document
        for part in parents:
            holder = holder[part]
        if data.draw(st.booleans()) and isinstance(holder, dict):
            del holder[last]
        else:
            holder[last] = data.draw(json_values | near_values)
    return document


def mutated(path: Path, data: st.DataObject) -> Any:
    """The golden payload at ``path`` with 1 to 3 mutations; CloudWatch's inner alarm JSON is mutated as well."""
    document = json.loads(path.read_text())
    inner = path.parent.name == "cloudwatch" and data.draw(st.booleans())
    if inner:
        document["Message"] = json.loads(document["Message"])
    document = mutate(document, data, data.draw(st.integers(1, 3)))
    if inner and isinstance(document, dict) and isinstance(document.get("Message"), (dict, list)):
        document["Message"] = json.dumps(document["Message"])
    return document
