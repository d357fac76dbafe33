"""Everything the CLI prints: terminal tables for people, JSON for scripts.

One place, so every command prints the same way: ``--json`` is one JSON
document for a command that shows one thing (``incidents show``, ``report``,
``replay``) and one JSON object per line for a command that lists
(``incidents``, ``silence list``, ``sources``, ``oncall who|show``, ``rules
explain``), so ``jq``, ``grep`` and a line-reading loop all work on a list.
docs/cli.md lists each command's objects.

An incident is shown a page of its timeline at a time, not whole: an incident
can hold thousands of entries, and a terminal is read from the bottom; the
footer prints the command for the next page.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

STATUS_STYLE = {"open": "bold red", "acknowledged": "yellow", "mitigated": "cyan", "resolved": "green"}
console = Console()


def print_json(document: Any) -> None:
    """A show command's answer: one JSON document."""
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


def print_json_lines(items: Iterable[Any]) -> None:
    """A list command's answer: one JSON object per line."""
    for item in items:
        typer.echo(json.dumps(item, ensure_ascii=False))


def print_tables(tables: Iterable[tuple[str, list[str], list[list[str]]]], width: int | None = None) -> None:
    """Titled tables of text cells (rich markup allowed): a report's (alertflow/store/report_fields.py), silences, sources.
    ``width`` keeps long cells (URLs) on one line however narrow the terminal."""
    out = Console(width=width) if width else console
    for title, header, rows in tables:
        table = Table(*header, title=title or None)
        for row in rows:
            table.add_row(*row)
        out.print(table)


def _time(value: str | None) -> str:
    return value.replace("T", " ")[:19] if value else "-"


def incidents_table(incidents: list[dict[str, Any]]) -> None:
    if not incidents:
        console.print("no incidents")
        return
    table = Table("ID", "Status", "Severity", "Service", "Title", "Opened (UTC)", "Rule")
    for i in incidents:
        style = STATUS_STYLE.get(i["status"], "")
        table.add_row(
            str(i["id"]), f"[{style}]{i['status']}[/]", i["severity"], i["service"], i["title"], _time(i["opened_at"]), i["rule_id"]
        )
    console.print(table)


def incident_detail(detail: dict[str, Any], incident_id: int) -> None:
    i = detail["incident"]
    style = STATUS_STYLE.get(i["status"], "")
    console.print(f"[bold]Incident #{i['id']}[/]: {i['title']}")
    console.print(f"  status [{style}]{i['status']}[/] · severity {i['severity']} · service {i['service']} · rule {i['rule_id']}")
    console.print(
        f"  opened {_time(i['opened_at'])}  acked {_time(i['acknowledged_at'])} {i['acknowledged_by'] or ''}  resolved {_time(i['resolved_at'])} {i['resolved_by'] or ''}"
    )
    count = i.get("alert_count") or len(i["fingerprints"])
    console.print(f"  alerts {count:,}: {', '.join(i['fingerprints'][:5])}{' ...' if count > 5 else ''}")
    timeline_page(detail, incident_id)


def timeline_page(detail: dict[str, Any], incident_id: int) -> None:
    """One page of the timeline; when more follow, the command that shows the next."""
    table = Table("Time (UTC)", "Kind", "Event", "Actor", title="Timeline")
    for entry in detail["timeline"]:
        table.add_row(entry["at"].replace("T", " ")[:23], entry["kind"], entry["summary"], entry["actor"])
    console.print(table)
    if detail.get("next_cursor") is not None:
        shown, total = len(detail["timeline"]), detail["timeline_total"]
        console.print(
            f"{shown} of {total:,} entries; next: alertflow incidents show {incident_id} --cursor {detail['next_cursor']} (or --all)"
        )


def incident_json(pages: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """``incidents show --json``: the first page's document, with the timeline of every page given (``--all``)."""
    pages = iter(pages)
    document = next(pages)
    for page in pages:
        document["timeline"] += page["timeline"]
        document["next_cursor"] = page["next_cursor"]
    return document
