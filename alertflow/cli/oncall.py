"""``alertflow oncall who|show``: who is on call now (or at a time), and the coming shifts.

Schedules live in the config file, so this reads the file and needs no running
system: the same pure code the paging flow uses answers, so what the CLI says
is who gets paged. Times are shown in each schedule's own time zone (``--json``:
ISO times with the zone's offset, one schedule or shift per line).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated

import typer

from alertflow.cli.client import ConfigOption, JsonOption, cli_settings
from alertflow.cli.render import print_json_lines, print_tables
from alertflow.config.oncall import Schedule, on_call, shifts

oncall_app = typer.Typer(help="On-call schedules from the config file: who is on call, and the coming shifts.", no_args_is_help=True)
ScheduleOption = Annotated[str | None, typer.Option("--schedule", "-s", help="one schedule (default: all)")]
AtOption = Annotated[
    str | None, typer.Option("--at", help="ISO time, e.g. 2026-12-24T03:00 (in the schedule's zone unless an offset is given); default now")
]


def _instant(schedule: Schedule, at: str | None) -> datetime:
    if at is None:
        return datetime.now(timezone.utc)
    try:
        return schedule.aware(datetime.fromisoformat(at))
    except ValueError:
        raise typer.BadParameter(f"not an ISO time: {at!r}", param_hint="--at") from None


def _selected(config: ConfigOption, name: str | None) -> dict[str, Schedule]:
    schedules = cli_settings(config).schedules
    if name is not None and name not in schedules:
        raise typer.BadParameter(f"no schedule {name!r} (have: {', '.join(schedules) or 'none'})", param_hint="--schedule")
    if not schedules:
        typer.secho("no schedules: define them under schedules: in the config file (docs/oncall.md)", fg="yellow", err=True)
        raise typer.Exit(1)
    return {name: schedules[name]} if name else schedules


def _iso(schedule: Schedule, at: datetime) -> str:
    return at.astimezone(schedule.zone).isoformat()


def _local(schedule: Schedule, at: datetime) -> str:
    return at.astimezone(schedule.zone).strftime("%a %Y-%m-%d %H:%M %Z")


@oncall_app.command("who")
def who(schedule: ScheduleOption = None, at: AtOption = None, json_: JsonOption = False, config: ConfigOption = None) -> None:
    """Who is on call (now or --at), per schedule, and until when."""
    found = []
    for name, sched in _selected(config, schedule).items():
        instant = _instant(sched, at)
        person, source = on_call(sched, instant)
        coming = shifts(sched, instant, instant + timedelta(days=60))
        end = coming[0].end if coming and coming[0].end < instant + timedelta(days=60) else None
        found.append({"schedule": name, "time_zone": sched.time_zone, "at": _iso(sched, instant), "person": person, "source": source,
                      "until": _iso(sched, end) if end else None})  # fmt: skip
        if not json_:
            typer.echo(f"{name}: {person or 'nobody'} ({source}){f' until {_local(sched, end)}' if end else ''}")
    if json_:
        print_json_lines(found)


@oncall_app.command("show")
def show(
    schedule: ScheduleOption = None,
    at: AtOption = None,
    days: Annotated[int, typer.Option(min=1, max=90, help="how far ahead")] = 7,
    json_: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """The coming shifts as a table: start, end, person, and which layer or override (--json: one shift per line)."""
    for name, sched in _selected(config, schedule).items():
        start = _instant(sched, at)
        if json_:
            print_json_lines(
                {"schedule": name, "time_zone": sched.time_zone, "start": _iso(sched, s.start), "end": _iso(sched, s.end),
                 "person": s.person, "source": s.source}
                for s in shifts(sched, start, start + timedelta(days=days))
            )  # fmt: skip
            continue
        rows = [
            [_local(sched, s.start), _local(sched, s.end), s.person or "nobody", s.source]
            for s in shifts(sched, start, start + timedelta(days=days))
        ]
        print_tables([(f"{name} ({sched.time_zone})", ["Start", "End", "Person", "From"], rows)], width=120)
