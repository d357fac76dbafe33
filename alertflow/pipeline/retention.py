"""Retention applied: the pipeline leader deletes what ``retention:`` lets go, a small batch at a time, between decisions.

Why in the leader, and fenced: two processes pruning would only race each
other, and a pruner that lost the lease could delete while another process
decides. So every batch is one write transaction that starts with the lease's
fence (alertflow/pipeline/leadership.py): a standby, or a leader that lost its
lease, deletes nothing. ``alertflow db prune`` deletes the same way, as the
leader for one batch at a time (``as_leader_per_batch``), so a pipeline that
starts meanwhile takes the lease back within one batch.

Why it does not delay decisions: the rows of a batch are found by a read,
outside any write transaction; the delete by key takes the pipeline's lock, so
a decision waits for at most one batch (milliseconds, bench/retention.py); a
pause between batches gives intake and decisions the store, and while alerts
wait to be decided (a burst) the next batch waits for them, up to
``YIELD_MAX_SECONDS``. The first pass
runs one ``every`` after the process starts, not during start-up's restore.
Which rows: alertflow/store/retention.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alertflow.config.retention import RetentionSettings
from alertflow.errors import NotLeader, StoreError
from alertflow.metrics import Metrics
from alertflow.pipeline.consumer import utcnow
from alertflow.pipeline.leadership import Leadership
from alertflow.store.database import Store
from alertflow.store.retention import TARGETS, Target, Walk, delete_batch, tally
from alertflow.store.tx import Tx

log = logging.getLogger("alertflow.pipeline.retention")
WriteTx = Callable[[], AbstractAsyncContextManager[Tx]]
BUSY_POLL_SECONDS = 0.05
YIELD_MAX_SECONDS = 5.0


@dataclass
class Pruned:
    """One table in a pass or a dry run: its setting, the cut-off and the rows that went (or would)."""

    table: str
    setting: str
    keep: timedelta | None  # None: kept forever, nothing goes
    cutoff: datetime | None
    rows: int = 0
    oldest: datetime | None = None  # dry run only: the oldest and newest time of what would go
    newest: datetime | None = None


@dataclass
class Pass:
    tables: list[Pruned] = field(default_factory=list)
    stopped: str | None = None  # why the pass ended before it was done (the lease went elsewhere)

    @property
    def rows(self) -> int:
        return sum(table.rows for table in self.tables)


def fenced(store: Store, lock: asyncio.Lock, leadership: Leadership) -> WriteTx:
    """The pipeline's own: a write transaction that waits for the decision in progress and lands only while this process leads."""

    @contextlib.asynccontextmanager
    async def write() -> AsyncIterator[Tx]:
        async with lock, store.write() as tx:
            await leadership.fence(tx)
            yield tx

    return write


def as_leader_per_batch(store: Store, leadership: Leadership) -> WriteTx:
    """``alertflow db prune``'s: lead for one transaction (only while nobody else leads), fenced, then give the lease back."""

    @contextlib.asynccontextmanager
    async def write() -> AsyncIterator[Tx]:
        if not await leadership.try_acquire():
            raise NotLeader(f"another process leads the {leadership.name}")
        try:
            async with store.write() as tx:
                await leadership.fence(tx)
                yield tx
        finally:
            await leadership.release()

    return write


class Pruner:
    def __init__(
        self, store: Store, settings: RetentionSettings, write: WriteTx, *, active: Callable[[], bool] = lambda: True,
        busy: Callable[[], bool] = lambda: False, clock: Callable[[], datetime] = utcnow, metrics: Metrics | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.settings = settings
        self.write = write
        self.active = active
        self.busy = busy  # alerts wait to be decided: a batch waits for them (up to YIELD_MAX_SECONDS)
        self.clock = clock
        self.metrics = metrics

    def plan(self, now: datetime) -> list[tuple[Target, Pruned]]:
        """Each table with its cut-off at ``now`` (none for a kind kept forever)."""
        planned = []
        for target in TARGETS:
            keep: timedelta | None = getattr(self.settings, target.setting)
            planned.append((target, Pruned(target.name, target.setting, keep, None if keep is None else now - keep)))
        return planned

    async def measure(self) -> Pass:
        """What a pass would delete now, per table (``alertflow db prune --dry-run``); changes nothing."""
        done = Pass()
        for target, pruned in self.plan(self.clock()):
            if pruned.cutoff is not None:
                async with self.store.read() as conn:
                    found = await tally(conn, target, pruned.cutoff)
                pruned.rows, pruned.oldest, pruned.newest = found.rows, found.oldest, found.newest
            done.tables.append(pruned)
        return done

    async def prune(self, stop: asyncio.Event | None = None) -> Pass:
        """One pass over every table, a batch per transaction; ends early on a stop or when the lease goes elsewhere."""
        done = Pass()
        for target, pruned in self.plan(self.clock()):
            done.tables.append(pruned)
            if pruned.cutoff is None:
                continue
            try:
                await self._table(target, pruned, stop)
            except NotLeader as err:
                done.stopped = str(err)
            if done.stopped or (stop is not None and stop.is_set()):
                break
        return done

    async def _table(self, target: Target, pruned: Pruned, stop: asyncio.Event | None) -> None:
        assert pruned.cutoff is not None
        walk = Walk(target, pruned.cutoff)
        async with self.store.read() as conn:
            await walk.start(conn)
        while self.active() and not (stop is not None and stop.is_set()):
            async with self.store.read() as conn:
                keys = await walk.next_batch(conn, self.settings.batch_size)
            if keys is None:
                return
            if not keys:
                continue  # a stretch with nothing to delete (e.g. an open incident's alerts): no transaction
            await self._rest()  # between the read and the write: a burst that began meanwhile goes first
            async with self.write() as tx:
                deleted = await delete_batch(tx, target, pruned.cutoff, keys, walk.incidents)
            walk.deleted(len(keys), deleted)
            pruned.rows += deleted
            if self.metrics is not None:
                self.metrics.pruned.labels(target.name).inc(deleted)

    async def _rest(self) -> None:
        """Before each batch: ``pause``, and longer while alerts wait to be decided (a burst goes first), but not forever,
        so a steady storm still lets a batch through every ``YIELD_MAX_SECONDS``."""
        pause = self.settings.pause.total_seconds()
        if pause:
            await asyncio.sleep(pause)
        waited = 0.0
        while self.busy() and waited < YIELD_MAX_SECONDS:
            await asyncio.sleep(BUSY_POLL_SECONDS)
            waited += BUSY_POLL_SECONDS

    async def run(self, stop: asyncio.Event) -> None:
        """Every ``every``, while this process leads: one pass. Failures are logged and tried again next time."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.every.total_seconds())
            if stop.is_set() or not self.active():
                continue
            try:
                done = await self.prune(stop)
            except StoreError as err:
                log.warning("retention pass failed, will try again in %s: %s", self.settings.every, err)
                continue
            except Exception:  # housekeeping must never take the process down
                log.exception("retention pass failed")
                continue
            if done.rows or done.stopped:
                went = ", ".join(f"{t.table} {t.rows:,}" for t in done.tables if t.rows)
                log.info("retention: deleted %s%s", went or "nothing", f" (stopped: {done.stopped})" if done.stopped else "")
