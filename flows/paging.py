"""Paging: tell the on-call person, on Slack, that an incident needs them.

v1 posts one Slack message per incident through slack-sdk, retried by the
action's policy, and records the page (channel and message ts, so later flows
can update it in place). A page for an incident already acknowledged or
resolved is skipped and says so: notifications never continue after an ack.
"""

from __future__ import annotations

from prefect import flow

from alertflow.models import IncidentStatus, PagingAction, TimelineKind
from flows.runtime import current_run, io_task, record, settings, store, with_retry
from flows.timeline import LIFECYCLE_HOOKS
from integrations.slack import MessageRef, PageMessage, SlackNotifier


@io_task
async def send_page(message: PageMessage, channel: str | None) -> MessageRef:
    return await SlackNotifier(settings().slack).send(message, channel)


@flow(name="paging", flow_run_name="paging-incident-{incident_id}", **LIFECYCLE_HOOKS)
async def page_oncall(incident_id: int, action: PagingAction = PagingAction()) -> dict[str, str] | None:
    """Page the on-call channel for an incident; returns the Slack message reference."""
    incident = await store().get_incident(incident_id)
    # An escalation (a response flow gave up, with a reason) is news even to whoever acknowledged.
    if incident.status in (IncidentStatus.acknowledged, IncidentStatus.resolved) and not action.params.reason:
        await record(incident_id, TimelineKind.page, f"page skipped: incident already {incident.status.value}")
        return None
    _, link = current_run()
    message = PageMessage(
        incident_id=incident.id,
        title=incident.title,
        severity=incident.severity,
        service=incident.service,
        status=incident.status.value,
        link=link,
        reason=action.params.reason,
        detail=action.params.detail,
    )
    ref = await with_retry(send_page, action.retry)(message, action.params.channel)
    await record(
        incident_id,
        TimelineKind.page,
        f"paged {action.params.channel or settings().slack.channel} on Slack"
        + (f": {action.params.reason}" if action.params.reason else ""),
        channel=ref.channel,
        ts=ref.ts,
    )
    return ref.model_dump()
