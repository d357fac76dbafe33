"""An incident in a few lines, and the incidents still open: what heads a timeline artifact and fills the console.

Why: a timeline answers "what happened, in order"; the person reading it after
the fact first asks how long it lasted, how soon someone answered, what the
automation did and who did what. Those answers are spread over the incident
row, its response runs, its page log and its timeline; this module reads them
in a handful of bounded queries (never the whole timeline: a storm's can be
long), for flows/timeline.py and the ``open-incidents`` artifact. That artifact
is shared by every timeline run, so runs take turns to publish it (``take_turn``,
a lease in the ``locks`` table): one version every few seconds, not one per change.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from pydantic import AwareDatetime, BaseModel
from sqlalchemy import select

from alertflow.models import Incident, IncidentStatus, TimelineKind
from alertflow.store import tables as t
from alertflow.store.database import Store
from alertflow.store.report_fields import page_kind, person_of

PEOPLE_SHOWN = 20  # people's timeline entries in a summary; the timeline has them all


class Deed(BaseModel):
    at: AwareDatetime
    actor: str
    what: str


class IncidentSummary(BaseModel):
    incident: Incident
    as_of: AwareDatetime
    duration_seconds: float  # opened → resolved, or → as_of while not resolved
    time_to_ack_seconds: float | None
    runs: dict[str, dict[str, int]]  # flow → how its runs ended (Completed, Failed, ...; "running", "queued") → count
    pages: int  # pages sent (one per step and person, however many notifiers)
    paged: list[str]  # who, first paged first
    escalated_past_step_1: bool
    deeds: list[Deed]  # what people (and senders) did: acknowledgements, resolves, requested runs, escalate-now


class OpenIncident(BaseModel):
    incident: Incident
    runs: dict[str, str]  # flow → its latest flow run's id


async def incident_summary(store: Store, incident_id: int, now: datetime) -> IncidentSummary:
    incident = await store.get_incident(incident_id, fingerprint_limit=0)
    ended = {
        e.data.get("flow_run_id"): e.data.get("state", "ended")
        for e in await store.get_timeline(incident_id, kinds=[TimelineKind.flow])
        if e.data.get("ended")
    }
    runs: dict[str, Counter[str]] = {}
    for row in await store.outbox_for(incident_id):
        if row["flow"] != "timeline":
            state = ended.get(row["flow_run_id"], "running" if row["flow_run_id"] else "queued")
            runs.setdefault(row["flow"], Counter())[state] += 1
    pages = select(t.pages.c.episode, t.pages.c.step, t.pages.c.recipient, t.pages.c.status).where(t.pages.c.incident_id == incident_id)
    people = (
        select(t.timeline.c.at, t.timeline.c.actor, t.timeline.c.summary)
        .where(t.timeline.c.incident_id == incident_id, t.timeline.c.actor != "system", t.timeline.c.actor.not_like("flow-run:%"))
        .order_by(t.timeline.c.at, t.timeline.c.id)
        .limit(PEOPLE_SHOWN)
    )
    async with store.read() as conn:
        page_rows = (await conn.execute(pages.order_by(t.pages.c.claimed_at, t.pages.c.id))).all()
        deeds = [Deed(at=r.at, actor=r.actor, what=r.summary) for r in await conn.execute(people)]
    delivered = [r for r in page_rows if r.status == "sent" and page_kind(r.step)]
    sent = {(r.episode, r.step.rsplit(".", 1)[0], person_of(r.recipient)) for r in delivered}
    paged = list(dict.fromkeys(person_of(r.recipient) for r in delivered))
    end = incident.resolved_at if incident.status is IncidentStatus.resolved and incident.resolved_at else now
    acked = incident.acknowledged_at
    return IncidentSummary(
        incident=incident, as_of=now, duration_seconds=max((end - incident.opened_at).total_seconds(), 0.0),
        time_to_ack_seconds=max((acked - incident.opened_at).total_seconds(), 0.0) if acked else None,
        runs={flow: dict(states) for flow, states in runs.items()}, pages=len(sent), paged=paged,
        escalated_past_step_1=any(page_kind(r.step) == "escalation" for r in page_rows), deeds=deeds,
    )  # fmt: skip


async def open_incidents(store: Store, limit: int = 200) -> list[OpenIncident]:
    """Incidents not resolved, newest first, each with its response flows' latest runs."""
    statuses = [IncidentStatus.open, IncidentStatus.acknowledged, IncidentStatus.mitigated]
    incidents = await store.list_incidents(statuses, limit=limit)
    if not incidents:
        return []
    query = (
        select(t.outbox.c.incident_id, t.outbox.c.flow, t.outbox.c.flow_run_id)
        .where(t.outbox.c.incident_id.in_([i.id for i in incidents]), t.outbox.c.flow_run_id.is_not(None))
        .order_by(t.outbox.c.id)
    )
    runs: dict[int, dict[str, str]] = {i.id: {} for i in incidents}
    async with store.read() as conn:
        for row in await conn.execute(query):
            runs[row.incident_id][row.flow] = row.flow_run_id  # the latest wins
    return [OpenIncident(incident=i, runs=runs[i.id]) for i in incidents]


async def take_turn(store: Store, name: str, holder: str, now: datetime, every_seconds: float) -> tuple[bool, datetime]:
    """Whether ``holder`` may publish the shared artifact ``name`` now (at most once every ``every_seconds``, across
    every process), and when the current turn began: a turn that began after a change will show it."""
    async with store.write() as tx:
        ours = await tx.take_lock(f"publish:{name}", holder, now, every_seconds) == holder
        began = (await tx.conn.execute(select(t.locks.c.acquired_at).where(t.locks.c.name == f"publish:{name}"))).scalar_one()
    return ours, began
