"""The writes that must land together, inside one ``Store.write()`` transaction.

The pipeline applies a batch of decisions (incidents, timeline entries, outbox
rows and the inbox progress mark) through one ``Tx``; an acknowledgement writes
its status change and timeline entry the same way. Either all of it is
committed or none of it is, which is what makes a crash at any point safe.

Queuing a timeline run is where runs are saved: the timeline flow renders
whatever the store holds when it reads it, so a run that has not yet taken its
last look at the store (queued, created in Prefect, or still following the
incident's responses) will show a change committed now, and a second run would
have nothing to add. The check and the queuing happen in the transaction that
writes the change, with the row locked (``FOR UPDATE`` on PostgreSQL; SQLite
has one writer at a time), and the run marks its last look by updating that
row (``close_run``) before reading: whichever commits first, the
change is shown, by the run that was found or by the new one.

Failover and recovery runs are saved the same way (alertflow/store/shared_runs.py):
a response that a queued or running run is about to carry out joins that run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from alertflow.errors import Conflict, NotFound
from alertflow.models import Action, Alert, FlowName, Incident, IncidentStatus, TimelineEntry
from alertflow.store import bulk
from alertflow.store import tables as t
from alertflow.store.run_queue import insert_runs, outbox_row, pending_timeline_runs

# Where each status may go next; resolved is final.
_ALLOWED = {
    IncidentStatus.open: {IncidentStatus.acknowledged, IncidentStatus.mitigated, IncidentStatus.resolved},
    IncidentStatus.acknowledged: {IncidentStatus.mitigated, IncidentStatus.resolved},
    IncidentStatus.mitigated: {IncidentStatus.acknowledged, IncidentStatus.resolved},
    IncidentStatus.resolved: set(),
}


def dialect_insert(conn: AsyncConnection, table: Any) -> Any:
    """An INSERT that can take ON CONFLICT clauses, in the database's own dialect (SQLite or PostgreSQL)."""
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


