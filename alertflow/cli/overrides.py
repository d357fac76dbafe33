"""``alertflow oncall override add|list|remove``, ``oncall audit``, ``oncall calendar-url``: overrides on the record.

Why through the API: any replica stores an override in the database, paging
reads it at once (no config change, no restart), and the API records who
asked (``--by``, default $USER) and with which token. Names and times are
checked by the API against the config it runs with; a refusal naming a field
is a usage error on this command's option (exit 2), and nothing is stored.
``--from``/``--to`` are ISO times, in the schedule's zone unless they carry
an offset, as in the config. Removing keeps the override on the record:
``oncall audit`` lists every addition and removal.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Annotated, Any

import typer

from alertflow.cli.client import ActorOption, ConfigOption, JsonOption, call_api, cli_settings

override_app = typer.Typer(help="Overrides stored in the database: put someone on call for a while, on the record.", no_args_is_help=True)
OPTIONS = {"schedule": "--schedule", "person": "PERSON", "start": "--from", "end": "--to", "reason": "--reason", "actor": "--by"}
ScheduleFilter = Annotated[str | None, typer.Option("--schedule", "-s", help="one schedule (default: all)")]


def _iso(value: str, option: str) -> str:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO time: {value!r} (e.g. 2026-12-24T18:00)", param_hint=option) from None
    return value


def _utc(value: str) -> str:
    return value.replace("T", " ")[:16]


def _line(o: dict[str, Any]) -> str:
    reason = f": {o['reason']}" if o["reason"] else ""
    return f"override {o['id']}: {o['person']} on call for {o['schedule']} from {_utc(o['start'])} to {_utc(o['end'])} UTC{reason}"


def _listed(config: ConfigOption, path: str, schedule: str | None, json_: bool) -> list[dict[str, Any]] | None:
    """A list from the API, of one schedule or all; with ``json_`` printed one per line (and None returned)."""
    found = call_api(cli_settings(config), "GET", path, OPTIONS, params={"schedule": schedule} if schedule else {})
    if not json_:
        return list(found)
    from alertflow.cli.render import print_json_lines

    print_json_lines(found)
    return None


@override_app.command("add")
def add(
    person: Annotated[str, typer.Argument(help="who is on call instead (a name under people:)")],
    schedule: Annotated[str, typer.Option("--schedule", "-s", help="the schedule it overrides")],
    start: Annotated[str, typer.Option("--from", help="ISO time it starts, e.g. 2026-12-24T18:00 (the schedule's zone unless an offset)")],
    end: Annotated[str, typer.Option("--to", help="ISO time it ends")],
    reason: Annotated[str, typer.Option(help="why: shown in the list and the audit")] = "",
    by: ActorOption = os.environ.get("USER", "cli"),
    json_: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Put PERSON on call for a schedule from --from to --to; it wins over the layers and earlier overrides."""
    body = {"schedule": schedule, "person": person, "start": _iso(start, "--from"), "end": _iso(end, "--to"), "reason": reason}
    added = call_api(cli_settings(config), "POST", "/oncall/overrides", OPTIONS, json={**body, "actor": by})
    if json_:
        from alertflow.cli.render import print_json

        print_json(added)
        return
    typer.echo(_line(added))


@override_app.command("list")
def list_(schedule: ScheduleFilter = None, json_: JsonOption = False, config: ConfigOption = None) -> None:
    """The stored overrides not removed and not yet over, oldest first (--json: one per line; `oncall audit` has the rest)."""
    from alertflow.cli.render import print_tables

    if (found := _listed(config, "/oncall/overrides", schedule, json_)) is None:
        return
    rows = [[str(o["id"]), o["schedule"], o["person"], _utc(o["start"]), _utc(o["end"]), o["reason"], o["created_by"]] for o in found]
    print_tables([("On-call overrides", ["ID", "Schedule", "Person", "From (UTC)", "To (UTC)", "Reason", "Added by"], rows)], width=140)


@override_app.command("remove")
def remove(
    override_id: Annotated[int, typer.Argument(metavar="ID", help="the override's id (from `override list`)")],
    by: ActorOption = os.environ.get("USER", "cli"),
    config: ConfigOption = None,
) -> None:
    """Remove an override now: paging stops using it; it stays on the record (`oncall audit`)."""
    removed = call_api(cli_settings(config), "DELETE", f"/oncall/overrides/{override_id}", OPTIONS, params={"actor": by})
    typer.echo(f"removed {_line(removed)}")


def audit(schedule: ScheduleFilter = None, json_: JsonOption = False, config: ConfigOption = None) -> None:
    """Every override added or removed, oldest first: when, what, by whom, with which credential (--json: one per line)."""
    from alertflow.cli.render import print_tables

    if (found := _listed(config, "/oncall/audit", schedule, json_)) is None:
        return
    rows = [
        [_utc(e["at"]), f"{e['action']} #{e['override_id']}", e["schedule"], e["person"], f"{_utc(e['start'])} to {_utc(e['end'])}",
         e["reason"], e["by"], e["via"]]
        for e in found
    ]  # fmt: skip
    print_tables(
        [("On-call audit", ["At (UTC)", "What", "Schedule", "Person", "Covering (UTC)", "Reason", "By", "Credential"], rows)], width=140
    )


def calendar_url(
    schedule: Annotated[str, typer.Argument(help="the schedule whose calendar feed to subscribe to")], config: ConfigOption = None
) -> None:
    """Print the schedule's iCalendar feed URL, to subscribe to in a calendar app (signed when calendar_links is set)."""
    found = call_api(cli_settings(config), "GET", "/oncall/calendar-url", {"schedule": "SCHEDULE"}, params={"schedule": schedule})
    typer.echo(found["url"])
