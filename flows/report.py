"""The weekly report as a Prefect markdown artifact (``alertflow-report``), on a schedule of the worker's own.

The same numbers as ``alertflow report`` (alertflow/store/reports.py: MTTA, MTTR,
pages and after-hours pages per person, escalations, flapping, the noisiest
alerts), published under one artifact key so the Prefect UI's Artifacts page
keeps every week's version. The worker serves the deployment with a cron
schedule (``reports.schedule``, Mondays 08:00 by default, in
``reports.time_zone``) and runs it in-process like a response flow. A run also
refreshes the open-incidents table (flows/console.py).
"""

from __future__ import annotations

from datetime import datetime, timezone

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron
from prefect.types.entrypoint import EntrypointType

from alertflow.config.settings import Settings
from alertflow.flows.console import refresh_open_incidents
from alertflow.flows.runtime import settings, store
from alertflow.store.report_fields import AfterHours, Report, report_tables, report_window
from alertflow.store.reports import build_report

KEY = "alertflow-report"
FLOW_NAME = "report"


def deployment_name(config: Settings) -> str:
    """``alertflow-report`` for the default ``deployment_name``: one per installation sharing a Prefect server."""
    return f"{config.deployment_name}-report"


def report_markdown(report: Report) -> str:
    scope = f"service **{report.service}**" if report.service else "every service"
    lines = [
        f"# alertflow report: {report.since:%Y-%m-%d %H:%M} to {report.until:%Y-%m-%d %H:%M} UTC",
        "",
        f"Incidents opened and pages sent in this window, {scope}. MTTA and MTTR are p50 / p90 from opening; "
        f"after hours: {report.after_hours}. Fields: docs/reports.md.",
    ]
    for title, header, rows in report_tables(report):
        lines += ["", f"## {title}", ""]
        if not rows:
            lines.append("none")
            continue
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


@flow(name=FLOW_NAME, flow_run_name="weekly-report", retries=1, retry_delay_seconds=30)
async def publish_report(window: str | None = None, service: str | None = None) -> str:
    """Publish the report over the last ``window`` (default ``reports.window``, 7d) as the ``alertflow-report`` artifact."""
    config = settings()
    span = report_window(window) if window else config.reports.window
    until = datetime.now(timezone.utc)
    report = await build_report(store(), until - span, until, service, AfterHours.of(config), config.reports.noisy_alerts)
    description = f"{report.totals.incidents} incidents, {report.totals.pages} pages ({report.totals.after_hours_pages} after hours)"
    await acreate_markdown_artifact(key=KEY, markdown=report_markdown(report), description=description)
    await refresh_open_incidents(until, wait=False)
    return KEY


async def report_deployment(config: Settings) -> RunnerDeployment:
    """The scheduled deployment the worker serves next to the response flows."""
    return await publish_report.ato_deployment(
        name=deployment_name(config),
        description="alertflow's weekly report as a markdown artifact (served by `alertflow worker`; docs/reports.md)",
        tags=["alertflow"],
        schedule=Cron(config.reports.schedule, timezone=config.reports.time_zone),
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
