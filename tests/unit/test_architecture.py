"""The layering contract of ARCHITECTURE.md, checked with ast over the source tree.

Each check lists every violation as ``path:line: what`` so a failure says where
to look. The scanners are tested on small snippets too, so a contract cannot
pass only because the scanner sees nothing.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("alertflow", "rules", "flows", "integrations")
MAX_LINES = 300


def modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(tree: ast.Module, name: str, is_package: bool) -> Iterator[tuple[int, str, str | None]]:
    """(line, module, imported name or None) for every import, relative ones made absolute."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield node.lineno, base, alias.name


def under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def violations(package: str, allowed: tuple[str, ...] | None = None, forbidden: tuple[str, ...] = ()) -> list[str]:
    """Imports of ``package``'s modules outside ``allowed`` (when given) or inside ``forbidden``."""
    found = []
    for path in modules(package):
        tree = ast.parse(path.read_text(), str(path))
        for line, module, name in imports(tree, module_name(path), path.name == "__init__.py"):
            targets = [module] if name is None else [module, f"{module}.{name}"]
            top = module.partition(".")[0]
            if allowed is not None and not (top in sys.stdlib_module_names or any(under(t, allowed) for t in targets)):
                found.append(f"{path.relative_to(REPO)}:{line}: imports {targets[-1]}")
            if any(under(t, forbidden) for t in targets):
                found.append(f"{path.relative_to(REPO)}:{line}: imports {targets[-1]}")
    return found


def flow_definitions(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, function) for every function decorated with `flow`, `prefect.flow`, or a call of either."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if (isinstance(target, ast.Name) and target.id == "flow") or (isinstance(target, ast.Attribute) and target.attr == "flow"):
                    yield node.lineno, node.name


def test_scanners_see_what_they_look_for() -> None:
    """The import and flow scanners find relative imports, from-imports and every @flow spelling."""
    tree = ast.parse(
        "import prefect\nfrom . import engine\nfrom ..matchers import Matcher\n"
        "@flow\ndef a(): ...\n@prefect.flow(name='b')\nasync def b(): ...\n@app.post('/flow')\ndef c(): ...\n"
    )
    assert list(imports(tree, "rules.sub.module", is_package=False)) == [
        (1, "prefect", None),
        (2, "rules.sub", "engine"),
        (3, "rules.matchers", "Matcher"),
    ]
    assert [target for _, target, _ in imports(tree, "rules.sub", is_package=True)][1:] == ["rules.sub", "rules.matchers"]
    assert list(flow_definitions(tree)) == [(5, "a"), (7, "b")]


def test_rules_import_only_the_pure_core() -> None:
    """rules/ imports only stdlib, pydantic, yaml, alertflow.models/errors/yamlmodel and itself."""
    allowed = ("pydantic", "yaml", "alertflow.models", "alertflow.errors", "alertflow.yamlmodel", "rules")
    assert violations("rules", allowed=allowed) == []


def test_integrations_never_import_rules_flows_or_prefect() -> None:
    """integrations/ stays below the engine and the flows, and free of Prefect."""
    assert violations("integrations", forbidden=("rules", "flows", "prefect")) == []


@pytest.mark.parametrize("module", ["models", "errors"])
def test_core_vocabulary_imports_no_other_alertflow_module(module: str) -> None:
    """alertflow.models and alertflow.errors import nothing from alertflow except each other."""
    path = REPO / "alertflow" / f"{module}.py"
    found = []
    for line, imported, name in imports(ast.parse(path.read_text()), f"alertflow.{module}", is_package=False):
        targets = [imported] if name is None else [imported, f"{imported}.{name}"]
        inside = [t for t in targets if under(t, ("alertflow",))]
        if inside and not any(under(t, ("alertflow.models", "alertflow.errors")) for t in inside):
            found.append(f"alertflow/{module}.py:{line}: imports {targets[-1]}")
    assert found == []


def test_only_flows_define_prefect_flows() -> None:
    """No module outside flows/ defines a Prefect @flow."""
    found = [
        f"{path.relative_to(REPO)}:{line}: @flow on {function}"
        for package in PACKAGES
        if package != "flows"
        for path in modules(package)
        for line, function in flow_definitions(ast.parse(path.read_text()))
    ]
    assert found == []


def test_flows_package_defines_the_response_flows() -> None:
    """flows/ does define the five response flows, so the check above has something to miss."""
    names = {function for path in modules("flows") for _, function in flow_definitions(ast.parse(path.read_text()))}
    assert names == {"record_timeline", "fail_over", "fail_back", "page_oncall", "run_recovery"}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_has_a_docstring(package: str) -> None:
    """Every module says what it is for in a module docstring."""
    paths = modules(package)
    assert paths
    missing = [str(path.relative_to(REPO)) for path in paths if not ast.get_docstring(ast.parse(path.read_text()))]
    assert missing == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_exceeds_the_size_limit(package: str) -> None:
    """Modules stay small and flat: none is over 300 lines."""
    too_long = [
        f"{path.relative_to(REPO)}: {count} lines" for path in modules(package) if (count := len(path.read_text().splitlines())) > MAX_LINES
    ]
    assert too_long == []
