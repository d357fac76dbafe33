"""The incident timeline: every event and action, in order, in the store and the Prefect UI.

Entries are written where things happen (the pipeline for alerts and rule
matches, each response flow for its own steps, the API for acks). This module
renders them into one markdown artifact keyed by the incident, so the Prefect
UI's Artifacts page always shows the latest picture, and gives the response
flows lifecycle hooks that record "started / succeeded / failed" and refresh
that artifact.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact

from alertflow.models import Incident, TimelineAction, TimelineEntry, TimelineKind, timestamp
from flows.runtime import io_task, record, store, with_retry


def artifact_key(incident_id: int) -> str:
    return f"incident-{incident_id}-timeline"


def render_markdown(incident: Incident, entries: list[TimelineEntry]) -> str:
    lines = [
        f"# Incident #{incident.id}: {_cell(incident.title)}",
        "",
        f"**Status:** {incident.status.value} · **Severity:** {incident.severity.value} · "
        f"**Service:** {_cell(incident.service)} · **Rule:** {incident.rule_id} · **Opened:** {timestamp(incident.opened_at)}",
        "",
        "| Time (UTC) | Kind | Event | Actor |",
        "|---|---|---|---|",
    ]
    for entry in entries:
        lines.append(f"| {timestamp(entry.at)} | {entry.kind.value} | {_cell(entry.summary)} | {_cell(entry.actor)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").splitlines())


async def publish_timeline(incident_id: int) -> str:
    """Render the incident's timeline from the store into its markdown artifact."""
    incident = await store().get_incident(incident_id)
    entries = await store().get_timeline(incident_id)
    await acreate_markdown_artifact(
        key=artifact_key(incident_id),
        markdown=render_markdown(incident, entries),
        description=f"Timeline of incident #{incident_id} ({incident.status.value})",
    )
    return artifact_key(incident_id)


publish_timeline_task = io_task(publish_timeline)


@flow(name="timeline", flow_run_name="timeline-incident-{incident_id}", retries=1, retry_delay_seconds=2)
async def record_timeline(incident_id: int, action: TimelineAction = TimelineAction()) -> str:
    """Publish the incident's timeline as a Prefect artifact (run on open, ack and resolve)."""
    return await with_retry(publish_timeline_task, action.retry)(incident_id)


def _lifecycle_hook(verb: str) -> Any:
    async def hook(flow: Any, flow_run: Any, state: Any) -> None:
        incident_id = flow_run.parameters.get("incident_id")
        if incident_id is None:
            return
        summary = f"{flow.name} flow {verb}"
        if state.is_failed() or state.is_crashed():
            summary += f": {state.message}"
        await record(int(incident_id), TimelineKind.flow, summary, flow_run.id, flow=flow.name, flow_run=flow_run.name, state=state.name)
        if verb != "started":
            await publish_timeline(int(incident_id))

    hook.__name__ = f"record_{verb.replace(' ', '_')}"
    return hook


# Passed to each response flow's decorator: @flow(..., **LIFECYCLE_HOOKS)
LIFECYCLE_HOOKS: dict[str, list[Any]] = {
    "on_running": [_lifecycle_hook("started")],
    "on_completion": [_lifecycle_hook("succeeded")],
    "on_failure": [_lifecycle_hook("failed")],
    "on_crashed": [_lifecycle_hook("crashed")],
    "on_cancellation": [_lifecycle_hook("cancelled")],
}
