"""The flow runs an incident gets (docs/responses.md, "Flow runs per incident"), on SQLite and PostgreSQL: one per due
rule action, a timeline run only when no run of it is yet to read the store, nothing for an action the rule lacks."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text, update

from alertflow.config.responses import Runbook
from alertflow.models import Alert, AlertStatus, FlowName, Severity, TimelineEntry, TimelineKind
from alertflow.pipeline.consumer import Pipeline
from alertflow.rules import parse_rules
from alertflow.store import tables as t
from alertflow.store.database import Store
from alertflow.store.run_queue import TIMELINE_RUN_LOST_AFTER

pytestmark = pytest.mark.anyio

RULES = parse_rules("""
rules:
  - id: service-down
    description: A production service stopped answering
    matchers: ['alertname="ServiceDown"']
    severity: warning
    group_by: [service]
    actions:
      - {flow: paging, params: {channel: "#oncall"}}
      - {flow: timeline}
      - {flow: failover, params: {switch: checkout, to: standby, failback_after_seconds: 90}}
      - {flow: recovery, params: {runbook: restart-checkout}}
  - id: disk-full
    description: A disk filled up
    matchers: ['alertname="DiskFull"']
    severity: warning
    group_by: [service]
    actions:
      - {flow: paging, params: {channel: "#oncall"}}
  - id: slow
    description: A service answers slowly
    matchers: ['alertname="Slow"']
    severity: warning
    group_by: [service]
    actions:
      - {flow: timeline}
      - {flow: paging, params: {channel: "#oncall"}, min_severity: critical}
  - id: instance-down
    description: One instance stopped answering
    matchers: ['alertname="InstanceDown"']
    severity: warning
    group_by: [instance]
    actions:
      - {flow: recovery, params: {runbook: restart-service}}
  - id: job-stuck
    description: A batch job stopped making progress
    matchers: ['alertname="JobStuck"']
    severity: warning
    group_by: [instance]
    actions:
      - {flow: recovery, params: {runbook: reset-incident}}
""")


def runbook(url: str) -> Runbook:
    return Runbook.model_validate({"steps": [{"kind": "http", "name": "restart", "method": "POST", "url": url}], "verify": {"url": url}})


RUNBOOKS = {
    "restart-checkout": runbook("http://127.0.0.1:9/restart/checkout"),  # the same for every incident
    "restart-service": runbook("http://127.0.0.1:9/restart/{service}"),  # the same for incidents of one service
    "reset-incident": runbook("http://127.0.0.1:9/reset/{incident_id}"),  # never the same
}


def alert(name: str, instance: str, severity: str = "critical", status: str = "firing", service: str = "checkout") -> Alert:
    now = datetime.now(timezone.utc)
    return Alert(
        source="alertmanager", fingerprint=f"{name}-{instance}", name=name, service=service, severity=Severity(severity),
        status=AlertStatus(status), labels={"alertname": name, "service": service, "instance": instance},
        starts_at=now, received_at=now,
    )  # fmt: skip


async def ingest(store: Store, pipeline: Pipeline, *alerts: Alert) -> None:
    await store.append_alerts(list(alerts))
    await pipeline.drain()


async def flows(store: Store, incident_id: int = 1) -> list[str]:
    return [row["flow"] for row in await store.outbox_for(incident_id)]


async def dispatch(store: Store, flow: str, incident_id: int = 1, at: datetime | None = None) -> str:
    """Do what the dispatcher does once Prefect created the run of the incident's last ``flow`` row; its idempotency key."""
    row = [r for r in await store.outbox_for(incident_id) if r["flow"] == flow][-1]
    at = at or datetime.now(timezone.utc)
    entry = TimelineEntry(incident_id=incident_id, at=at, kind=TimelineKind.flow, summary=f"{flow} flow run scheduled")
    await store.mark_dispatched(row["id"], f"run-{row['id']}", entry)
    return row["idempotency_key"]


async def close(store: Store, key: str) -> None:
    """What a timeline run does before its last look at the store."""
    async with store.write() as tx:
        await tx.close_run(key, datetime.now(timezone.utc))


