"""The incident timeline: every event and action, in order, in the store and the Prefect UI.

Entries are written where things happen (the pipeline for alerts and rule
matches, each response flow for its own steps, the API for acks). This module
renders them into one markdown artifact keyed by the incident, so the Prefect
UI's Artifacts page always shows the latest picture, and gives the response
flows lifecycle hooks that record "started / succeeded / failed". Only the
timeline flow talks to Prefect about it: it follows the incident until its
responses end, so a quick incident costs one artifact version, not one per flow.
The artifact is bounded like every other view of a timeline: its first and
last entries, and how many lie between (``alertflow incidents show`` pages
through them all); a summary heads it (flows/summary.py), and each run
refreshes the open-incidents table (flows/console.py).

A run shows every change committed before its last look at the store, which
it marks on its outbox row first (``close_run``); until then the
pipeline queues no second timeline run for the incident (alertflow/store/tx.py).
A run that ends without that look (failed, crashed, cancelled) marks it too,
so the next change gets a run of its own.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Any

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact
from prefect.context import FlowRunContext

from alertflow.flows.console import refresh_open_incidents
from alertflow.flows.runtime import HANDED_OVER, artifact_key, io_task, record, store, with_retry
from alertflow.flows.summary import summary_markdown
from alertflow.models import Incident, TimelineAction, TimelineEntry, TimelineKind, timestamp
from alertflow.store.summary import incident_summary

ARTIFACT_HEAD = 100  # entries from the start of the timeline in the artifact: what happened first
ARTIFACT_TAIL = 100  # and from its end: what happens now


def render_markdown(
    incident: Incident, entries: list[TimelineEntry], tail: list[TimelineEntry] | None = None, omitted: int = 0, summary: str = ""
) -> str:
    """The incident, its ``summary`` and ``entries``; with ``omitted``, a row saying how many entries lie between them and ``tail``."""
    lines = [
        f"# Incident #{incident.id}: {_cell(incident.title)}",
        "",
        f"**Status:** {incident.status.value} · **Severity:** {incident.severity.value} · "
        f"**Service:** {_cell(incident.service)} · **Rule:** {incident.rule_id} · **Opened:** {timestamp(incident.opened_at)}",
        "",
        *([summary, "## Timeline", ""] if summary else []),
        "| Time (UTC) | Kind | Event | Actor |",
        "|---|---|---|---|",
    ]
    lines += [_row(entry) for entry in entries]
    if omitted:
        lines.append(f"| … | | {omitted:,} more entries; `alertflow incidents show {incident.id} --all` lists them | |")
    lines += [_row(entry) for entry in tail or []]
    return "\n".join(lines) + "\n"


def _row(entry: TimelineEntry) -> str:
    return f"| {timestamp(entry.at)} | {entry.kind.value} | {_cell(entry.summary)} | {_cell(entry.actor)} |"


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").splitlines())


async def publish_timeline(incident_id: int) -> str:
    """Render the incident's timeline from the store into its markdown artifact."""
    incident = await store().get_incident(incident_id, fingerprint_limit=0)
    total = await store().timeline_count(incident_id)
    head = (await store().timeline_page(incident_id, ARTIFACT_HEAD)).entries
    tail = await store().timeline_tail(incident_id, min(ARTIFACT_TAIL, max(total - len(head), 0)))
    summary = summary_markdown(await incident_summary(store(), incident_id, datetime.now(timezone.utc)))
    await acreate_markdown_artifact(
        key=artifact_key(incident_id),
        markdown=render_markdown(incident, head, tail, omitted=max(total - len(head) - len(tail), 0), summary=summary),
        description=f"Timeline of incident #{incident_id} ({incident.status.value})",
    )
    return artifact_key(incident_id)


publish_timeline_task = io_task(publish_timeline)

FOLLOW_SECONDS = 900.0  # the longest a timeline run keeps following the incident's responses
REPUBLISH_SECONDS = 10.0  # while responses run, changes reach the artifact at most this often
POLL_SECONDS = 1.0


