"""Durable state behind every promise alertflow makes, on SQLite or PostgreSQL.

How connections and transactions work on each (durable commits, one writer at
a time on SQLite) is alertflow/store/connections.py; the statements intake and
the pipeline's storm path run most go straight to the driver (bulk.py).

Reads and single writes are methods of ``Store``; multi-step writes that must
land together (the pipeline's decisions, an acknowledgement and its timeline
entry) use ``Store.write()``, which yields a ``Tx`` (see alertflow/store/tx.py).
The schema is Alembic's: ``Store.upgrade()`` and ``Store.check_schema()`` are
in alertflow/store/schema.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, func, select, update

from alertflow.errors import Conflict, NotFound
from alertflow.models import Alert, Incident, IncidentStatus, Silence, TimelineEntry
from alertflow.store import tables as t
from alertflow.store.connections import Connections
from alertflow.store.firing import FiringReads
from alertflow.store.schema import SchemaVersions
from alertflow.store.shared_runs import joined_incidents
from alertflow.store.timeline import TimelineReads
from alertflow.store.wakeups import INBOX, notify


@dataclass(frozen=True)
class StoredAlert:
    id: int
    alert: Alert


@dataclass(frozen=True)
class OutboxRow:
    id: int
    idempotency_key: str
    incident_id: int
    flow: str
    parameters: dict[str, Any]
    attempts: int


class Store(Connections, TimelineReads, FiringReads, SchemaVersions):
    """Reads and single writes; ``write()`` for the writes that land together (connections.py)."""

    # -- inbox ---------------------------------------------------------------

    async def append_alerts(self, alerts: Sequence[Alert]) -> list[int]:
        """Commit alerts to the inbox in one transaction; ids in input order."""
        if not alerts:
            return []
        if not self.is_sqlite or self.engine.url.database not in (None, "", ":memory:"):
            return await self.inbox_writer.append(alerts)  # one trip (alertflow/store/inbox.py)
        async with self.write() as tx:
            await notify(tx.conn, INBOX)  # the pipeline leader may be another process
            return await tx.append_alerts(alerts)

    async def pending_alerts(self, limit: int, known: Mapping[int, Alert] | None = None) -> list[StoredAlert]:
        """The first ``limit`` undecided inbox alerts, in order. Those in ``known`` (alerts this process
        committed a moment ago, by id) are not read back: only their ids are."""
        pending = t.inbox.c.processed_at.is_(None)
        async with self.read() as conn:
            if not known:
                query = select(t.inbox.c.id, t.inbox.c.alert, t.inbox.c.raw).where(pending).order_by(t.inbox.c.id).limit(limit)
                return [StoredAlert(row.id, _alert(row)) for row in await conn.execute(query)]
            ids = list((await conn.execute(select(t.inbox.c.id).where(pending).order_by(t.inbox.c.id).limit(limit))).scalars())
            missing = [i for i in ids if i not in known]
            read = {}
            if missing:
                query = select(t.inbox.c.id, t.inbox.c.alert, t.inbox.c.raw).where(t.inbox.c.id.in_(missing))
                read = {row.id: _alert(row) for row in await conn.execute(query)}
        return [StoredAlert(i, known[i] if i in known else read[i]) for i in ids]

    async def undecided(self, cap: int) -> int:
        """Undecided inbox alerts, counted up to ``cap`` (a read of the pending index, bounded)."""
        pending = select(t.inbox.c.id).where(t.inbox.c.processed_at.is_(None)).limit(cap).subquery()
        async with self.read() as conn:
            return (await conn.execute(select(func.count()).select_from(pending))).scalar_one()

    async def inbox_alerts(self, since: datetime | None, until: datetime | None, batch: int = 1000) -> AsyncIterator[Alert]:
        """Every recorded alert received in [since, until), oldest first, read in batches."""
        after = 0
        while True:
            query = select(t.inbox.c.id, t.inbox.c.alert, t.inbox.c.raw).where(t.inbox.c.id > after)
            if since is not None:
                query = query.where(t.inbox.c.received_at >= since)
            if until is not None:
                query = query.where(t.inbox.c.received_at < until)
            async with self.read() as conn:
                rows = (await conn.execute(query.order_by(t.inbox.c.id).limit(batch))).all()
            for row in rows:
                yield _alert(row)
            if len(rows) < batch:
                return
            after = rows[-1].id

    # -- incidents -----------------------------------------------------------

    async def list_incidents(self, statuses: Sequence[IncidentStatus] = (), limit: int = 100) -> list[Incident]:
        query = select(t.incidents).order_by(t.incidents.c.id.desc()).limit(limit)
        if statuses:
            query = query.where(t.incidents.c.status.in_([s.value for s in statuses]))
        async with self.read() as conn:
            return [Incident.model_validate(row._mapping) for row in await conn.execute(query)]

    async def get_incident(self, incident_id: int, fingerprint_limit: int | None = None) -> Incident:
        """The incident with its alerts' fingerprints, first seen first: all, or the first ``fingerprint_limit``
        (``alert_count`` says how many there are)."""
        members = select(t.incident_alerts.c.fingerprint).where(t.incident_alerts.c.incident_id == incident_id)
        async with self.read() as conn:
            row = (await conn.execute(select(t.incidents).where(t.incidents.c.id == incident_id))).first()
            if row is None:
                raise NotFound(f"incident {incident_id} does not exist")
            query = members.order_by(t.incident_alerts.c.first_seen, t.incident_alerts.c.fingerprint).limit(fingerprint_limit)
            fingerprints = list((await conn.execute(query)).scalars())
            count = len(fingerprints)
            if fingerprint_limit is not None and count >= fingerprint_limit:
                count = (await conn.execute(select(func.count()).select_from(members.subquery()))).scalar_one()
        return Incident.model_validate({**row._mapping, "fingerprints": fingerprints, "alert_count": count})

    async def latest_incident(self, service: str) -> Incident:
        """The service's most recent incident, whatever its status (what a by-hand failback belongs to)."""
        query = select(t.incidents.c.id).where(t.incidents.c.service == service).order_by(t.incidents.c.id.desc()).limit(1)
        async with self.read() as conn:
            incident_id = (await conn.execute(query)).scalar_one_or_none()
        if incident_id is None:
            raise NotFound(f"no incident for service {service!r}")
        return await self.get_incident(incident_id)

    async def engine_state(self, kind: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        """What the rule engine needs to resume after a restart (see rules/state.py), or one kind of it."""
        query = select(t.engine_state).order_by(t.engine_state.c.kind, t.engine_state.c.key)
        if kind is not None:
            query = query.where(t.engine_state.c.kind == kind)
        async with self.read() as conn:
            return [(row.kind, row.key, row.state) for row in await conn.execute(query)]

    async def silences(self, active_at: datetime | None = None) -> list[Silence]:
        """Every silence, or only those not ended at ``active_at``."""
        query = select(t.silences).order_by(t.silences.c.id)
        if active_at is not None:
            query = query.where(t.silences.c.ends_at > active_at)
        async with self.read() as conn:
            return [Silence.model_validate(row._mapping) for row in await conn.execute(query)]

    async def add_timeline(self, entry: TimelineEntry) -> None:
        async with self.write() as tx:
            await tx.add_timeline([entry])

    async def mark_mitigated(self, incident_id: int) -> bool:
        """Automation fixed it; people still resolve. False when the incident moved on already."""
        return bool(await self.mitigate([incident_id], []))

    async def mitigate(self, incident_ids: Sequence[int], entries: Sequence[TimelineEntry]) -> list[int]:
        """Mark incidents mitigated and write ``entries``, in one transaction (a shared recovery run heals many
        incidents at once: one commit, not two per incident); the ids that were mitigated now."""
        done, at = [], datetime.now(timezone.utc)
        async with self.write() as tx:
            for incident_id in incident_ids:
                with contextlib.suppress(Conflict):  # resolved already
                    if await tx.transition(incident_id, IncidentStatus.mitigated, "system", at) is not None:
                        done.append(incident_id)
            await tx.add_timeline(entries)
        return done

    async def joined_incidents(self, idempotency_key: str) -> list[int]:
        """The incidents that joined the run of this outbox row instead of queuing their own (shared_runs.py)."""
        async with self.read() as conn:
            return await joined_incidents(conn, idempotency_key)

    # -- locks ---------------------------------------------------------------

    async def acquire_lock(self, name: str, holder: str, ttl_seconds: float) -> str:
        """Take the named lock (or extend it, if ``holder`` has it already) unless someone else
        holds it unexpired; returns who holds it now.

        Delete-expired then insert-or-renew-own, in one write transaction: SQLite's
        BEGIN IMMEDIATE serializes writers, PostgreSQL's ON CONFLICT makes the
        insert atomic, so exactly one of two racing holders wins.
        """
        async with self.write() as tx:
            return await tx.take_lock(name, holder, datetime.now(timezone.utc), ttl_seconds)

    async def release_lock(self, name: str, holder: str) -> None:
        async with self.write() as tx:
            await tx.conn.execute(delete(t.locks).where(t.locks.c.name == name, t.locks.c.holder == holder))

    # -- outbox --------------------------------------------------------------

    async def claim_outbox(self, now: datetime, hold_seconds: float) -> OutboxRow | None:
        """Take the next due row for ``hold_seconds`` (its next attempt moved on: a dead claimer's row frees itself).
        Every replica dispatches; ``SKIP LOCKED`` (PostgreSQL) or BEGIN IMMEDIATE (SQLite) keeps them off each other's rows."""
        query = _due_outbox(select(t.outbox.c.id), now).limit(1).with_for_update(skip_locked=True)
        async with self.write() as tx:
            outbox_id = (await tx.conn.execute(query)).scalar_one_or_none()
            if outbox_id is None:
                return None
            claim = update(t.outbox).where(t.outbox.c.id == outbox_id).values(next_attempt_at=now + timedelta(seconds=hold_seconds))
            r = (await tx.conn.execute(claim.returning(*t.outbox.c))).one()
        return OutboxRow(r.id, r.idempotency_key, r.incident_id, r.flow, r.parameters, r.attempts)

    async def due_outbox(self, now: datetime, limit: int) -> list[OutboxRow]:
        async with self.read() as conn:
            rows = await conn.execute(_due_outbox(select(t.outbox), now).limit(limit))
            return [OutboxRow(r.id, r.idempotency_key, r.incident_id, r.flow, r.parameters, r.attempts) for r in rows]

    async def mark_dispatched(self, outbox_id: int, flow_run_id: str, entry: TimelineEntry) -> None:
        """Prefect accepted the run: close the outbox row and say so in the timeline, together."""
        values = {"dispatched_at": entry.at, "flow_run_id": flow_run_id, "attempts": t.outbox.c.attempts + 1, "last_error": None}
        async with self.write() as tx:
            await tx.conn.execute(update(t.outbox).where(t.outbox.c.id == outbox_id).values(**values))
            await tx.add_timeline([entry])

    async def mark_dispatch_failed(self, outbox_id: int, error: str, retry_at: datetime) -> None:
        values = {"attempts": t.outbox.c.attempts + 1, "last_error": error[:2000], "next_attempt_at": retry_at}
        async with self.write() as tx:
            await tx.conn.execute(update(t.outbox).where(t.outbox.c.id == outbox_id).values(**values))

    async def outbox_for(self, incident_id: int) -> list[dict[str, Any]]:
        query = select(t.outbox).where(t.outbox.c.incident_id == incident_id).order_by(t.outbox.c.id)
        async with self.read() as conn:
            return [dict(row._mapping) for row in await conn.execute(query)]

    async def counts(self) -> dict[str, int]:
        """Backlogs and totals for /metrics and /readyz in one round trip that reads only indexes: the inbox's
        highest id (not a count of a table that only grows) and the partial indexes of what is pending or failed."""

        def count(table: Any, where: Any) -> Any:
            return select(func.count()).select_from(table).where(where).scalar_subquery()

        query = select(
            func.coalesce(select(func.max(t.inbox.c.id)).scalar_subquery(), 0).label("inbox_total"),
            count(t.inbox, t.inbox.c.processed_at.is_(None)).label("inbox_pending"),
            count(t.inbox, t.inbox.c.error.is_not(None)).label("inbox_failed"),
            count(t.outbox, t.outbox.c.dispatched_at.is_(None)).label("outbox_pending"),
            count(t.incidents, t.incidents.c.status != "resolved").label("incidents_open"),
        )
        async with self.read() as conn:
            return dict((await conn.execute(query)).one()._mapping)


def _alert(row: Any) -> Alert:
    return Alert.model_validate({**row.alert, "raw": row.raw})


def _due_outbox(query: Any, now: datetime) -> Any:
    """Rows not yet dispatched whose time has come: by FlowName.priority (failover and recovery first), then decision order."""
    return query.where(t.outbox.c.dispatched_at.is_(None), t.outbox.c.next_attempt_at <= now).order_by(t.outbox.c.priority, t.outbox.c.id)