async def test_a_busy_incident_with_prefect_away_gets_one_run_per_response(store: Store) -> None:
    """Opened, 50 more alerts, acknowledged, resolved, nothing dispatched (Prefect unreachable): the four rule
    actions and the failback, each once; the one timeline run shows it all."""
    pipeline = Pipeline(store, RULES)
    await ingest(store, pipeline, alert("ServiceDown", "checkout-0"))
    for n in range(1, 51):
        await ingest(store, pipeline, alert("ServiceDown", f"checkout-{n}", severity="warning" if n % 2 else "critical"))
    await pipeline.acknowledge(1, "alice")
    await ingest(store, pipeline, *(alert("ServiceDown", f"checkout-{n}", status="resolved") for n in range(51)))
    assert (await store.get_incident(1)).status.value == "resolved"
    assert await flows(store) == ["paging", "timeline", "failover", "recovery", "failback"]
    assert (await store.counts())["outbox_pending"] == 5


async def test_a_timeline_run_covers_changes_until_its_last_look(store: Store) -> None:
    """Created in Prefect but not yet read: an ack queues nothing; once that run took its last look at the store,
    the resolve queues a timeline run again, and a run created long ago and never heard from is not waited for."""
    pipeline = Pipeline(store, RULES)
    await ingest(store, pipeline, alert("ServiceDown", "checkout-0"))
    opened = await dispatch(store, "timeline")
    await pipeline.acknowledge(1, "alice")
    assert await flows(store) == ["paging", "timeline", "failover", "recovery"]
    await close(store, opened)
    await pipeline.resolve(1, "alice")
    assert await flows(store) == ["paging", "timeline", "failover", "recovery", "timeline", "failback"]

    await ingest(store, pipeline, alert("ServiceDown", "checkout-9"))  # a new incident
    await dispatch(store, "timeline", incident_id=2, at=datetime.now(timezone.utc) - TIMELINE_RUN_LOST_AFTER - timedelta(minutes=1))
    await pipeline.acknowledge(2, "alice")
    assert await flows(store, 2) == ["paging", "timeline", "failover", "recovery", "timeline"]


async def test_no_run_for_an_action_the_rule_lacks_or_that_is_not_due(store: Store) -> None:
    """A rule without a timeline action gets no timeline run on ack or resolve, nor a failback without failover;
    a timeline action still below its severity floor is not run by a change; a response started later is followed."""
    pipeline = Pipeline(store, RULES)
    await ingest(store, pipeline, alert("DiskFull", "db-1"))
    await pipeline.acknowledge(1, "alice")
    await pipeline.resolve(1, "alice")
    assert await flows(store, 1) == ["paging"]

    await ingest(store, pipeline, alert("Slow", "web-1", severity="warning"))
    assert await flows(store, 2) == ["timeline"]
    await close(store, await dispatch(store, "timeline", incident_id=2))
    await ingest(store, pipeline, alert("Slow", "web-2", severity="critical"))  # reaches paging's floor
    assert await flows(store, 2) == ["timeline", "paging", "timeline"]
    await pipeline.acknowledge(2, "alice")
    assert await flows(store, 2) == ["timeline", "paging", "timeline"]


async def failover_entries(store: Store, incident_id: int) -> list[dict]:
    return [e.data for e in await store.get_timeline(incident_id) if e.kind is TimelineKind.failover]


async def test_incidents_failing_over_one_switch_share_its_run_and_the_last_to_resolve_fails_back(store: Store) -> None:
    """A second incident failing over the same switch joins the first one's run while that run has not settled its
    move; once it has, a third gets its own. Resolving while others still rely on the switch holds the failback; the
    last to resolve fails back. A person's `alertflow run failover` always gets a run."""
    pipeline = Pipeline(store, RULES)
    await ingest(store, pipeline, alert("ServiceDown", "a-1", service="a"))
    await ingest(store, pipeline, alert("ServiceDown", "b-1", service="b"))
    assert await flows(store, 1) == ["paging", "timeline", "failover", "recovery"]
    assert await flows(store, 2) == ["paging", "timeline", "recovery"]
    [own] = [r for r in await store.outbox_for(1) if r["flow"] == "failover"]
    [joined] = await failover_entries(store, 2)
    assert joined == {"switch": "checkout", "to": "standby", "joined_incident": 1, "outbox_id": own["id"]}

    await dispatch(store, "failover", incident_id=1)  # created in Prefect, still moving: still joined
    await ingest(store, pipeline, alert("ServiceDown", "c-1", service="c"))
    assert await flows(store, 3) == ["paging", "timeline", "recovery"]
    await close(store, own["idempotency_key"])  # the move is settled
    await ingest(store, pipeline, alert("ServiceDown", "d-1", service="d"))
    assert await flows(store, 4) == ["paging", "timeline", "failover", "recovery"]
    await pipeline.request_run(2, FlowName.failover, "alice")
    assert (await flows(store, 2))[-1] == "failover", "asked for by a person: it runs"

    for incident_id in (1, 2, 3):
        await pipeline.resolve(incident_id, "alice")
        assert "failback" not in await flows(store, incident_id)
        held = (await failover_entries(store, incident_id))[-1]
        assert held["held_by"] == [i for i in (1, 2, 3, 4) if i > incident_id]
    await pipeline.resolve(4, "alice")
    assert (await flows(store, 4))[-1] == "failback"


