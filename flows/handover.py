"""Handover: when automation gives up, a person hears why.

One small function for every response flow: it writes an ``escalation``
timeline entry and queues a paging flow run through the outbox, in one
transaction, with the reason and the trimmed detail for the page to say. The
API process's dispatcher sends the row to Prefect like any other (flows never
import the pipeline). Kept deliberately small: escalation policies (who next,
after how long) belong to the paging flow. Once committed, it is an
``alertflow.incident.handed-over`` event for Prefect, and a line in the run's log.
"""

from __future__ import annotations

from alertflow.events import HANDED_OVER
from alertflow.flows.runtime import current_run, emit, run_logger, store, timeline_entry
from alertflow.models import PagingAction, PagingParams, RetryPolicy, TimelineKind

DETAIL_LIMIT = 1000
ESCALATION_RETRY = RetryPolicy(retries=3, exponential_backoff=1)


def trim(text: object, limit: int = DETAIL_LIMIT) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


async def hand_over(incident_id: int, reason: str, detail: str) -> int:
    """Record the escalation and queue a page saying ``reason``; returns the outbox row id."""
    link = current_run()[1]
    detail = trim(detail)
    page_detail = trim(f"{detail} (flow run: {link})" if link else detail, 2000)
    action = PagingAction(params=PagingParams(reason=trim(reason, 500), detail=page_detail), retry=ESCALATION_RETRY)
    entry = timeline_entry(incident_id, TimelineKind.escalation, f"escalated: {reason}", reason=reason, detail=detail)
    async with store().write() as tx:
        await tx.add_timeline([entry])
        outbox_id = await tx.queue_action(incident_id, action, entry.at)
    run_logger().warning("incident %s: %s", incident_id, entry.summary, extra={"incident_id": incident_id})
    await emit(incident_id, HANDED_OVER, summary=entry.summary, reason=reason)
    return outbox_id
