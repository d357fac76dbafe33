"""The flow runs a batch of decisions queues, written together at the batch's end.

A burst opens many incidents in one batch, each queuing up to four runs and
an announcement of its first page. Queued one at a time that took about ten
statements an incident (the outbox rows, the announcement, the checks for a
pending timeline run and for a run to join): some 5 ms each on SQLite, so
the last incident of a 60-incident batch was decided 0.3 s after the first,
and its page waited with it. Here the batch collects its runs, and ``flush``
writes them with one statement per table: the checks read once for the whole
batch (locked until the transaction ends on PostgreSQL), the outbox rows
inserted together with their ids returned in order, then the announcements
and the timeline entries of incidents that joined another's run
(alertflow/store/shared_runs.py).

The rules are ``Tx.queue_action``'s, applied in decision order: a timeline run
only if none of the incident's is yet to take its last look at the store
(including one this batch queued), a failover or recovery joins a run about to
do the same (including one this batch queued). The decision writer flushes
before anything that reads the outbox mid-batch (a change's timeline check, a
resolve's failback hold) and at the batch's end.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, or_, select

from alertflow.models import Action, FlowName
from alertflow.store import shared_runs
from alertflow.store import tables as t
from alertflow.store.shared_runs import Run, Sharing

if TYPE_CHECKING:
    from alertflow.store.tx import Tx

# A timeline run created this long ago that has not taken its last look at the store is presumed lost (cancelled
# in Prefect, its database wiped): changes stop counting on it and queue a run of their own. Longer than a run
# follows its incident (flows/timeline.py FOLLOW_SECONDS), so a run still following is never taken for lost.
TIMELINE_RUN_LOST_AFTER = timedelta(minutes=20)


class RunQueue:
    def __init__(self, sharing: Mapping[str, Sharing]) -> None:
        self.sharing = sharing  # each shareable runbook's sharing (shared_runs.runbook_sharing)
        self.waiting: list[tuple[int, Action]] = []
        self.tx: Tx | None = None  # the transaction they belong to: a failed one's never reach the next

    def add(self, tx: Tx, incident_id: int, action: Action) -> None:
        if self.tx is not tx:
            self.waiting, self.tx = [], tx
        self.waiting.append((incident_id, action))

    async def flush(self, tx: Tx, at: datetime) -> None:
        """Write what this transaction added since its last flush (see the module docstring)."""
        waiting, self.waiting = self.waiting if self.tx is tx else [], []
        if not waiting:
            return
        timelines = {i for i, action in waiting if action.flow is FlowName.timeline}
        pending = set(await pending_timeline_runs(tx, timelines, at))
        joining = [(i, action) for i, action in waiting if shared_runs.may_join(action, self.sharing)]
        runs = await shared_runs.unsettled_runs(tx, at) if joining else []
        services = await _services(tx, {i for i, _ in joining}) if joining else {}
        rows: list[dict[str, Any]] = []
        joins: list[tuple[int, Run, Action]] = []
        for incident_id, action in waiting:
            if action.flow is FlowName.timeline and incident_id in pending:
                continue  # that run shows this batch's changes
            if (run := shared_runs.run_to_join(runs, action, services.get(incident_id), self.sharing)) is not None:
                joins.append((incident_id, run, action))
                continue
            rows.append(row := outbox_row(incident_id, action, at))
            if action.flow is FlowName.timeline:
                pending.add(incident_id)
            elif shared_runs.may_join(action, self.sharing):
                runs.append(Run(row, services.get(incident_id)))
        await insert_runs(tx, rows, at)
        await tx.add_timeline([shared_runs.joined_entry(i, run, action, at) for i, run, action in joins])


def outbox_row(incident_id: int, action: Action, at: datetime) -> dict[str, Any]:
    """One run's outbox row. Its idempotency key is random, never the row id: Prefect keeps keys, and a fresh
    database must not collide with keys an old one already used. A paging run's episode in the page log is its key."""
    key = uuid.uuid4()
    parameters: dict[str, Any] = {"incident_id": incident_id, "action": action.model_dump(mode="json")}
    if action.flow is FlowName.paging:
        parameters["episode"] = key.hex
    flow = action.flow
    values = {"idempotency_key": str(key), "incident_id": incident_id, "flow": flow.value, "priority": flow.priority}
    return values | {"parameters": parameters, "created_at": at, "next_attempt_at": at}


async def insert_runs(tx: Tx, rows: list[dict[str, Any]], at: datetime) -> None:
    """Insert outbox rows in one statement (each row gets its ``id``), and queue each paging run's first notification
    for the announcer, which sends it without waiting for Prefect (alertflow/paging/announcer.py)."""
    if not rows:
        return
    statement = insert(t.outbox).returning(t.outbox.c.id, sort_by_parameter_order=True)
    for row, outbox_id in zip(rows, (await tx.conn.execute(statement, rows)).scalars(), strict=True):
        row["id"] = outbox_id
    tx.queued += len(rows)
    paging = [row for row in rows if row["flow"] == FlowName.paging.value]
    announcements = [
        {"outbox_id": r["id"], "incident_id": r["incident_id"], "episode": r["parameters"]["episode"], "created_at": at} for r in paging
    ]
    if announcements:
        await tx.conn.execute(insert(t.announcements), announcements)


async def pending_timeline_runs(tx: Tx, incident_ids: set[int], at: datetime) -> dict[int, int]:
    """For each of these incidents that has one, the outbox row of its latest timeline run that has not taken its
    last look at the store (not created in Prefect yet, or created less than ``TIMELINE_RUN_LOST_AFTER`` ago), locked
    until the transaction ends so the run cannot take that look in between."""
    if not incident_ids:
        return {}
    o = t.outbox.c
    query = (
        select(o.incident_id, o.id)
        .where(o.incident_id.in_(incident_ids), o.flow == FlowName.timeline.value, o.final_read_at.is_(None))
        .where(or_(o.dispatched_at.is_(None), o.dispatched_at > at - TIMELINE_RUN_LOST_AFTER))
        .order_by(o.id)
        .with_for_update()
    )
    return {row.incident_id: row.id for row in await tx.conn.execute(query)}


async def _services(tx: Tx, incident_ids: set[int]) -> dict[int, str]:
    i = t.incidents.c
    return dict((await tx.conn.execute(select(i.id, i.service).where(i.id.in_(incident_ids)))).all())