async def recovery_entries(store: Store, incident_id: int) -> list[dict]:
    return [e.data for e in await store.get_timeline(incident_id) if e.kind is TimelineKind.recovery]


async def test_incidents_needing_one_runbook_share_its_run_while_it_is_under_way(store: Store) -> None:
    """A runbook that does the same whoever asks is run once for every incident that needs it while its run is under
    way; the run knows who joined it; once it has ended, or when a person asks, a recovery gets its own run."""
    pipeline = Pipeline(store, RULES, runbooks=RUNBOOKS)
    await ingest(store, pipeline, alert("ServiceDown", "a-1", service="a"))
    await ingest(store, pipeline, alert("ServiceDown", "b-1", service="b"))
    assert await flows(store, 1) == ["paging", "timeline", "failover", "recovery"]
    assert await flows(store, 2) == ["paging", "timeline"], "failover and recovery both joined incident 1's runs"
    [own] = [r for r in await store.outbox_for(1) if r["flow"] == "recovery"]
    assert await recovery_entries(store, 2) == [{"runbook": "restart-checkout", "joined_incident": 1, "outbox_id": own["id"]}]

    await dispatch(store, "recovery", incident_id=1)  # created in Prefect, running: still joined
    await ingest(store, pipeline, alert("ServiceDown", "c-1", service="c"))
    assert "recovery" not in await flows(store, 3)
    assert await store.joined_incidents(own["idempotency_key"]) == [2, 3]
    await close(store, own["idempotency_key"])  # the run ended
    await ingest(store, pipeline, alert("ServiceDown", "d-1", service="d"))
    assert (await flows(store, 4))[-1] == "recovery"
    await pipeline.request_run(2, FlowName.recovery, "alice")
    assert (await flows(store, 2))[-1] == "recovery", "asked for by a person: it runs"
    assert await store.joined_incidents(own["idempotency_key"]) == [2, 3]


async def test_a_burst_decided_in_one_batch_shares_the_runs_queued_in_it(store: Store) -> None:
    """Ten services down in one batch: the first incident's failover and recovery runs are queued in that batch and
    the nine others join them there; each incident gets its page (and its announcement) and its timeline run."""
    pipeline = Pipeline(store, RULES, runbooks=RUNBOOKS)
    await ingest(store, pipeline, *(alert("ServiceDown", f"s{n}-1", service=f"s{n}") for n in range(10)))
    assert await flows(store, 1) == ["paging", "timeline", "failover", "recovery"]
    rows = {r["flow"]: r["id"] for r in await store.outbox_for(1)}
    for incident_id in range(2, 11):
        assert await flows(store, incident_id) == ["paging", "timeline"]
        joined = [
            (e["joined_incident"], e["outbox_id"])
            for e in await failover_entries(store, incident_id) + await recovery_entries(store, incident_id)
        ]
        assert joined == [(1, rows["failover"]), (1, rows["recovery"])]
    async with store.read() as conn:
        announced = (await conn.execute(select(t.announcements.c.incident_id, t.announcements.c.outbox_id))).all()
    paging = {i: [r["id"] for r in await store.outbox_for(i) if r["flow"] == "paging"] for i in range(1, 11)}
    assert sorted(announced) == sorted((i, ids[0]) for i, ids in paging.items())


