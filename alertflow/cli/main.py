"""``alertflow``: start the system, fire alerts, look at incidents, act on them.

Commands that change incidents go through the API (one process owns the rule
engine); ``run`` goes through the API too, so a hand-started flow run is
queued, recorded and dispatched exactly like an automatic one. Heavy imports
(Prefect, the API) happen inside commands, so ``--help`` stays instant.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import httpx
import typer

from alertflow.cli.client import ActorOption, ConfigOption, JsonOption, call_api, cli_settings, exit_code, incident_pages
from alertflow.cli.db import check_database, db_app
from alertflow.cli.notify import notify_app
from alertflow.cli.oncall import oncall_app
from alertflow.cli.replay import inbox_app, replay
from alertflow.cli.report import report
from alertflow.cli.responses import DryRunOption, failback, follow_run
from alertflow.cli.rules import rules_app
from alertflow.cli.silence import silence_app
from alertflow.cli.sources import source_auth_headers, sources
from alertflow.errors import ConfigError
from alertflow.models import FlowName, IncidentStatus

app = typer.Typer(help="alertflow: incident response on Prefect. Alerts in, parallel response flows out.", no_args_is_help=True)
incidents_app = typer.Typer(help="List incidents, or show one with its timeline.", invoke_without_command=True)
app.add_typer(incidents_app, name="incidents")
app.add_typer(rules_app, name="rules")
app.add_typer(silence_app, name="silence")
app.add_typer(inbox_app, name="inbox")
app.add_typer(oncall_app, name="oncall")
app.add_typer(db_app, name="db")
app.add_typer(notify_app, name="notify")
app.command()(failback)
app.command()(sources)
app.command()(report)


@app.command()
def up(
    config: ConfigOption = None,
    sandbox: Annotated[bool, typer.Option(help="also start local Slack/switch/health stand-ins")] = False,
    sandbox_port: Annotated[int, typer.Option(help="port of the sandbox peers")] = 8099,
) -> None:
    """Start everything: Prefect server (if none answers), worker, webhook API, pipeline and dispatcher."""
    settings = cli_settings(config)
    from alertflow.cli.up import up as start
    from alertflow.logs import configure_logging

    configure_logging(fmt=settings.log_format)
    start(settings, config, sandbox_port if sandbox else None)


@app.command()
def api(config: ConfigOption = None) -> None:
    """Run only the webhook API with its pipeline and dispatcher (Prefect and a worker run elsewhere).

    It refuses to start on a database at an older schema: run `alertflow db upgrade` first."""
    settings = cli_settings(config)
    from alertflow.cli.up import serve_api
    from alertflow.logs import configure_logging
    from alertflow.pipeline.stages import load_rules

    configure_logging(fmt=settings.log_format)
    url = settings.resolved_api_url
    import uvloop  # a faster event loop: about 40% more alerts/s at 100 alerts per request (bench/ingest.py)

    def ready() -> None:
        if settings.log_format == "json":  # nothing but JSON on the stream
            logging.getLogger("alertflow.api").info("alertflow API on %s", url)
        else:
            print(f"alertflow API on {url}", flush=True)

    uvloop.run(serve_api(settings, load_rules(settings.rules_file), on_ready=ready))


@app.command()
def worker(
    config: ConfigOption = None, isolated: Annotated[bool, typer.Option(help="one process per flow run (Prefect's runner)")] = False
) -> None:
    """Serve the response deployments and run their flow runs (on a database at this version's schema)."""
    settings = cli_settings(config)
    check_database(settings)  # here, not in the worker's thread: a refusal must end the process with its message
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", str(max(1, round(settings.worker_poll_seconds))))
    import asyncio
    import signal

    from alertflow.logs import configure_logging
    from alertflow.worker.runner import run_until_signalled, serve

    configure_logging(fmt=settings.log_format)

    if not isolated:
        run_until_signalled(settings)
        return

    async def main() -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await serve(settings, stop, isolated=True)

    asyncio.run(main())


@app.command()
def fire(
    file: Annotated[Path, typer.Argument(help="a webhook payload (JSON)", exists=True, dir_okay=False)],
    source: Annotated[str, typer.Option(help="which sender's format the payload is in")] = "alertmanager",
    config: ConfigOption = None,
) -> None:
    """Post a payload to the webhook, as its sender would (with the source's auth: token, basic, HMAC signature)."""
    settings = cli_settings(config)
    body = file.read_bytes()
    headers = {"Content-Type": "application/json", **source_auth_headers(settings, source, body)}
    try:
        response = httpx.post(f"{settings.resolved_api_url}/webhooks/{source}", content=body, headers=headers, timeout=30)
    except httpx.TransportError as err:
        typer.secho(f"cannot reach {settings.resolved_api_url}: {err}", fg="red", err=True)
        raise typer.Exit(3) from None
    typer.echo(f"HTTP {response.status_code} {response.text}")
    raise typer.Exit(0 if response.status_code == 202 else exit_code(response.status_code))


@app.command()
def run(
    flow: Annotated[FlowName, typer.Argument(help="which response flow")],
    incident: Annotated[int, typer.Option("--incident", "-i", help="incident id")],
    dry_run: DryRunOption = False,
    by: ActorOption = os.environ.get("USER", "cli"),
    config: ConfigOption = None,
) -> None:
    """Trigger a response flow for an incident by hand, through its Prefect deployment."""
    settings = cli_settings(config)
    body = {"actor": by, "dry_run": dry_run}
    outbox_id = call_api(settings, "POST", f"/incidents/{incident}/run/{flow.value}", json=body)["outbox_id"]
    typer.echo(f"queued {flow.value}{' dry run' if dry_run else ''} for incident {incident} (outbox {outbox_id})")
    follow_run(settings, incident, outbox_id, dry_run)


@incidents_app.callback()
def incidents(
    ctx: typer.Context,
    status: Annotated[list[IncidentStatus] | None, typer.Option(help="only these statuses (repeatable)")] = None,
    limit: int = 50,
    json_: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """List recent incidents as a table (--json: one incident per line)."""
    if ctx.invoked_subcommand:
        return
    from alertflow.cli.render import incidents_table, print_json_lines

    settings = cli_settings(config)
    params = {"limit": limit, "status": [s.value for s in status or []]}
    found = call_api(settings, "GET", "/incidents", params=params)
    if json_:
        print_json_lines(found)
    else:
        incidents_table(found)


@incidents_app.command("show")
def show_incident(
    incident_id: int,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="timeline entries per page")] = 40,
    cursor: Annotated[int | None, typer.Option(help="start after this entry (the cursor the previous page printed)")] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="every page of the timeline, one after another")] = False,
    json_: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Show one incident and a page of its timeline (40 entries unless --limit; --cursor or --all for more)."""
    from alertflow.cli.render import incident_detail, incident_json, print_json, timeline_page

    pages = incident_pages(cli_settings(config), incident_id, limit, cursor)
    if json_:
        print_json(incident_json(pages if all_pages else [next(pages)]))
        return
    incident_detail(next(pages), incident_id)
    for page in pages if all_pages else ():
        timeline_page(page, incident_id)


@app.command()
def ack(incident_id: int, by: ActorOption = os.environ.get("USER", "cli"), config: ConfigOption = None) -> None:
    """Acknowledge an incident: someone is on it."""
    result = call_api(cli_settings(config), "POST", f"/incidents/{incident_id}/ack", json={"actor": by})
    typer.echo(f"incident {incident_id}: {result['status']} by {result['acknowledged_by']}")


@app.command()
def resolve(incident_id: int, by: ActorOption = os.environ.get("USER", "cli"), config: ConfigOption = None) -> None:
    """Resolve an incident by hand."""
    result = call_api(cli_settings(config), "POST", f"/incidents/{incident_id}/resolve", json={"actor": by})
    typer.echo(f"incident {incident_id}: {result['status']} by {result['resolved_by']}")


app.command()(replay)


def main() -> None:
    try:
        app(prog_name="alertflow")
    except ConfigError as err:  # a rules or config file problem found after start-up began
        typer.secho(str(err), fg="red", err=True)
        sys.exit(2)


if __name__ == "__main__":
    sys.exit(main())
