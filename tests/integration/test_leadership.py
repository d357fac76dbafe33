"""One pipeline leader per store, fenced; people's commands reach it from any replica. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import pytest

from alertflow.errors import NoLeader, NotFound, NotLeader
from alertflow.models import IncidentStatus
from alertflow.pipeline.commands import Commands
from alertflow.pipeline.consumer import Pipeline
from alertflow.pipeline.leadership import Leadership
from alertflow.store.database import Store
from tests.integration.test_pipeline import FIRING, RULES, parse, with_alert

pytestmark = pytest.mark.anyio
TTL = 0.5  # short leases, so a takeover happens within the test


async def wait_for(predicate, timeout: float = 10.0) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not await predicate():
        assert time.monotonic() - started < timeout, "condition not reached in time"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_one_leader_at_a_time_and_a_new_term_after_expiry(store: Store) -> None:
    a, b = Leadership(store, ttl_seconds=TTL), Leadership(store, ttl_seconds=TTL)
    assert await a.try_acquire()
    assert not await b.try_acquire()
    holder, term, left = await a.current()  # type: ignore[misc]
    assert (holder, term) == (a.holder, 1) and 0 < left <= TTL
    await asyncio.sleep(TTL + 0.2)  # a stops renewing (paused, or cut off)
    assert await b.try_acquire() and b.term == 2
    async with store.write() as tx:  # a's next write finds it no longer leads: it must not land
        with pytest.raises(NotLeader, match="lost the pipeline lease"):
            await a.fence(tx)
    assert not a.is_leader
    assert not await a.try_acquire()  # b renews with its writes; a stands by


async def test_a_deposed_leader_commits_nothing(store: Store) -> None:
    """The fence is inside the pipeline's own transaction: the deposed leader's decisions are rolled back."""
    old = Pipeline(store, RULES, leadership=Leadership(store, ttl_seconds=TTL))
    assert await old.leadership.try_acquire()
    await store.append_alerts(parse(FIRING))
    await asyncio.sleep(TTL + 0.2)
    assert await Leadership(store, ttl_seconds=30).try_acquire()  # a standby took over meanwhile
    with pytest.raises(NotLeader):
        await old.drain()
    assert await store.list_incidents() == []
    assert len(await store.pending_alerts(10)) == 1  # still there for the new leader


async def test_standby_takes_over_from_a_dead_leader_and_continues(store: Store) -> None:
    """Two pipelines run; the leader dies without a word (its task cancelled, lease kept); the standby
    takes over after the lease runs out, restores the engine and decides what follows, once."""
    stops = [asyncio.Event(), asyncio.Event()]
    pipelines = [Pipeline(store, RULES, leadership=Leadership(store, ttl_seconds=TTL)) for _ in stops]
    tasks = [asyncio.create_task(p.run(stop, idle_seconds=0.05)) for p, stop in zip(pipelines, stops, strict=True)]
    try:
        await store.append_alerts(parse(FIRING))
        await wait_for(lambda: _count(store, 1))
        [leader] = [p for p in pipelines if p.leadership.is_leader]
        standby = next(p for p in pipelines if p is not leader)
        tasks[pipelines.index(leader)].cancel()  # dead: no release
        took = await wait_for(lambda: _leads(standby))
        assert took <= TTL + 1.0
        await store.append_alerts(parse(FIRING))  # a resend joins the open incident (the engine was restored)
        await store.append_alerts(parse(with_alert(FIRING, "other", service="payments")))
        await wait_for(lambda: _count(store, 2))
        await wait_for(lambda: _drained(store))
        assert sorted(i.service for i in await store.list_incidents()) == ["checkout", "payments"]
    finally:
        for stop in stops:
            stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_commands_from_any_replica_are_applied_once_by_the_leader(store: Store) -> None:
    leader = Pipeline(store, RULES, leadership=Leadership(store, ttl_seconds=5))
    replica = Commands(store, Pipeline(store, RULES, leadership=Leadership(store, ttl_seconds=5)))  # a standby's API
    stop = asyncio.Event()
    task = asyncio.create_task(leader.run(stop, idle_seconds=0.05))
    try:
        await store.append_alerts(parse(FIRING))
        await wait_for(lambda: _count(store, 1))
        [incident] = await store.list_incidents()
        acked = await replica.acknowledge(incident.id, "alice")
        assert (acked.status, acked.acknowledged_by) == (IncidentStatus.acknowledged, "alice")
        again = await replica.acknowledge(incident.id, "bob")  # already acknowledged: the same answer, no change
        assert again.acknowledged_by == "alice"
        with pytest.raises(NotFound, match="999"):
            await replica.resolve(999, "alice")
        resolved = await replica.resolve(incident.id, "alice")
        assert resolved.status is IncidentStatus.resolved
        kinds = [e.kind.value for e in await store.get_timeline(incident.id)]
        assert kinds.count("ack") == 1 and kinds.count("resolve") == 1
    finally:
        stop.set()
        await task


async def test_a_command_nobody_applies_is_withdrawn_and_never_applied(store: Store) -> None:
    await store.append_alerts(parse(FIRING))
    first = Pipeline(store, RULES, leadership=Leadership(store, ttl_seconds=5))
    assert await first.leadership.try_acquire()
    await first.drain()
    [incident] = await store.list_incidents()
    waiting = Commands(store, Pipeline(store, RULES), timeout_seconds=0.3)  # the leader is alive but hung: nobody applies
    with pytest.raises(NoLeader, match="nothing was changed"):
        await waiting.acknowledge(incident.id, "alice")
    stop = asyncio.Event()
    task = asyncio.create_task(first.run(stop, idle_seconds=0.05))  # the leader wakes up
    await asyncio.sleep(0.5)
    stop.set()
    await task
    assert (await store.get_incident(incident.id)).status is IncidentStatus.open


async def _count(store: Store, n: int) -> bool:
    return len(await store.list_incidents()) == n


async def _leads(pipeline: Pipeline) -> bool:
    return pipeline.leadership.is_leader


async def _drained(store: Store) -> bool:
    return await store.pending_alerts(1) == []


@pytest.mark.postgres
async def test_a_leader_in_another_process_is_woken_by_the_commit(pg_server_url: str) -> None:
    """Alerts and commands taken by another replica wake the leader at once (NOTIFY), not at its next idle tick."""
    from alertflow.store.wakeups import COMMANDS, INBOX, Listener

    leader_store, replica_store = Store(pg_server_url), Store(pg_server_url)
    await leader_store.upgrade()
    leader = Pipeline(leader_store, RULES, leadership=Leadership(leader_store, ttl_seconds=60))
    stop = asyncio.Event()
    listener = asyncio.create_task(Listener(pg_server_url, (INBOX, COMMANDS), leader.nudge).run(stop))
    task = asyncio.create_task(leader.run(stop, idle_seconds=30))  # without a wake-up it would not look for 30 s
    try:
        await wait_for(lambda: _leads(leader))
        await asyncio.sleep(0.5)  # past its first pass: now idle
        await replica_store.append_alerts(parse(with_alert(FIRING, "woken", service="woken")))
        assert await wait_for(lambda: _count(replica_store, 1), timeout=3) < 2
        [incident] = await replica_store.list_incidents()
        acked = await Commands(replica_store, Pipeline(replica_store, RULES), timeout_seconds=3).acknowledge(incident.id, "alice")
        assert acked.acknowledged_by == "alice"
    finally:
        stop.set()
        leader.nudge()
        await asyncio.gather(task, listener)
        await leader_store.dispose()
        await replica_store.dispose()


async def test_a_live_leader_keeps_its_lease_without_writing(store: Store) -> None:
    """Restoring a large engine state writes nothing for a while: the lease must not run out meanwhile."""
    leader, standby = Leadership(store, ttl_seconds=TTL), Leadership(store, ttl_seconds=TTL)
    assert await leader.try_acquire()
    stop = asyncio.Event()
    task = asyncio.create_task(leader.keep_alive(stop))
    await asyncio.sleep(TTL * 4)
    assert not await standby.try_acquire()
    stop.set()
    await task
    await leader.release()  # a clean stop: the standby need not wait for the lease to run out
    assert await standby.try_acquire()
