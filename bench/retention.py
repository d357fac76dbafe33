"""Retention under load: an alert burst's decision latency with and without a big prune running, and the prune's rate.

Why: retention deletes in the pipeline leader, and a decision must never wait
for it (issue 17, part 4). Each batch is a read outside any transaction and a
delete by key under the pipeline's lock, with a pause between batches; this
measures what that costs a burst, and how fast a big backlog goes.

How: fills a store (a SQLite file in a temp dir, or ``--database`` for
PostgreSQL) with ``--old-incidents`` incidents resolved 200 days ago, each with
``--alerts-per-incident`` alerts (inbox rows, incident_alerts) and as many
timeline entries, then runs the pipeline as the leader wired as in the API
process (``Stages``: Leadership, InboxWriter with the hand-over, the pruner
fenced with the pipeline's lock). It sends ``--burst`` alerts in requests of
100 (together opening 50 incidents), first alone, then while a pruning pass
over the old rows runs, and prints webhook → decided (what
``alertflow_webhook_to_decided_seconds`` observes) as p50/p90/p99/max for both,
then the pass's rate (rows/s) during the burst and, on a refilled store, alone.

    .venv/bin/python bench/retention.py
    .venv/bin/python bench/retention.py --database postgresql+asyncpg://postgres@127.0.0.1:5432/ret_bench  # an empty database
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert, text

from alertflow.config.retention import RetentionSettings
from alertflow.metrics import Metrics
from alertflow.models import Alert, AlertStatus, Severity
from alertflow.pipeline.consumer import Pipeline
from alertflow.pipeline.inbox import InboxWriter
from alertflow.pipeline.leadership import Leadership
from alertflow.pipeline.retention import Pass, Pruner, fenced
from alertflow.rules import parse_rules
from alertflow.store import tables as t
from alertflow.store.database import Store

RULES = parse_rules("rules:\n  - id: down\n    description: a service is down\n    group_by: [service]\n    actions: [{flow: timeline}]\n")
OLD = datetime.now(timezone.utc) - timedelta(days=200)


class Recorded(Metrics):
    """The pipeline's metrics, keeping each webhook → decided observation."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def observe_decided(self, received: Iterable[datetime], now: datetime) -> None:
        self.seconds += [(now - at).total_seconds() for at in received]


def alert(service: str, fingerprint: str, at: datetime) -> Alert:
    return Alert(source="bench", fingerprint=fingerprint, name="Down", service=service, severity=Severity.critical,
                 status=AlertStatus.firing, labels={"alertname": "Down", "service": service}, starts_at=at, received_at=at)  # fmt: skip


async def fill(store: Store, incidents: int, per_incident: int) -> int:
    """Incidents resolved 200 days ago with their alerts and timelines, written straight to the tables; rows written."""
    written = 0
    for first in range(0, incidents, 100):
        async with store.write() as tx:
            for n in range(first, min(first + 100, incidents)):
                at = OLD + timedelta(minutes=n)
                values = {"key": f"old|{n}", "title": "old", "service": f"old-{n}", "severity": "critical", "status": "resolved",
                          "rule_id": "down", "opened_at": at, "resolved_at": at + timedelta(minutes=5), "resolved_by": "bench"}  # fmt: skip
                incident_id = (await tx.conn.execute(insert(t.incidents).values(**values).returning(t.incidents.c.id))).scalar_one()
                alerts = [alert(f"old-{n}", f"old-{n}-{i}", at) for i in range(per_incident)]
                await tx.mark_processed(await tx.append_alerts(alerts), at)
                await tx.conn.execute(insert(t.incident_alerts), [
                    {"incident_id": incident_id, "fingerprint": a.fingerprint, "name": a.name, "status": "firing",
                     "first_seen": at, "last_seen": at} for a in alerts])  # fmt: skip
                await tx.conn.execute(insert(t.timeline), [
                    {"incident_id": incident_id, "at": at, "kind": "alert", "summary": "old", "data": {}, "actor": "bench"}
                    for _ in alerts])  # fmt: skip
                written += 1 + 3 * per_incident
    return written