class Tx:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.queued = 0  # outbox rows this transaction added: flow runs to dispatch once it commits

    async def append_alerts(self, alerts: Sequence[Alert], rows: Sequence[tuple[str, ...]] | None = None) -> list[int]:
        """Add alerts to the inbox; ids in input order (alertflow/store/bulk.py; ``rows`` its ``alert_row``s, if made)."""
        return await bulk.append_inbox(self.conn, alerts, rows)

    async def insert_incident(self, *, key: str, title: str, service: str, severity: str, rule_id: str, at: datetime) -> int:
        values = {"key": key, "title": title[:500], "service": service, "severity": severity, "rule_id": rule_id}
        result = await self.conn.execute(insert(t.incidents).values(**values, status="open", opened_at=at).returning(t.incidents.c.id))
        return result.scalar_one()

    async def open_incident_id(self, key: str) -> int | None:
        query = select(t.incidents.c.id).where(t.incidents.c.key == key, t.incidents.c.status != "resolved")
        return (await self.conn.execute(query)).scalar_one_or_none()

    async def get_incident(self, incident_id: int) -> Incident:
        row = (await self.conn.execute(select(t.incidents).where(t.incidents.c.id == incident_id))).first()
        if row is None:
            raise NotFound(f"incident {incident_id} does not exist")
        return Incident.model_validate(row._mapping)

    async def update_incident(self, incident_id: int, **values: Any) -> None:
        await self.conn.execute(update(t.incidents).where(t.incidents.c.id == incident_id).values(**values))

    async def transition(self, incident_id: int, to: IncidentStatus, actor: str, at: datetime) -> Incident | None:
        """Move an incident to ``to``; None when it is already there (so commands are idempotent)."""
        incident = await self.get_incident(incident_id)
        if incident.status is to:
            return None
        if incident.status is IncidentStatus.resolved:
            raise Conflict(f"incident {incident_id} is already resolved")
        if to not in _ALLOWED[incident.status]:
            return None
        values: dict[str, Any] = {"status": to.value}
        if to is IncidentStatus.acknowledged:
            values.update(acknowledged_at=at, acknowledged_by=actor)
        elif to is IncidentStatus.resolved:
            values.update(resolved_at=at, resolved_by=actor)
        await self.update_incident(incident_id, **values)
        return incident.model_copy(update={**values, "status": to})

    async def upsert_incident_alerts(self, rows: Sequence[dict[str, Any]]) -> None:
        """Record alerts in incidents, one statement for a whole batch; rows are incident_alerts rows."""
        if rows:
            await bulk.upsert_incident_alerts(self.conn, rows)

    async def add_timeline(self, entries: Sequence[TimelineEntry]) -> None:
        if entries:
            await self.conn.execute(insert(t.timeline), [entry.model_dump(mode="python") for entry in entries])

    async def add_timeline_entry(self, entry: TimelineEntry) -> int:
        """One entry whose row is updated later (a storm's folded alerts); returns its id."""
        result = await self.conn.execute(insert(t.timeline).values(**entry.model_dump(mode="python")).returning(t.timeline.c.id))
        return result.scalar_one()

    async def update_timeline_entry(self, entry_id: int, summary: str, data: dict[str, Any]) -> None:
        await self.conn.execute(update(t.timeline).where(t.timeline.c.id == entry_id).values(summary=summary, data=data))

    async def write_engine_state(self, rows: Sequence[tuple[str, str, dict[str, Any] | None]]) -> None:
        """Save what the engine changed: upsert rows with a state, delete rows without one."""
        upserts = [(kind, key, state) for kind, key, state in rows if state is not None]
        if upserts:
            await bulk.upsert_engine_state(self.conn, upserts)
        deletes: dict[str, list[str]] = {}
        for kind, key, state in rows:
            if state is None:
                deletes.setdefault(kind, []).append(key)
        for kind, keys in deletes.items():
            await self.conn.execute(delete(t.engine_state).where(t.engine_state.c.kind == kind, t.engine_state.c.key.in_(keys)))

    async def reopen_incident(self, incident_id: int) -> None:
        values = {
            "status": IncidentStatus.open.value,
            "resolved_at": None,
            "resolved_by": None,
            "acknowledged_at": None,
            "acknowledged_by": None,
        }
        await self.update_incident(incident_id, **values)

    async def add_silence(self, silence: dict[str, Any]) -> int:
        result = await self.conn.execute(insert(t.silences).values(**silence).returning(t.silences.c.id))
        return result.scalar_one()

    async def expire_silence(self, silence_id: int, at: datetime) -> bool:
        """End a silence now; False when it does not exist or had already ended."""
        query = update(t.silences).where(t.silences.c.id == silence_id, t.silences.c.ends_at > at).values(ends_at=at)
        return (await self.conn.execute(query)).rowcount == 1

    async def queue_action(self, incident_id: int, action: Action, at: datetime) -> int:
        """Queue one response flow run now: the outbox row the dispatcher will send to Prefect; its id.

        A timeline run is queued only if no run of the incident's timeline is yet to take its last
        look at the store; if one is, that one shows this transaction's changes, and its row's id is
        returned. A paging action is also queued for announcement, in the same transaction: its first
        notification leaves from the API process at once, whatever Prefect is doing, and the
        paging run that follows shares its episode in the page log, so it never sends it again.
        (The pipeline queues a batch's runs together, and there a rule's failover or recovery may
        join another incident's run: alertflow/store/run_queue.py.)
        """
        if action.flow is FlowName.timeline and (pending := await self.pending_timeline_run(incident_id, at)) is not None:
            return pending
        row = outbox_row(incident_id, action, at)
        await insert_runs(self, [row], at)
        return int(row["id"])

    async def pending_timeline_run(self, incident_id: int, at: datetime) -> int | None:
        """The outbox row of a timeline run of the incident yet to take its last look at the store, locked
        (alertflow/store/run_queue.py ``pending_timeline_runs``)."""
        return (await pending_timeline_runs(self, {incident_id}, at)).get(incident_id)

    async def has_timeline_run(self, incident_id: int) -> bool:
        """Whether a timeline run was ever queued for the incident (its rule's timeline action became due)."""
        query = select(t.outbox.c.id).where(t.outbox.c.incident_id == incident_id, t.outbox.c.flow == FlowName.timeline.value)
        return (await self.conn.execute(query.limit(1))).first() is not None

    async def close_run(self, idempotency_key: str, at: datetime) -> None:
        """The run of this outbox row is done with what later decisions could count on: a timeline run takes
        its last look at the store, a failover run has settled its move. A change (a failover) committed after
        this queues a new run. It waits for a transaction that found the row pending to commit."""
        o = t.outbox.c
        await self.conn.execute(
            update(t.outbox).where(o.idempotency_key == idempotency_key, o.final_read_at.is_(None)).values(final_read_at=at)
        )

    async def take_lock(self, name: str, holder: str, at: datetime, ttl_seconds: float) -> str:
        """Take the named lease, or renew it if ``holder`` has it, unless another holder has it
        unexpired; returns who holds it now."""
        await self.conn.execute(delete(t.locks).where(t.locks.c.name == name, t.locks.c.expires_at < at))
        expires_at = at + timedelta(seconds=ttl_seconds)
        statement = dialect_insert(self.conn, t.locks).values(name=name, holder=holder, acquired_at=at, expires_at=expires_at)
        statement = statement.on_conflict_do_update(
            index_elements=["name"], set_={"expires_at": statement.excluded.expires_at}, where=t.locks.c.holder == holder
        )
        await self.conn.execute(statement)
        return (await self.conn.execute(select(t.locks.c.holder).where(t.locks.c.name == name))).scalar_one()

    async def mark_processed(self, inbox_ids: Sequence[int], at: datetime, error: str | None = None) -> None:
        if inbox_ids:
            await bulk.mark_processed(self.conn, inbox_ids, at, error)
