"""``alertflow rules check|test|explain``: know what a rules file will do before an incident does."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import typer

from alertflow.cli.client import ConfigOption, JsonOption

rules_app = typer.Typer(help="Check, test and explain rules files.", no_args_is_help=True)
FileArgument = Annotated[Path, typer.Argument(exists=True, dir_okay=False)]


@rules_app.command("check")
def rules_check(file: Annotated[Path, typer.Argument(help="rules file (YAML)")], config: ConfigOption = None) -> None:
    """Validate a rules file; errors name file:line:column. Exit 1 when invalid."""
    from alertflow.cli.rulecheck import check_rules

    problems, summary = check_rules(file, config)
    for problem in problems:
        typer.secho(problem, fg="red", err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(summary)


@rules_app.command("test")
def rules_test(file: FileArgument) -> None:
    """Run rule unit tests (alert series → expected incidents); exit 1 when any fails."""
    from alertflow.pipeline.stages import load_rules
    from alertflow.rules.ruletests import RuleTestFile, run_test
    from alertflow.yamlmodel import validate_yaml

    suite = validate_yaml(RuleTestFile, file.read_text(), str(file))
    failed = 0
    for rule_file in suite.rule_files:
        ruleset = load_rules(file.parent / rule_file)
        for test in suite.tests:
            problems = run_test(test, ruleset)
            failed += bool(problems)
            typer.secho(f"{'FAIL' if problems else 'ok  '} {rule_file}: {test.name}", fg="red" if problems else "green")
            for problem in problems:
                typer.echo(f"       {problem}")
    total = len(suite.tests) * len(suite.rule_files)
    typer.echo(f"{total - failed} passed, {failed} failed")
    raise typer.Exit(1 if failed else 0)


@rules_app.command("explain")
def rules_explain(
    alert_file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="an Alertmanager payload or one alert object (labels, ...)")
    ],
    rules: Annotated[Path | None, typer.Option(help="rules file (default: the config's rules_file)")] = None,
    at: Annotated[datetime | None, typer.Option(help="when (for maintenance windows); default now")] = None,
    json_: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Show which rule accepts an alert and why the others do not, what holds it back, and its incident key (--json: one alert per line)."""
    from dataclasses import asdict

    from alertflow.cli.render import print_json_lines
    from alertflow.config.settings import load_settings
    from alertflow.integrations.sources.alertmanager import AlertmanagerSource
    from alertflow.pipeline.stages import load_rules
    from alertflow.rules.explain import explain

    ruleset = load_rules(rules or load_settings(config).rules_file)
    payload = json.loads(alert_file.read_text())
    if "alerts" not in payload:  # one alert object: wrap it as Alertmanager would
        payload = {
            "version": "4",
            "status": payload.get("status", "firing"),
            "alerts": [{"startsAt": _now().isoformat(), "status": "firing", **payload}],
        }
    now = (at.replace(tzinfo=at.tzinfo or timezone.utc)) if at else _now()
    for alert in AlertmanagerSource().parse(payload, now):
        result = explain(ruleset, alert, now)
        if json_:
            print_json_lines([{"alert": {"name": alert.name, "labels": alert.labels}, **asdict(result)}])
            continue
        typer.secho(f"alert {alert.name} {json.dumps(alert.labels, sort_keys=True)}", bold=True)
        for verdict in result.verdicts:
            mark = "✔" if verdict.matched else "✘"
            deciding = "   ← decides" if verdict.rule_id == result.deciding_rule else ""
            typer.echo(f"  {mark} {verdict.rule_id}: {verdict.reason}{deciding}")
        typer.echo(f"  incident key: {result.key}" if result.key else "  no rule accepts it: stored, nothing else")
        for reason in result.held_back:
            typer.echo(f"  held back now by {reason}")
        for reason in result.may_be_inhibited:
            typer.echo(f"  may be inhibited by {reason}")


def _now() -> datetime:
    return datetime.now(timezone.utc)