async def burst(inbox: InboxWriter, recorded: Recorded, size: int, label: str) -> list[float]:
    recorded.seconds = []
    requests = []
    for first in range(0, size, 100):
        batch = [alert(f"svc-{label}-{(first + i) % 50}", f"{label}-{first + i}", datetime.now(timezone.utc)) for i in range(100)]
        requests.append(inbox.append(batch[: size - first]))
        await asyncio.sleep(0.002)  # requests arrive over a moment, not all in one instant
    await asyncio.gather(*requests)
    while len(recorded.seconds) < size:
        await asyncio.sleep(0.01)
    return recorded.seconds


def report(what: str, done: Pass, elapsed: float) -> None:
    went = ", ".join(f"{p.table} {p.rows:,}" for p in done.tables if p.rows)
    print(f"{what}: {done.rows:,} rows in {elapsed:.1f} s = {done.rows / elapsed:,.0f} rows/s ({went})")


def describe(seconds: list[float]) -> str:
    q = statistics.quantiles(seconds, n=100)
    return f"p50 {q[49] * 1000:.0f} ms  p90 {q[89] * 1000:.0f} ms  p99 {q[98] * 1000:.0f} ms  max {max(seconds) * 1000:.0f} ms"


async def main(args: argparse.Namespace) -> None:
    home = Path(tempfile.mkdtemp(prefix="alertflow-retention-bench-"))
    url = args.database or f"sqlite+aiosqlite:///{home / 'alertflow.db'}"
    store = Store(url)
    await store.upgrade()
    settings = RetentionSettings(batch_size=args.batch_size, pause=timedelta(milliseconds=args.pause_ms))
    print(f"store: {store.engine.url.render_as_string(hide_password=True)}; batch_size {args.batch_size}, pause {args.pause_ms:g} ms")
    started = time.perf_counter()
    rows = await fill(store, args.old_incidents, args.alerts_per_incident)
    print(f"filled {rows:,} old rows in {time.perf_counter() - started:.0f} s")
    alone = Leadership(store)
    assert await alone.try_acquire()
    started = time.perf_counter()
    done = await Pruner(store, settings, fenced(store, asyncio.Lock(), alone)).prune()
    report("prune pass alone", done, time.perf_counter() - started)
    await alone.release()
    await fill(store, args.old_incidents, args.alerts_per_incident)  # again, for the pass that runs with a burst

    recorded, leadership = Recorded(), Leadership(store)
    pipeline = Pipeline(store, RULES, metrics=recorded, leadership=leadership)
    inbox = InboxWriter(store, on_commit=pipeline.handed.hand_over, make_room=pipeline.handed.make_room)
    leading, busy = (lambda: leadership.is_leader), (lambda: bool(pipeline.handed.alerts))
    pruner = Pruner(store, settings, fenced(store, pipeline.lock, leadership), active=leading, busy=busy)  # as Stages wires it
    stop = asyncio.Event()
    inbox.start()
    tasks = [asyncio.create_task(pipeline.run(stop)), asyncio.create_task(leadership.keep_alive(stop))]
    await burst(inbox, recorded, 200, "warm-up")
    for round in range(args.rounds):
        print(f"burst of {args.burst:,} alerts, no prune:      {describe(await burst(inbox, recorded, args.burst, f'alone{round}'))}")
    started = time.perf_counter()
    pruning = asyncio.create_task(pruner.prune())
    for round in range(args.rounds):
        await asyncio.sleep(1.0)
        print(f"burst of {args.burst:,} alerts, prune running: {describe(await burst(inbox, recorded, args.burst, f'pruning{round}'))}")
    report("prune pass with bursts", await pruning, time.perf_counter() - started)

    stop.set()
    pipeline.nudge()
    await inbox.close()
    await asyncio.gather(*tasks)
    if args.database:
        async with store.write() as tx:
            for table in reversed(t.metadata.sorted_tables):
                await tx.conn.execute(text(f"DELETE FROM {table.name}"))
    await store.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="an empty database's URL (default: SQLite in a temp dir); emptied afterwards")
    parser.add_argument("--old-incidents", type=int, default=1000)
    parser.add_argument("--alerts-per-incident", type=int, default=100)
    parser.add_argument("--burst", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--pause-ms", type=float, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="bursts with and without the prune")
    asyncio.run(main(parser.parse_args()))
