"""``alertflow rules ...``: check rules files before they reach an incident."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alertflow.apiclient import ConfigOption

rules_app = typer.Typer(help="Work with rules files.", no_args_is_help=True)


@rules_app.command("check")
def rules_check(file: Annotated[Path, typer.Argument(help="rules file (YAML)")], config: ConfigOption = None) -> None:
    """Validate a rules file; errors name file:line:column. Exit 1 when invalid."""
    from alertflow.rulecheck import check_rules

    problems, summary = check_rules(file, config)
    for problem in problems:
        typer.secho(problem, fg="red", err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(summary)
