"""The layering contract of ARCHITECTURE.md, checked with ast over the source tree.

Each check lists every violation as ``path:line: what`` so a failure says where
to look. The scanners are tested on small snippets too, so a contract cannot
pass only because the scanner sees nothing.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Folder -> installed package: the design's top-level folders install inside `alertflow` (pyproject.toml).
FOLDERS = {"alertflow": "alertflow", "rules": "alertflow.rules", "flows": "alertflow.flows", "integrations": "alertflow.integrations"}
PACKAGES = tuple(FOLDERS)
MAX_LINES = 300
# The ground floor: the words every part speaks. It imports nothing of ours above it.
VOCABULARY = (
    "alertflow.models",
    "alertflow.errors",
    "alertflow.yamlmodel",
    "alertflow.templates",
    "alertflow.durations",
    "alertflow.auth",
    "alertflow.logs",
    "alertflow.metrics",
    "alertflow.retries",
    "alertflow.doorbell",
    "alertflow.events",
    "alertflow.config",
)


def modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def module_name(path: Path) -> str:
    folder, *rest = path.relative_to(REPO).with_suffix("").parts
    parts = [FOLDERS.get(folder, folder), *rest]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def roof(subpackage: str) -> list[Path]:
    """The modules of one subpackage of alertflow/ (api, cli, pipeline, ...)."""
    return sorted((REPO / "alertflow" / subpackage).rglob("*.py"))


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


def violations(paths: list[Path], allowed: tuple[str, ...] | None = None, forbidden: tuple[str, ...] = ()) -> list[str]:
    """Imports of these modules outside ``allowed`` (when given: ours, or third-party) or inside ``forbidden``."""
    assert paths, "no modules: the check would pass on nothing"
    found = []
    for path in paths:
        tree = ast.parse(path.read_text(), str(path))
        for line, module, name in imports(tree, module_name(path), path.name == "__init__.py"):
            targets = [module] if name is None else [module, f"{module}.{name}"]
            top = module.partition(".")[0]
            ours = top in ("alertflow", *PACKAGES)
            if allowed is not None and ours and not any(under(t, allowed) for t in targets):
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
    assert list(imports(tree, "alertflow.rules.sub.module", is_package=False)) == [
        (1, "prefect", None),
        (2, "alertflow.rules.sub", "engine"),
        (3, "alertflow.rules.matchers", "Matcher"),
    ]
    assert [target for _, target, _ in imports(tree, "alertflow.rules.sub", is_package=True)][1:] == [
        "alertflow.rules.sub",
        "alertflow.rules.matchers",
    ]
    assert module_name(REPO / "rules" / "engine.py") == "alertflow.rules.engine"
    assert module_name(REPO / "integrations" / "sources" / "__init__.py") == "alertflow.integrations.sources"
    outside = REPO / "rules" / "engine.py"
    assert violations([outside], allowed=("alertflow.models",)) != []
    assert list(flow_definitions(tree)) == [(5, "a"), (7, "b")]


def test_rules_import_only_the_vocabulary() -> None:
    """rules/ (the engine) imports the vocabulary and itself, and nothing that does I/O."""
    assert violations(modules("rules"), allowed=(*VOCABULARY, "alertflow.rules"), forbidden=("prefect", "sqlalchemy", "httpx")) == []


def test_vocabulary_imports_nothing_above_it() -> None:
    """The ground floor (models, errors, config, ...) imports only itself."""
    paths = [REPO / (name.replace(".", "/") + ".py") for name in VOCABULARY if name != "alertflow.config"] + roof("config")
    assert violations(paths, allowed=VOCABULARY) == []


def test_integrations_import_only_the_vocabulary() -> None:
    """integrations/ never import the engine, the flows, Prefect or the app."""
    assert violations(modules("integrations"), allowed=(*VOCABULARY, "alertflow.integrations"), forbidden=("prefect",)) == []


def test_flows_never_import_the_app() -> None:
    """flows/ never import the API, the CLI, the worker or the pipeline."""
    forbidden = ("alertflow.api", "alertflow.cli", "alertflow.worker", "alertflow.pipeline")
    assert violations(modules("flows"), forbidden=forbidden) == []


@pytest.mark.parametrize(
    ("subpackage", "allowed"),
    [
        ("store", ("alertflow.store",)),
        ("paging", ("alertflow.paging", "alertflow.store", "alertflow.integrations")),
        ("pipeline", ("alertflow.pipeline", "alertflow.paging", "alertflow.store", "alertflow.rules")),
        ("api", ("alertflow.api", "alertflow.pipeline", "alertflow.store", "alertflow.rules", "alertflow.integrations")),
        ("worker", ("alertflow.worker", "alertflow.flows", "alertflow.store")),
    ],
)
def test_imports_point_down(subpackage: str, allowed: tuple[str, ...]) -> None:
    """cli, api, worker -> pipeline -> paging -> store -> vocabulary: no subpackage imports one above it."""
    assert violations(roof(subpackage), allowed=(*VOCABULARY, *allowed)) == []


def test_no_top_level_imports_of_the_folders() -> None:
    """Nothing imports `rules`, `flows` or `integrations` as top-level packages: only alertflow.* is installed."""
    tests = sorted((REPO / "tests").rglob("*.py")) + sorted((REPO / "bench").rglob("*.py"))
    everything = [path for package in PACKAGES for path in modules(package)] + tests
    assert violations(everything, forbidden=("rules", "flows", "integrations")) == []


@pytest.mark.parametrize("module", ["models", "errors"])
def test_core_vocabulary_imports_no_other_alertflow_module(module: str) -> None:
    """alertflow.models and alertflow.errors import nothing from alertflow except each other and durations, a leaf."""
    path = REPO / "alertflow" / f"{module}.py"
    assert violations([path], allowed=("alertflow.models", "alertflow.errors", "alertflow.durations")) == []


def test_durations_is_a_leaf() -> None:
    """alertflow.durations imports nothing of ours, so models may use its Duration (an action's repeat_interval)."""
    assert violations([REPO / "alertflow" / "durations.py"], allowed=()) == []


@pytest.mark.parametrize("subpackage", ["config", "store", "paging", "pipeline", "api", "cli", "worker"])
def test_every_subpackage_says_what_it_owns(subpackage: str) -> None:
    """Each subpackage's __init__ docstring says what it owns and what it may import."""
    doc = ast.get_docstring(ast.parse((REPO / "alertflow" / subpackage / "__init__.py").read_text())) or ""
    assert "Owns:" in doc and "May import:" in doc


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
    """flows/ does define the five response flows and the report, so the check above has something to miss."""
    names = {function for path in modules("flows") for _, function in flow_definitions(ast.parse(path.read_text()))}
    assert names == {"record_timeline", "fail_over", "fail_back", "page_oncall", "run_recovery", "publish_report"}


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