async def test_a_runbook_naming_the_service_or_the_incident_is_shared_only_when_it_would_do_the_same(store: Store) -> None:
    """`{service}`: shared by incidents of one service only; `{incident_id}`: never; a runbook the pipeline was not
    given (its config unknown): never."""
    pipeline = Pipeline(store, RULES, runbooks=RUNBOOKS)
    await ingest(store, pipeline, alert("InstanceDown", "i-1", service="a"))
    await ingest(store, pipeline, alert("InstanceDown", "i-2", service="a"))
    await ingest(store, pipeline, alert("InstanceDown", "i-3", service="b"))
    assert [await flows(store, i) for i in (1, 2, 3)] == [["recovery"], [], ["recovery"]]
    assert [e["joined_incident"] for e in await recovery_entries(store, 2)] == [1]
    await ingest(store, pipeline, alert("JobStuck", "j-1", service="a"))
    await ingest(store, pipeline, alert("JobStuck", "j-2", service="a"))
    assert [await flows(store, i) for i in (4, 5)] == [["recovery"], ["recovery"]]

    unknown = Pipeline(store, RULES)  # no runbooks: nothing known to be the same
    await ingest(store, unknown, alert("ServiceDown", "x-1", service="x"))
    await ingest(store, unknown, alert("ServiceDown", "y-1", service="y"))
    assert (await flows(store, 7))[-1] == "recovery"


async def test_a_failover_after_a_queued_failback_gets_its_own_run(store: Store) -> None:
    """A failback queued after a failover run would undo it: an incident failing over later does not join that run."""
    pipeline = Pipeline(store, RULES)
    await ingest(store, pipeline, alert("ServiceDown", "a-1", service="a"))
    await pipeline.resolve(1, "alice")
    assert (await flows(store, 1))[-1] == "failback"
    await ingest(store, pipeline, alert("ServiceDown", "b-1", service="b"))
    assert "failover" in await flows(store, 2) and not await failover_entries(store, 2)


async def pending(store: Store) -> int | None:
    async with store.write() as tx:
        return await tx.pending_timeline_run(1, datetime.now(timezone.utc))


async def test_a_change_and_a_last_look_at_once(store: Store) -> None:
    """A change that found a timeline run pending holds its row until it commits, so the run's last look comes after
    it; a change made while a last look is being marked waits for it and then does not count on that run."""
    pipeline = Pipeline(store, RULES)
    await ingest(store, pipeline, alert("ServiceDown", "checkout-0"))
    key = await dispatch(store, "timeline")
    async with store.write() as tx:
        assert await tx.pending_timeline_run(1, datetime.now(timezone.utc)) is not None
        closing = asyncio.create_task(close(store, key))
        await asyncio.sleep(0.5)
        assert not closing.done(), "the run took its last look while a change counting on it was uncommitted"
    await asyncio.wait_for(closing, 30)
    assert await pending(store) is None

    await pipeline.acknowledge(1, "alice")  # a new timeline run
    key = await dispatch(store, "timeline")
    async with store.write() as tx:
        await tx.close_run(key, datetime.now(timezone.utc))
        change = asyncio.create_task(pending(store))
        await asyncio.sleep(0.5)
        assert not change.done(), "a change read the row while its run was marking its last look"
    assert await asyncio.wait_for(change, 30) is None


async def test_an_older_store_gets_the_column_and_old_runs_count_as_read(store: Store) -> None:
    """A store made before outbox.final_read_at gets it from `alertflow db upgrade` (revision 0003); runs dispatched
    before then count as having read."""
    pipeline = Pipeline(store, RULES)
    await ingest(store, pipeline, alert("ServiceDown", "checkout-0"))
    await dispatch(store, "timeline")
    async with store.write() as tx:
        # The store as revision 0002 left it: without what 0003 (this column) and later revisions added.
        await tx.conn.execute(text("DROP INDEX ix_outbox_unsettled"))  # 0005, on the column
        await tx.conn.execute(text("ALTER TABLE outbox DROP COLUMN final_read_at"))
        await tx.conn.execute(text("DROP INDEX ix_inbox_fingerprint"))  # 0004
        await tx.conn.execute(text("DROP TABLE oncall_overrides"))  # 0006 (its index goes with it)
        await tx.conn.execute(text("DROP INDEX ix_incident_alerts_fingerprint"))  # 0007
        await tx.conn.execute(text("UPDATE alembic_version SET version_num = '0002_leases_commands'"))
    await store.upgrade()
    async with store.read() as conn:
        rows = (await conn.execute(t.outbox.select().order_by(t.outbox.c.id))).all()
    assert [(r.flow, r.final_read_at is not None) for r in rows] == [
        ("paging", False), ("timeline", True), ("failover", False), ("recovery", False)
    ]  # fmt: skip
    async with store.write() as tx:  # the column works as a fresh store's does
        await tx.conn.execute(update(t.outbox).values(final_read_at=None))
    assert [r["final_read_at"] for r in await store.outbox_for(1)] == [None] * 4
