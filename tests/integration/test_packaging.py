"""The wheel installs one namespace: `alertflow`, with the design's folders inside it.

rules/, flows/ and integrations/ sit at the top of the repository (the design
card fixes them) but install as alertflow.rules, alertflow.flows and
alertflow.integrations, so alertflow never puts a `rules` or `flows` package
into someone's site-packages next to another distribution's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from tests.conftest import REPO

FOLDERS = {"alertflow": "alertflow", "rules": "alertflow.rules", "flows": "alertflow.flows", "integrations": "alertflow.integrations"}


def packages_in_tree() -> set[str]:
    """Every folder with an __init__.py under the four source folders, by its installed name."""
    found = set()
    for folder, installed in FOLDERS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rest = init.parent.relative_to(REPO / folder).parts
            found.add(".".join([installed, *rest]))
    return found


def test_pyproject_lists_every_package_of_the_tree() -> None:
    """A new subpackage cannot be forgotten by the wheel: pyproject's list equals the tree's packages."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(config["packages"]) == packages_in_tree()
    assert config["package-dir"] == {installed: folder for folder, installed in FOLDERS.items()}


def test_the_wheel_has_one_top_level_package(tmp_path: Path) -> None:
    """Built from this tree, the wheel holds `alertflow` and its metadata only, with rules/flows/integrations inside."""
    source = tmp_path / "source"  # a copy: setuptools builds in place and would leave build/ in the checkout
    for folder in FOLDERS:
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(source)], check=True, capture_output=True
    )
    [wheel] = tmp_path.glob("alertflow-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")} == {"alertflow"}
    for module in ("alertflow/rules/engine.py", "alertflow/flows/paging.py", "alertflow/integrations/sources/alertmanager.py"):
        assert module in names
    assert "alertflow/cli/main.py" in names
    for script in ("env.py", "script.py.mako", "versions/0001_baseline.py"):  # Alembic reads them as files at run time
        assert f"alertflow/store/migrations/{script}" in names
    entry_points = next(name for name in names if name.endswith(".dist-info/entry_points.txt"))
    assert "alertflow = alertflow.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
