"""``alertflow failback SERVICE`` and the follow-up every hand-started response shares.

Like ``alertflow run``, these go through the API: the flow run is queued in the
outbox, dispatched to Prefect and recorded in the incident's timeline like an
automatic one. A ``--dry-run`` waits for the run and prints its plan and the
current state (recorded in the timeline too); nothing changes.
"""

from __future__ import annotations

import json
import os
import time
from typing import Annotated, Any

import typer

from alertflow.cli.client import ActorOption, ConfigOption, call_api, cli_settings, incident_pages
from alertflow.config.settings import Settings

DryRunOption = Annotated[bool, typer.Option("--dry-run", help="print the plan and the current state; change nothing")]
PLAN_WAIT_SECONDS = 120.0


def follow_run(settings: Settings, incident_id: int, outbox_id: int, dry_run: bool) -> None:
    """Print the flow run's link once dispatched; for a dry run, wait for its plan and print it."""
    run_id = None
    for _ in range(50):
        rows = call_api(settings, "GET", f"/incidents/{incident_id}")["flow_runs"]
        run_id = next((r["flow_run_id"] for r in rows if r["id"] == outbox_id and r["flow_run_id"]), None)
        if run_id:
            break
        time.sleep(0.2)
    if run_id is None:
        typer.secho("not yet dispatched: Prefect or the worker may be down; it will be sent when they are back", fg="yellow")
        return
    typer.echo(f"flow run: {settings.prefect_ui_url}/runs/flow-run/{run_id}")
    if dry_run:
        entry = wait_for_plan(settings, incident_id, run_id)
        if entry is None:
            typer.secho(f"no plan yet after {PLAN_WAIT_SECONDS:.0f}s; see the flow run", fg="yellow")
            raise typer.Exit(1)
        typer.echo(entry["summary"])
        typer.echo(json.dumps(entry["data"]["plan"], indent=2))


def wait_for_plan(settings: Settings, incident_id: int, run_id: str) -> dict[str, Any] | None:
    deadline = time.monotonic() + PLAN_WAIT_SECONDS
    while time.monotonic() < deadline:
        for entry in (e for page in incident_pages(settings, incident_id, limit=1000) for e in page["timeline"]):
            if entry["data"].get("flow_run_id") == run_id and "plan" in entry["data"]:
                return entry
            if entry["data"].get("flow_run_id") == run_id and entry["data"].get("ended"):
                typer.secho(entry["summary"], fg="red", err=True)
                raise typer.Exit(1)
        time.sleep(0.5)
    return None


def failback(
    service: Annotated[str, typer.Argument(help="the service whose traffic returns to its primary")],
    dry_run: DryRunOption = False,
    by: ActorOption = os.environ.get("USER", "cli"),
    config: ConfigOption = None,
) -> None:
    """Fail a service back to its primary now (checked, verified, rolled back on failure)."""
    settings = cli_settings(config)
    result = call_api(settings, "POST", f"/services/{service}/failback", json={"actor": by, "dry_run": dry_run})
    what = "failback dry run" if dry_run else "failback"
    typer.echo(f"queued {what} of {service} for incident {result['incident_id']} (outbox {result['outbox_id']})")
    follow_run(settings, result["incident_id"], result["outbox_id"], dry_run)
