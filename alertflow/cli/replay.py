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
from typing import Annotated

import httpx
import typer

from alertflow.cli.client import ConfigOption, api_headers, cli_settings

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
    with httpx.stream("GET", f"{settings.resolved_api_url}/inbox/export", params=params, headers=headers, timeout=None) as response:
        if response.status_code != 200:
            typer.secho(f"HTTP {response.status_code}: {response.read().decode()}", fg="red", err=True)
            raise typer.Exit(1)
        for chunk in response.iter_bytes():
            sys.stdout.buffer.write(chunk)


def replay(
    alerts: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON lines from `alertflow inbox export`")],
    rules: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="the rules to try")],
    against: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="the rules to compare with")] = None,
    tick: Annotated[float, typer.Option(help="seconds between timer ticks of the simulated clock")] = 5.0,
) -> None:
    """Backtest rules over recorded alerts: the incidents and actions that would have happened, and the difference."""
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
        results[label] = simulation
        typer.secho(
            f"{label} rules ({path}): {len(simulation.incidents)} incidents, {len(simulation.suppressed)} alerts held back", bold=True
        )
        for incident in simulation.incidents:
            typer.echo(
                f"  {incident.opened_at:%Y-%m-%d %H:%M:%S} {incident.key} [{incident.status}, {incident.severity}] alerts={len(incident.alerts)} actions={','.join(incident.actions) or '-'}"
            )
    if "old" in results:
        _difference(results["old"].incidents, results["new"].incidents)


def _difference(old: list, new: list) -> None:  # type: ignore[type-arg]
    before = {i.key: i.summary() for i in old}
    after = {i.key: i.summary() for i in new}
    typer.secho("difference (old → new):", bold=True)
    changes = 0
    for key in sorted(before.keys() | after.keys()):
        if key not in after:
            typer.echo(f"  - {key}: no longer opened (was {before[key]['actions']})")
        elif key not in before:
            typer.echo(f"  + {key}: newly opened, actions {after[key]['actions']}")
        elif before[key] != after[key]:
            fields = [
                f"{name} {before[key][name]!r} → {after[key][name]!r}" for name in after[key] if before[key][name] != after[key][name]
            ]
            typer.echo(f"  ~ {key}: {'; '.join(fields)}")
        else:
            continue
        changes += 1
    if not changes:
        typer.echo("  no difference")
