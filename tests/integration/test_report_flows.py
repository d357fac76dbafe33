"""The report's Prefect artifacts on the real Prefect server: the weekly report, the summary heading a timeline,
the open-incidents table and how often it changes, and the scheduled deployment the worker serves."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from alertflow.config.settings import load_settings
from alertflow.flows import page_oncall, publish_report, record_timeline
from alertflow.flows.console import KEY as OPEN_INCIDENTS
from alertflow.flows.console import refresh_open_incidents
from alertflow.flows.timeline import artifact_key
from alertflow.models import IncidentStatus, TimelineAction, TimelineEntry, TimelineKind
from alertflow.store.database import Store
from alertflow.worker.runner import build_deployments

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_server")]


@pytest.fixture
async def opened(sandbox, make_config):  # type: ignore[no-untyped-def]
    """A store on this test's config, and a function opening a checkout incident ``ago`` before now."""
    settings = load_settings(make_config(sandbox, reports={"open_incidents_seconds": 1}))
    store = Store(settings.resolved_database_url)
    await store.upgrade()

    async def open_incident(ago: timedelta, title: str = "checkout API down") -> tuple[int, datetime]:
        at = datetime.now(timezone.utc) - ago
        async with store.write() as tx:
            key = f"service-down|{title}"
            return await tx.insert_incident(
                key=key, title=title, service="checkout", severity="critical", rule_id="service-down", at=at
            ), at

    yield store, open_incident
    await store.dispose()


async def act(store: Store, incident_id: int, to: IncidentStatus, actor: str, at: datetime) -> None:
    """Acknowledge or resolve as a person does: the incident row and the timeline entry the pipeline writes."""
    async with store.write() as tx:
        await tx.transition(incident_id, to, actor, at)
        entry = TimelineEntry(incident_id=incident_id, at=at, kind=TimelineKind.ack, summary=f"{to.value} by {actor}", actor=actor)
        await tx.add_timeline([entry])


async def latest(key: str) -> list:  # type: ignore[type-arg]
    async with get_client() as client:
        return await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), sort="CREATED_DESC")


async def test_report_flow_publishes_the_report_as_markdown(opened) -> None:  # type: ignore[no-untyped-def]
    """The report flow publishes the alertflow-report artifact: the service's row with its MTTA and MTTR, the person paged."""
    store, open_incident = opened
    incident_id, at = await open_incident(timedelta(hours=2))
    await page_oncall(incident_id)
    await act(store, incident_id, IncidentStatus.acknowledged, "alice", at + timedelta(seconds=90))
    await act(store, incident_id, IncidentStatus.resolved, "alice", at + timedelta(minutes=30))
    assert await publish_report(window="7d") == "alertflow-report"
    [artifact, *_] = await latest("alertflow-report")
    assert artifact.type == "markdown" and "# alertflow report:" in artifact.data
    assert "| checkout | service-down | 1 | 1 | 1m 30s / 1m 30s | 1 | 30m 00s / 30m 00s | 1 (" in artifact.data, artifact.data
    assert "| #oncall | 1 |" in artifact.data and "## Noisiest alerts" in artifact.data


async def test_timeline_artifact_opens_with_the_incident_summary(opened) -> None:  # type: ignore[no-untyped-def]
    """The timeline artifact starts with the summary: duration, time to acknowledge and by whom, runs, pages, who did what."""
    store, open_incident = opened
    incident_id, at = await open_incident(timedelta(minutes=20))
    await page_oncall(incident_id)
    await act(store, incident_id, IncidentStatus.acknowledged, "alice", at + timedelta(minutes=2))
    await act(store, incident_id, IncidentStatus.resolved, "bob", at + timedelta(minutes=12, seconds=5))
    await record_timeline(incident_id, TimelineAction())
    [artifact, *_] = await latest(artifact_key(incident_id))
    summary, timeline = artifact.data.split("## Timeline")
    assert "| Duration | 12m 05s |" in summary and "| Time to acknowledge | 2m 00s, by alice |" in summary
    assert "| Pages | 1 to #oncall |" in summary
    assert "**alice**: acknowledged by alice" in summary and "**bob**: resolved by bob" in summary
    assert "paged #oncall on Slack" in timeline


@pytest.mark.filterwarnings("ignore:Artifact creation outside of a flow:FutureWarning")  # the timeline flow calls it in production
async def test_open_incidents_table_is_coalesced_and_links_each_incident(opened) -> None:  # type: ignore[no-untyped-def]
    """Open incidents only, newest first, each linking to its timeline; a change inside a turn waits for the next
    turn (1 s here) instead of adding a version per change, and a change a turn already covers adds none."""
    store, open_incident = opened
    first, _ = await open_incident(timedelta(minutes=5), "first")
    second, _ = await open_incident(timedelta(minutes=1), "second")
    await act(store, first, IncidentStatus.resolved, "alice", datetime.now(timezone.utc))
    before = len(await latest(OPEN_INCIDENTS))
    assert await refresh_open_incidents(datetime.now(timezone.utc), wait=False)
    assert not await refresh_open_incidents(datetime.now(timezone.utc), wait=False), "within the turn: left to a later refresh"
    changed = datetime.now(timezone.utc)
    started = datetime.now(timezone.utc)
    assert await refresh_open_incidents(changed, wait=True), "the change waits for the next turn"
    assert timedelta(seconds=0.5) < datetime.now(timezone.utc) - started < timedelta(seconds=3)
    assert not await refresh_open_incidents(changed, wait=True), "the turn that just began covers the same change"
    versions = await latest(OPEN_INCIDENTS)
    assert len(versions) == before + 2
    rows = versions[0].data if isinstance(versions[0].data, list) else json.loads(versions[0].data)
    assert [row["incident"] for row in rows] == [f"#{second}"] and rows[0]["title"] == "second"
    assert rows[0]["timeline"].endswith(f"/artifacts/key/{artifact_key(second)}")


async def test_worker_serves_the_weekly_report_deployment(sandbox, make_config) -> None:  # type: ignore[no-untyped-def]
    """The worker's deployments end with report/alertflow-report on the configured cron, which Prefect accepts."""
    settings = load_settings(make_config(sandbox, reports={"schedule": "30 7 * * 1", "time_zone": "Europe/Berlin"}))
    deployment = (await build_deployments(settings))[-1]
    assert (deployment.flow_name, deployment.name) == ("report", "alertflow-report")
    deployment_id = await deployment.aapply()
    async with get_client() as client:
        stored = await client.read_deployment(deployment_id)
    [schedule] = stored.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("30 7 * * 1", "Europe/Berlin")
