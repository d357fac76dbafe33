"""``alertflow inbox export`` and ``alertflow replay``: backtest a rules change on what really happened.

Export writes recorded alerts as JSON lines; replay runs them through the
engine on their recorded clock (rules/simulate.py) with the new rules and,
optionally, the old ones, and prints the incidents and actions each would have
produced and what differs. Nothing is stored and no flow starts.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from alertflow.cli.client import UNREACHABLE, ConfigOption, JsonOption, api_headers, cli_settings, exit_code

SUMMARY = ("key", "status", "severity", "actions", "alerts", "flapping")  # what a difference compares (SimulatedIncident.summary)

inbox_app = typer.Typer(help="The recorded alerts.", no_args_is_help=True)


@inbox_app.command("export")
def export(
    since: Annotated[str | None, typer.Option(help="ISO time: received at or after")] = None,
    until: Annotated[str | None, typer.Option(help="ISO time: received before")] = None,
    config: ConfigOption = None,
) -> None:
    """Write recorded alerts as JSON lines to stdout (input for `alertflow replay`)."""
    settings = cli_settings(config)
    headers = api_headers(settings)
    params = {k: v for k, v in (("since", since), ("until", until)) if v}
    try:
        with httpx.stream("GET", f"{settings.resolved_api_url}/inbox/export", params=params, headers=headers, timeout=None) as response:
            if response.status_code != 200:
                typer.secho(f"HTTP {response.status_code}: {response.read().decode()}", fg="red", err=True)
                raise typer.Exit(exit_code(response.status_code))
            for chunk in response.iter_bytes():
                sys.stdout.buffer.write(chunk)
    except httpx.TransportError as err:
        typer.secho(f"cannot reach the alertflow API at {settings.resolved_api_url} ({err})", fg="red", err=True)
        raise typer.Exit(UNREACHABLE) from None


def replay(
    alerts: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON lines from `alertflow inbox export`")],
    rules: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="the rules to try")],
    against: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="the rules to compare with")] = None,
    tick: Annotated[float, typer.Option(help="seconds between timer ticks of the simulated clock")] = 5.0,
    json_: JsonOption = False,
) -> None:
    """Backtest rules over recorded alerts: the incidents and actions that would have happened, and the difference."""
    from alertflow.cli.render import print_json
    from alertflow.models import Alert
    from alertflow.pipeline.stages import load_rules
    from alertflow.rules.simulate import Simulation

    recorded = sorted(
        (Alert.model_validate_json(line) for line in alerts.read_text().splitlines() if line.strip()), key=lambda a: a.received_at
    )
    results = {}
    for label, path in (("new", rules), ("old", against)):
        if path is None:
            continue
        simulation = Simulation(load_rules(path), tick=timedelta(seconds=tick))
        for alert in recorded:
            simulation.feed(alert)
        if recorded:
            simulation.run_until(recorded[-1].received_at + timedelta(minutes=1))
        results[label] = {
            "rules": str(path),
            "held_back": len(simulation.suppressed),
            "incidents": [{**i.summary(), "rule_id": i.rule_id, "opened_at": i.opened_at.isoformat()} for i in simulation.incidents],
        }
    changes = _difference(results["old"]["incidents"], results["new"]["incidents"]) if "old" in results else None
    if json_:
        print_json({**results, "difference": None if changes is None else [{k: v for k, v in c.items() if k != "line"} for c in changes]})
        return
    for label, result in results.items():
        typer.secho(
            f"{label} rules ({result['rules']}): {len(result['incidents'])} incidents, {result['held_back']} alerts held back", bold=True
        )
        for i in result["incidents"]:
            typer.echo(
                f"  {i['opened_at'][:19].replace('T', ' ')} {i['key']} [{i['status']}, {i['severity']}] alerts={i['alerts']} actions={','.join(i['actions']) or '-'}"
            )
    if changes is not None:
        typer.secho("difference (old → new):", bold=True)
        for change in changes:
            typer.echo(f"  {change['line']}")
        if not changes:
            typer.echo("  no difference")


def _difference(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per incident key: ``removed`` (no longer opened), ``added`` (newly opened) or ``changed`` (fields before → after)."""
    before = {i["key"]: {k: i[k] for k in SUMMARY} for i in old}
    after = {i["key"]: {k: i[k] for k in SUMMARY} for i in new}
    changes = []
    for key in sorted(before.keys() | after.keys()):
        if key not in after:
            changes.append(
                {
                    "change": "removed",
                    "key": key,
                    "before": before[key],
                    "line": f"- {key}: no longer opened (was {before[key]['actions']})",
                }
            )
        elif key not in before:
            changes.append(
                {"change": "added", "key": key, "after": after[key], "line": f"+ {key}: newly opened, actions {after[key]['actions']}"}
            )
        elif before[key] != after[key]:
            fields = [
                f"{name} {before[key][name]!r} → {after[key][name]!r}" for name in after[key] if before[key][name] != after[key][name]
            ]
            changes.append(
                {"change": "changed", "key": key, "before": before[key], "after": after[key], "line": f"~ {key}: {'; '.join(fields)}"}
            )
    return changes
