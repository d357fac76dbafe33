"""``alertflow report [--since 30d] [--service S] [--json]``: MTTA, MTTR, pages and the noisiest alerts per service and rule.

The API computes it from the store (``GET /reports``, alertflow/store/reports.py),
exactly as the weekly ``alertflow-report`` artifact does, so the terminal and
the Prefect UI agree. The window is checked here before any request: a typo
such as ``30x`` exits 2 naming ``--since`` and asks nothing. Fields:
docs/reports.md.
"""

from __future__ import annotations

from typing import Annotated

import typer

from alertflow.cli.client import ConfigOption, JsonOption, call_api, cli_settings
from alertflow.store.report_fields import Report, report_tables, report_window


def report(
    since: Annotated[str, typer.Option(help="how far back: 12h, 7d, 30d, 2w")] = "30d",
    service: Annotated[str | None, typer.Option(help="one service (default: all)")] = None,
    json_: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Incidents, MTTA, MTTR (p50/p90), pages and after-hours pages per person, escalations, flapping and noisy alerts."""
    try:
        report_window(since)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--since") from None
    from alertflow.cli.render import console, print_json, print_tables

    params = {"since": since} | ({"service": service} if service else {})
    found = call_api(cli_settings(config), "GET", "/reports", params=params)
    if json_:
        print_json(found)
        return
    parsed = Report.model_validate(found)
    scope = f"service {service}" if service else "every service"
    console.print(f"[bold]Report[/] {parsed.since:%Y-%m-%d %H:%M} to {parsed.until:%Y-%m-%d %H:%M} UTC, {scope}")
    console.print(f"after hours: {parsed.after_hours}")
    print_tables(report_tables(parsed))