def running_responses(outbox: list[dict[str, Any]], entries: list[TimelineEntry]) -> int:
    """Response flows queued for the incident that have not recorded their end yet."""
    ended = {e.data.get("flow_run_id") for e in entries if e.kind is TimelineKind.flow and e.data.get("ended")}
    return sum(1 for row in outbox if row["flow"] != "timeline" and (row["flow_run_id"] is None or row["flow_run_id"] not in ended))


async def close_run(flow_run: Any = None) -> None:
    """Mark on the run's outbox row (the current run's by default) that later changes cannot count on it any more (a
    timeline run's last look at the store, a failover run's settled move; alertflow/store/tx.py); none for a run
    started by hand in Prefect."""
    if flow_run is None and (context := FlowRunContext.get()) is not None:
        flow_run = context.flow_run
    if flow_run is not None and flow_run.idempotency_key:
        async with store().write() as tx:
            await tx.close_run(flow_run.idempotency_key, datetime.now(timezone.utc))


async def _closed_on_end(flow: Any, flow_run: Any, state: Any) -> None:
    await close_run(flow_run)


@flow(
    name="timeline", flow_run_name="timeline-incident-{incident_id}", retries=1, retry_delay_seconds=2,
    on_failure=[_closed_on_end], on_crashed=[_closed_on_end], on_cancellation=[_closed_on_end],
)  # fmt: skip
async def record_timeline(incident_id: int, action: TimelineAction = TimelineAction()) -> str:
    """Publish the incident's timeline as a Prefect artifact, and keep it current until the
    responses now running have ended: one artifact version for a quick incident, a fresh one
    every few seconds for a long one. Queued on open and after a change that no pending run
    will show (docs/responses.md)."""
    publish = with_retry(publish_timeline_task, action.retry)
    started = last_publish = time.monotonic()
    published = -1
    while True:
        flow_entries = await store().get_timeline(incident_id, kinds=[TimelineKind.flow])
        running = running_responses(await store().outbox_for(incident_id), flow_entries)
        now = time.monotonic()
        if not running or now - started >= FOLLOW_SECONDS:
            break
        count = await store().timeline_count(incident_id)  # a change to publish; a fold's update is caught by the next one
        if count != published and now - last_publish >= REPUBLISH_SECONDS:
            await publish(incident_id)
            published, last_publish = count, now
            await refresh_open_incidents(datetime.now(timezone.utc), wait=False)
        await asyncio.sleep(POLL_SECONDS)
    await close_run()  # from here on, a change queues a new run
    looked = datetime.now(timezone.utc)
    if await store().timeline_count(incident_id) != published:
        await publish(incident_id)
    await refresh_open_incidents(looked, wait=True)  # the open-incidents table shows this run's incident as it is now
    return artifact_key(incident_id)


def _lifecycle_hook(verb: str, ended: bool) -> Any:
    async def hook(flow: Any, flow_run: Any, state: Any) -> None:
        incident_id = flow_run.parameters.get("incident_id")
        if incident_id is None:
            return
        summary, over = f"{flow.name} flow {verb}", ended
        if str(flow_run.id) in HANDED_OVER:  # not an end: the worker is stopping and the run goes on elsewhere
            summary, over = f"{flow.name} flow handed over: its worker is stopping; it continues on the next worker", False
        elif state.is_failed() or state.is_crashed():
            summary += f": {state.message}"
        data = {"flow": flow.name, "flow_run": flow_run.name, "state": state.name, "ended": over}
        await record(int(incident_id), TimelineKind.flow, summary, flow_run.id, **data)

    hook.__name__ = f"record_{verb}"
    return hook


# Passed to each response flow's decorator: @flow(..., **LIFECYCLE_HOOKS). The timeline
# flow follows these entries and publishes them; hooks themselves only write to the store.
LIFECYCLE_HOOKS: dict[str, list[Any]] = {
    "on_running": [_lifecycle_hook("started", ended=False)],
    "on_completion": [_lifecycle_hook("succeeded", ended=True)],
    "on_failure": [_lifecycle_hook("failed", ended=True)],
    "on_crashed": [_lifecycle_hook("crashed", ended=True)],
    "on_cancellation": [_lifecycle_hook("cancelled", ended=True)],
}
