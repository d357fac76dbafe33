"""Retention on SQLite and PostgreSQL: what goes, what stays (anything an unresolved or reopenable incident has), fencing.

Each test builds its history through the real pipeline with its clock set
200 days back (incidents opened, resolved, their timelines, outbox rows and
pages), then prunes at today's cut-offs.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from alertflow.config.retention import RetentionSettings
from alertflow.models import Alert, AlertStatus, Severity
from alertflow.pipeline.consumer import Pipeline
from alertflow.pipeline.leadership import Leadership
from alertflow.pipeline.retention import Pruner, as_leader_per_batch, fenced
from alertflow.rules import parse_rules
from alertflow.store import tables as t
from alertflow.store.commands import CommandQueue, finish_command
from alertflow.store.database import Store
from alertflow.store.pages import PageLog

pytestmark = pytest.mark.anyio
NOW = datetime.now(timezone.utc)
LONG_AGO = NOW - timedelta(days=200)
RULES = parse_rules("""
rules:
  - id: down
    description: a service is down
    matchers: ['service=~"checkout|search|billing"']
    group_by: [service]
    reopen_within: 1h
    actions: [{flow: paging}, {flow: timeline}]
""")
SETTINGS = RetentionSettings(batch_size=2, pause=timedelta(0))  # the defaults: inbox 30d, timelines and pages 180d
TABLES = ("inbox", "incidents", "incident_alerts", "timeline", "outbox", "announcements", "pages", "commands", "engine_state")


def alert(service: str, fingerprint: str, at: datetime, status: AlertStatus = AlertStatus.firing) -> Alert:
    return Alert(source="test", fingerprint=fingerprint, name="Down", service=service, severity=Severity.critical, status=status,
                 labels={"alertname": "Down", "service": service}, starts_at=at, received_at=at)  # fmt: skip


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


async def receive(store: Store, pipeline: Pipeline, clock: Clock, *alerts: Alert) -> None:
    for each in alerts:
        clock.at = each.received_at
        await store.append_alerts([each])
        await pipeline.drain()


async def dispatch_and_page(store: Store, incident_id: int, at: datetime) -> None:
    """What the dispatcher and the paging flow leave behind: dispatched outbox rows and a page."""
    for row in await store.outbox_for(incident_id):
        async with store.write() as tx:
            await tx.conn.execute(t.outbox.update().where(t.outbox.c.id == row["id"]).values(dispatched_at=at, flow_run_id="run"))
    await PageLog(store).claim(incident_id, "episode", "1.1.0.slack", "slack", "#oncall", "C1", at)


async def history(store: Store) -> tuple[Pipeline, Clock]:
    """checkout: opened and resolved 200 days ago (1); search: opened 200 days ago, still open (2); an alert no
    incident took, 200 days ago; billing: opened and resolved 10 days ago (3); a command applied 200 days ago."""
    clock = Clock(LONG_AGO)
    pipeline = Pipeline(store, RULES, clock=clock)
    old = LONG_AGO
    await receive(store, pipeline, clock, alert("checkout", "co-1", old), alert("checkout", "co-2", old + timedelta(seconds=1)))
    await receive(store, pipeline, clock, alert("search", "se-1", old + timedelta(seconds=2)), alert("other", "ot-1", old))
    await receive(store, pipeline, clock, alert("checkout", "co-1", old + timedelta(minutes=1), AlertStatus.resolved))
    await receive(store, pipeline, clock, alert("checkout", "co-2", old + timedelta(minutes=2), AlertStatus.resolved))
    await receive(store, pipeline, clock, alert("checkout", "co-2", old + timedelta(minutes=3), AlertStatus.resolved))  # a resend
    await dispatch_and_page(store, 1, old + timedelta(seconds=5))
    await dispatch_and_page(store, 2, old + timedelta(seconds=5))
    recent = NOW - timedelta(days=10)
    await receive(store, pipeline, clock, alert("billing", "bi-1", recent), alert("billing", "bi-1", recent, AlertStatus.resolved))
    await dispatch_and_page(store, 3, recent)
    command = await CommandQueue(store).submit("ack", {"incident_id": 2}, old)
    async with store.write() as tx:
        await finish_command(tx, command, old, {"value": None})
    return pipeline, clock


async def rows(store: Store) -> dict[str, int]:
    async with store.read() as conn:
        return {name: (await conn.execute(select(func.count()).select_from(t.metadata.tables[name]))).scalar_one() for name in TABLES}


async def of_incident(store: Store, incident_id: int) -> dict[str, int]:
    counts = {}
    async with store.read() as conn:
        for table in ("incident_alerts", "timeline", "outbox", "pages"):
            column = t.metadata.tables[table].c.incident_id
            counts[table] = (await conn.execute(select(func.count()).where(column == incident_id))).scalar_one()
    return counts


async def inbox_fingerprints(store: Store) -> list[str]:
    async with store.read() as conn:
        return sorted(set((await conn.execute(select(t.inbox.c.fingerprint))).scalars()))


def pruner(store: Store, leadership: Leadership | None = None, settings: RetentionSettings = SETTINGS) -> Pruner:
    """The pipeline's pruner, fenced by ``leadership`` (by default one that does not lead)."""
    return Pruner(store, settings, fenced(store, asyncio.Lock(), leadership or Leadership(store)))


