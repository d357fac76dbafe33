"""Validate a YAML file against a pydantic model and point at the offending line.

People edit rules and config by hand at 3 a.m.; "actions.2.params.switch: Field
required" is not enough, "rules.yaml:41:9" is. We keep PyYAML's node tree next
to the loaded data and walk each validation error's ``loc`` through it. Pure
text in, model or ``ConfigError`` out, so the rule engine may use it too.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from alertflow.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
_ENUM_REPR = re.compile(r"<\w+\.\w+: ('[^']*')>")  # <FlowName.paging: 'paging'> reads as 'paging'


def parse_yaml(text: str, filename: str) -> tuple[Any, yaml.Node | None]:
    """Load YAML safely, keeping the node tree; syntax errors carry their line."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        raise ConfigError(f"{where}: invalid YAML: {err.problem or err.context}") from None
    finally:
        loader.dispose()
    return data, node


class LocatedValueError(ValueError):
    """A model-level check that knows which part of the document is wrong (e.g. the second of two equal ids)."""

    def __init__(self, loc: tuple[Any, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def validate_yaml(model: type[M], text: str, filename: str) -> M:
    """Parse and validate; every problem becomes one ``file:line:col: path: message`` line."""
    data, node = parse_yaml(text, filename)
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as err:
        raise ConfigError("\n".join(describe(err, node, filename))) from None


def describe(err: ValidationError, node: yaml.Node | None, filename: str) -> list[str]:
    return [describe_problem(problem, node, filename) for problem in err.errors(include_url=False)]


def describe_problem(problem: Any, node: yaml.Node | None, filename: str) -> str:
    """One pydantic error as ``file:line:col: dotted.path: message``."""
    message = _ENUM_REPR.sub(r"\1", problem["msg"].removeprefix("Value error, "))
    cause = problem.get("ctx", {}).get("error")
    loc = problem["loc"] + (cause.loc if isinstance(cause, LocatedValueError) else ())
    return f"{where(node, loc, filename)}: {message}"


def where(node: yaml.Node | None, loc: tuple[Any, ...], filename: str) -> str:
    """``file:line:col: dotted.path`` for a location in a loaded YAML document."""
    mark, path = _locate(node, loc)
    position = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
    return f"{position}: {'.'.join(path) or '(top level)'}"


def _locate(node: yaml.Node | None, loc: tuple[Any, ...]) -> tuple[yaml.Mark | None, list[str]]:
    """Walk ``loc`` down the node tree: the deepest node reached, and the path as written.

    Parts that exist only in pydantic (a union's tag) are skipped; a missing
    field is named but points at the mapping that lacks it.
    """
    if node is None:
        return None, [str(part) for part in loc]
    mark, path = node.start_mark, []
    for index, part in enumerate(loc):
        child = _child(node, part)
        if child is not None:
            node, mark = child, child.start_mark
            path.append(str(part))
        elif index == len(loc) - 1:
            path.append(str(part))
    return mark, path


def _child(node: yaml.Node, part: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(part):
                return value
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return node.value[part]
    return None
