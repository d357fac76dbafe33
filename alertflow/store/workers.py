"""Workers' heartbeats: which flow runs a live worker is running, so the runs of a dead one are taken over.

A worker killed with SIGKILL (or whose machine is gone) leaves its flow runs
Running in Prefect forever: nothing in Prefect notices for an in-process
worker. Each worker writes a heartbeat here every few seconds with the runs it
holds; any worker's reaper (alertflow/worker/takeover.py) hands the runs no live
worker holds back to Prefect's queue.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from alertflow.store import tables as t
from alertflow.store.database import Store
from alertflow.store.tx import dialect_insert


class Heartbeats:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def beat(self, worker_id: str, runs: list[str], at: datetime) -> None:
        async with self.store.write() as tx:
            statement = dialect_insert(tx.conn, t.workers).values(id=worker_id, heartbeat_at=at, runs=runs)
            statement = statement.on_conflict_do_update(
                index_elements=["id"], set_={"heartbeat_at": statement.excluded.heartbeat_at, "runs": statement.excluded.runs}
            )
            await tx.conn.execute(statement)

    async def held(self, now: datetime, stale_seconds: float) -> set[str]:
        """The flow runs live workers hold; rows of workers silent longer than ``stale_seconds`` go."""
        cutoff = now - timedelta(seconds=stale_seconds)
        async with self.store.write() as tx:
            await tx.conn.execute(delete(t.workers).where(t.workers.c.heartbeat_at < cutoff))
            rows = await tx.conn.execute(select(t.workers.c.runs))
            return {run for row in rows for run in row.runs}

    async def leave(self, worker_id: str) -> None:
        async with self.store.write() as tx:
            await tx.conn.execute(delete(t.workers).where(t.workers.c.id == worker_id))