async def leading(store: Store) -> Leadership:
    leadership = Leadership(store)
    assert await leadership.try_acquire()
    return leadership


async def test_a_pass_deletes_what_a_dry_run_counted_and_keeps_what_is_live(store: Store) -> None:
    """The dry run counts per table and changes nothing; the pass then deletes exactly that, a batch at a time: old
    inbox rows, and the timeline, alerts, flow runs and pages of the incident resolved 200 days ago (its row stays);
    the open incident's old alerts and details, a recent incident and the engine's state stay whole, and a restore
    rebuilds the same live state. With retention.incidents set, the old incident's row goes last."""
    pipeline, clock = await history(store)
    clock.at = NOW
    await pipeline.tick()  # reopen_within (1h) is long over: the engine forgets the resolved checkout group
    resolved, still_open, recent = await of_incident(store, 1), await of_incident(store, 2), await of_incident(store, 3)
    assert all(resolved.values()) and all(still_open.values()) and all(recent.values())
    state, before = await store.engine_state(), await rows(store)

    asked = datetime.now(timezone.utc)  # the pruner's clock is the wall clock: NOW was taken when the module loaded
    measured = await pruner(store).measure()

    assert await rows(store) == before
    inbox = measured.tables[0]
    assert (inbox.table, inbox.keep, inbox.oldest, inbox.newest) == ("inbox", timedelta(days=30), LONG_AGO, LONG_AGO + timedelta(minutes=3))
    assert abs((inbox.cutoff - (asked - timedelta(days=30))).total_seconds()) < 60
    leader = await leading(store)
    done = await pruner(store, leader).prune()
    assert done.stopped is None
    assert {p.table: p.rows for p in done.tables} == {p.table: p.rows for p in measured.tables}
    assert {p.table: p.rows for p in done.tables} == {"inbox": 6, "commands": 1, **resolved, "incidents": 0}
    assert await of_incident(store, 1) == {"incident_alerts": 0, "timeline": 0, "outbox": 0, "pages": 0}
    assert (await store.get_incident(1)).status == "resolved", "the incident's row is kept (retention.incidents is off)"
    assert await of_incident(store, 2) == still_open and await of_incident(store, 3) == recent
    assert await inbox_fingerprints(store) == ["bi-1", "se-1"]
    assert (await rows(store))["announcements"] == 2, "checkout's announcement went with its outbox row"
    assert await store.engine_state() == state

    restarted = Pipeline(store, RULES, clock=clock)
    await restarted.restore()  # the live state rebuilds as before: a resend joins the open incident, its resolve resolves it
    assert restarted.engine.groups.keys() == pipeline.engine.groups.keys()
    await receive(store, restarted, clock, alert("search", "se-1", NOW), alert("search", "se-1", NOW, AlertStatus.resolved))
    assert [(i.id, i.status.value) for i in await store.list_incidents()] == [(3, "resolved"), (2, "resolved"), (1, "resolved")]

    settings = SETTINGS.model_copy(update={"incidents": timedelta(days=190)})
    done = await pruner(store, leader, settings).prune()
    assert {p.table: p.rows for p in done.tables if p.rows} == {"incidents": 1}
    assert [i.id for i in await store.list_incidents()] == [3, 2]


async def test_a_resolved_incident_the_engine_may_reopen_keeps_everything(store: Store) -> None:
    """While the engine's group still refers to a resolved incident (reopen_within not over), nothing of it goes,
    not even its alerts in the inbox; after a restart, a firing alert reopens it with its timeline whole."""
    _, clock = await history(store)
    clock.at = LONG_AGO + timedelta(minutes=10)  # checkout resolved 7 minutes ago, at the engine's clock
    kept = await of_incident(store, 1)

    done = await pruner(store, await leading(store)).prune()

    assert await of_incident(store, 1) == kept
    assert "co-1" in await inbox_fingerprints(store)
    assert {p.table: p.rows for p in done.tables}["timeline"] == 0
    restarted = Pipeline(store, RULES, clock=clock)
    await restarted.restore()
    await receive(store, restarted, clock, alert("checkout", "co-1", clock.at))
    assert (await store.get_incident(1)).status == "open"
    assert (await of_incident(store, 1))["timeline"] > kept["timeline"]


async def test_a_process_that_does_not_lead_deletes_nothing(store: Store) -> None:
    """A standby's pass (the lease held by another process) and `db prune`'s per-batch lead both stop at the first
    batch and delete nothing; once the lease is free, the per-batch lead prunes and gives the lease back."""
    pipeline, clock = await history(store)
    clock.at = NOW
    await pipeline.tick()
    before = await rows(store)
    leader = await leading(store)

    standby = await pruner(store).prune()
    stand_in = await Pruner(store, SETTINGS, as_leader_per_batch(store, Leadership(store))).prune()

    assert standby.stopped and stand_in.stopped and (standby.rows, stand_in.rows) == (0, 0)
    assert await rows(store) == before
    await leader.release()
    done = await Pruner(store, SETTINGS, as_leader_per_batch(store, Leadership(store))).prune()
    assert (done.stopped, done.rows) == (None, (await pruner(store).measure()).rows + done.rows)
    assert (await Leadership(store).current())[2] < 0, "the lease was given back: it has expired"
