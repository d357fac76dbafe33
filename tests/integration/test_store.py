"""The store on both databases it supports: SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from alertflow.errors import Conflict, NotFound, StoreError
from alertflow.models import (
    Alert,
    AlertStatus,
    FailoverAction,
    IncidentStatus,
    PagingAction,
    RecoveryAction,
    Severity,
    TimelineAction,
    TimelineEntry,
    TimelineKind,
)
from alertflow.store.database import Store

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
PAGING = PagingAction(params={"channel": "#oncall"})


def alert(fingerprint: str = "fp1", status: AlertStatus = AlertStatus.firing) -> Alert:
    return Alert(
        source="alertmanager",
        fingerprint=fingerprint,
        name="ServiceDown",
        service="checkout",
        severity=Severity.critical,
        status=status,
        labels={"alertname": "ServiceDown", "service": "checkout"},
        starts_at=NOW,
        received_at=NOW,
        raw={"labels": {"alertname": "ServiceDown"}, "extra": [1, 2]},
    )


def alert_row(incident_id: int, fingerprint: str, status: str, at: datetime) -> dict[str, object]:
    return {
        "incident_id": incident_id,
        "fingerprint": fingerprint,
        "name": "ServiceDown",
        "status": status,
        "first_seen": at,
        "last_seen": at,
    }


async def open_incident(store: Store, key: str = "service-down|service=checkout") -> int:
    async with store.write() as tx:
        return await tx.insert_incident(
            key=key, title="checkout down", service="checkout", severity="critical", rule_id="service-down", at=NOW
        )


async def test_inbox_keeps_alerts_in_order_with_raw_payload(store: Store) -> None:
    """Appended alerts come back pending, in order, with their raw payload intact, until marked processed."""
    ids = await store.append_alerts([alert("a"), alert("b"), alert("c")])
    assert ids == sorted(ids) and len(set(ids)) == 3
    pending = await store.pending_alerts(10)
    assert [p.alert.fingerprint for p in pending] == ["a", "b", "c"]
    assert pending[0].alert.raw == {"labels": {"alertname": "ServiceDown"}, "extra": [1, 2]}
    assert pending[0].alert.received_at == NOW
    async with store.write() as tx:
        await tx.mark_processed(ids[:2], NOW)
    assert [p.id for p in await store.pending_alerts(10)] == [ids[2]]


async def test_one_open_incident_per_key(store: Store) -> None:
    """The database itself refuses a second open incident with the same key, but allows one after resolution."""
    first = await open_incident(store)
    with pytest.raises(StoreError, match="database write failed"):
        await open_incident(store)
    async with store.write() as tx:
        await tx.transition(first, IncidentStatus.resolved, "alice", NOW)
    second = await open_incident(store)
    assert second != first


async def test_failed_transaction_writes_nothing(store: Store) -> None:
    """A write transaction that raises leaves no trace: incident, timeline and outbox roll back together."""
    with pytest.raises(RuntimeError):
        async with store.write() as tx:
            incident_id = await tx.insert_incident(key="k", title="t", service="s", severity="warning", rule_id="r", at=NOW)
            await tx.add_timeline([TimelineEntry(incident_id=incident_id, at=NOW, kind=TimelineKind.note, summary="x")])
            await tx.queue_action(incident_id, PAGING, NOW)
            raise RuntimeError("crash between writes")
    assert await store.list_incidents() == []
    assert (await store.counts())["outbox_pending"] == 0


async def test_incident_alerts_and_timeline_round_trip(store: Store) -> None:
    """An incident lists its alerts; its timeline comes back ordered by time, aware UTC; engine state rows upsert and delete."""
    incident_id = await open_incident(store)
    async with store.write() as tx:
        await tx.upsert_incident_alerts(
            [alert_row(incident_id, "a", "firing", NOW), alert_row(incident_id, "b", "firing", NOW + timedelta(seconds=1))]
        )
        await tx.upsert_incident_alerts([alert_row(incident_id, "a", "resolved", NOW + timedelta(seconds=2))])
        await tx.add_timeline(
            [
                TimelineEntry(
                    incident_id=incident_id, at=NOW + timedelta(seconds=5), kind=TimelineKind.page, summary="later", data={"ts": "1.2"}
                ),
                TimelineEntry(incident_id=incident_id, at=NOW, kind=TimelineKind.alert, summary="first", actor="alertmanager"),
            ]
        )
    incident = await store.get_incident(incident_id)
    assert incident.fingerprints == ["a", "b"]
    timeline = await store.get_timeline(incident_id)
    assert [e.summary for e in timeline] == ["first", "later"]
    assert timeline[1].data == {"ts": "1.2"} and timeline[0].at.tzinfo is not None
    async with store.write() as tx:
        await tx.write_engine_state([("group", "k1", {"phase": "open"}), ("member", "k1\x1fa", {"firing": True})])
        await tx.write_engine_state([("member", "k1\x1fa", None), ("group", "k1", {"phase": "resolving"})])
    assert await store.engine_state() == [("group", "k1", {"phase": "resolving"})]


async def test_transitions_are_idempotent_and_resolved_is_final(store: Store) -> None:
    """Ack twice changes once; ack after resolve is a conflict; unknown incidents are NotFound."""
    incident_id = await open_incident(store)
    async with store.write() as tx:
        changed = await tx.transition(incident_id, IncidentStatus.acknowledged, "alice", NOW)
        again = await tx.transition(incident_id, IncidentStatus.acknowledged, "bob", NOW)
    assert changed is not None and changed.acknowledged_by == "alice" and again is None
    assert await store.mark_mitigated(incident_id) is True
    async with store.write() as tx:
        await tx.transition(incident_id, IncidentStatus.resolved, "alice", NOW)
    with pytest.raises(Conflict):
        async with store.write() as tx:
            await tx.transition(incident_id, IncidentStatus.acknowledged, "bob", NOW)
    assert await store.mark_mitigated(incident_id) is False
    with pytest.raises(NotFound):
        await store.get_incident(999999)


async def test_outbox_due_rows_backoff_and_dispatch(store: Store) -> None:
    """Outbox rows come due by FlowName.priority (runs that act on systems, then paging runs, then timelines), then
    in decision order; a failed dispatch waits for its retry time; dispatched rows leave."""
    incident_id = await open_incident(store)
    async with store.write() as tx:
        last = await tx.queue_action(incident_id, TimelineAction(), NOW)
        third = await tx.queue_action(incident_id, PAGING, NOW)
        first = await tx.queue_action(incident_id, FailoverAction(params={"switch": "checkout", "to": "standby"}), NOW)
        second = await tx.queue_action(incident_id, RecoveryAction(params={"runbook": "restart-checkout"}), NOW)
    rows = await store.due_outbox(NOW, 10)
    assert [r.id for r in rows] == [first, second, third, last], "failover and recovery, then paging, then timeline"
    assert rows[0].idempotency_key != rows[1].idempotency_key
    await store.mark_dispatch_failed(first, "ConnectError: refused", NOW + timedelta(seconds=30))
    assert [r.id for r in await store.due_outbox(NOW + timedelta(seconds=1), 10)] == [second, third, last]
    retry = (await store.due_outbox(NOW + timedelta(seconds=31), 10))[0]
    assert retry.id == first and retry.attempts == 1
    entry = TimelineEntry(incident_id=incident_id, at=NOW, kind=TimelineKind.flow, summary="paging scheduled")
    await store.mark_dispatched(first, "3f0c...", entry)
    assert [r.id for r in await store.due_outbox(NOW + timedelta(hours=1), 10)] == [second, third, last]
    assert [e.summary for e in await store.get_timeline(incident_id)] == ["paging scheduled"]


async def test_counts_report_backlogs(store: Store) -> None:
    """counts() reports inbox and outbox backlogs and open incidents, for /metrics and /readyz."""
    await store.append_alerts([alert("a"), alert("b")])
    incident_id = await open_incident(store)
    async with store.write() as tx:
        await tx.queue_action(incident_id, PAGING, NOW)
    assert await store.counts() == {"inbox_total": 2, "inbox_pending": 2, "inbox_failed": 0, "outbox_pending": 1, "incidents_open": 1}


@pytest.mark.postgres
async def test_processes_creating_the_schema_at_once_on_a_fresh_postgres_all_succeed(fresh_pg_url: str) -> None:
    """The API and workers started together on an empty PostgreSQL database all create the schema without error."""
    import asyncio

    stores = [Store(fresh_pg_url) for _ in range(4)]
    try:
        await asyncio.gather(*(store.check_schema(create_if_empty=True) for store in stores))
        assert await stores[0].counts() is not None
    finally:
        await asyncio.gather(*(store.dispose() for store in stores))
