"""``alertflow silence add|list|expire``: hold alerts back for a while, on the record."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Annotated

import typer

from alertflow.cli.client import ActorOption, ConfigOption, JsonOption, call_api, cli_settings
from alertflow.durations import parse_duration

silence_app = typer.Typer(
    help="Silence alerts by label matchers for a while (they are stored and listed, and start no action).", no_args_is_help=True
)


@silence_app.command("add")
def add(
    matchers: Annotated[list[str], typer.Argument(help='Alertmanager matchers, e.g. service="db" env=~"prod|staging"')],
    duration: Annotated[str, typer.Option(help="how long, e.g. 30m, 2h")] = "1h",
    comment: Annotated[str, typer.Option(help="why: shown with the silence")] = "",
    by: ActorOption = os.environ.get("USER", "cli"),
    config: ConfigOption = None,
) -> None:
    """Silence alerts matching all MATCHERS for DURATION."""
    try:
        seconds = parse_duration(duration).total_seconds()
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--duration") from None
    body = {"matchers": matchers, "duration_seconds": seconds, "author": by, "comment": comment}
    silence = call_api(cli_settings(config), "POST", "/silences", json=body)
    typer.echo(f"silence {silence['id']} until {silence['ends_at']}: {' '.join(silence['matchers'])}")


@silence_app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="include silences that have ended")] = False,
    held: Annotated[bool, typer.Option("--held", help="only the alerts held back now (silenced, in maintenance, inhibited)")] = False,
    json_: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """List silences (active ones by default) and the alerts held back now; --json: one silence (with --held, one alert) per line."""
    from alertflow.cli.render import print_json_lines, print_tables

    settings = cli_settings(config)
    silences = [] if held else call_api(settings, "GET", "/silences", params={"active": not all_})
    suppressed = call_api(settings, "GET", "/suppressed") if held or not json_ else []
    if json_:
        print_json_lines(suppressed if held else silences)
        return
    rows = [
        [str(s["id"]), " ".join(s["matchers"]), _time(s["starts_at"]), _time(s["ends_at"]), s["author"], s["comment"]] for s in silences
    ]
    tables = [] if held else [("Silences", ["ID", "Matchers", "Starts (UTC)", "Ends (UTC)", "Author", "Comment"], rows)]
    tables.append(
        ("Held back now", ["Alert", "Fingerprint", "Why"], [[h["alert"]["name"], h["fingerprint"], h["reason"]] for h in suppressed])
    )
    print_tables(tables)


@silence_app.command("expire")
def expire(silence_id: int, config: ConfigOption = None) -> None:
    """End a silence now; alerts it held that still fire are evaluated again."""
    call_api(cli_settings(config), "DELETE", f"/silences/{silence_id}")
    typer.echo(f"silence {silence_id} ended")


def _time(value: str) -> str:
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M")
