"""``alertflow oncall who|show``: who is on call now (or at a time), and the coming shifts.

They ask the API (``GET /oncall/who``, ``/oncall/shifts``), which answers with
the code paging uses: the config's schedules with the overrides stored in the
database on top (``current_schedules``), so what the CLI says is who gets
paged. Times are shown in each schedule's own time zone (``--json``: ISO
times with the zone's offset, one schedule or shift per line). The overrides
themselves, the audit and the calendar link are alertflow/cli/overrides.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from alertflow.cli.client import ConfigOption, JsonOption, call_api, cli_settings
from alertflow.cli.overrides import audit, calendar_url, override_app
from alertflow.cli.render import print_json_lines, print_tables

oncall_app = typer.Typer(
    help="On-call: who is on call, the coming shifts, overrides stored in the database, the calendar link.", no_args_is_help=True
)
oncall_app.add_typer(override_app, name="override")
oncall_app.command("audit")(audit)
oncall_app.command("calendar-url")(calendar_url)
ScheduleOption = Annotated[str | None, typer.Option("--schedule", "-s", help="one schedule (default: all)")]
AtOption = Annotated[
    str | None, typer.Option("--at", help="ISO time, e.g. 2026-12-24T03:00 (in the schedule's zone unless an offset is given); default now")
]
OPTIONS = {"schedule": "--schedule", "at": "--at", "days": "--days"}  # the API's fields -> these commands' options


def _ask(config: ConfigOption, path: str, schedule: str | None, at: str | None, **params: Any) -> list[dict[str, Any]]:
    if at is not None:
        try:
            datetime.fromisoformat(at)
        except ValueError:
            raise typer.BadParameter(f"not an ISO time: {at!r}", param_hint="--at") from None
    given = {"schedule": schedule, "at": at, **params}
    found = call_api(cli_settings(config), "GET", path, OPTIONS, params={k: v for k, v in given.items() if v is not None})
    if not found:
        typer.secho("no schedules: define them under schedules: in the config file (docs/oncall.md)", fg="yellow", err=True)
        raise typer.Exit(1)
    return found


def _local(value: str, time_zone: str) -> str:
    return datetime.fromisoformat(value).astimezone(ZoneInfo(time_zone)).strftime("%a %Y-%m-%d %H:%M %Z")


@oncall_app.command("who")
def who(schedule: ScheduleOption = None, at: AtOption = None, json_: JsonOption = False, config: ConfigOption = None) -> None:
    """Who is on call (now or --at), per schedule, and until when."""
    found = _ask(config, "/oncall/who", schedule, at)
    if json_:
        print_json_lines(found)
        return
    for w in found:
        until = f" until {_local(w['until'], w['time_zone'])}" if w["until"] else ""
        typer.echo(f"{w['schedule']}: {w['person'] or 'nobody'} ({w['source']}){until}")


@oncall_app.command("show")
def show(
    schedule: ScheduleOption = None,
    at: AtOption = None,
    days: Annotated[int, typer.Option(min=1, max=90, help="how far ahead")] = 7,
    json_: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """The coming shifts as a table: start, end, person, and which layer or override (--json: one shift per line)."""
    found = _ask(config, "/oncall/shifts", schedule, at, days=days)
    if json_:
        print_json_lines(found)
        return
    tables: dict[tuple[str, str], list[list[str]]] = {}
    for s in found:
        zone = s["time_zone"]
        row = [_local(s["start"], zone), _local(s["end"], zone), s["person"] or "nobody", s["source"]]
        tables.setdefault((s["schedule"], zone), []).append(row)
    print_tables([(f"{name} ({zone})", ["Start", "End", "Person", "From"], rows) for (name, zone), rows in tables.items()], width=120)
