"""Group commit for the inbox: many webhook requests, one transaction, one fsync.

A 2xx promises the alert is on disk, so every request waits for a commit.
Committing each request alone would cap throughput at the disk's fsync rate;
instead, requests that arrive while a commit is in flight are queued and
written together in the next one, and each request is answered when the
commit holding its alerts returns. Latency stays one commit; throughput grows
with concurrency.

Once committed, the alerts are also handed to ``on_commit`` with their ids: the
pipeline, when this process leads it, decides them from memory instead of
reading them back (alertflow/pipeline/consumer.py); the inbox stays the record.
Intake runs at most a few thousand alerts ahead of the pipeline in this process
(``make_room``): past that, requests wait, and gather into larger commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from alertflow.errors import StoreError
from alertflow.models import Alert
from alertflow.store.database import Store

log = logging.getLogger("alertflow.pipeline.inbox")
HANDED_MAX = 50_000  # alerts held in memory for the pipeline; past that (far behind) it reads them back
AHEAD_MAX = 3_000  # alerts intake may commit ahead of this process's pipeline before it waits (make_room)
STANDBY_AHEAD_MAX = 6_000  # undecided alerts in the inbox past which a replica that does not lead waits
STANDBY_CHECK_SECONDS = 0.05


class Handover:
    """Alerts this process committed, by inbox id, for its pipeline while it leads: decided from memory, not
    read back. Correctness never rests on it: an alert not held here is read from the inbox."""

    def __init__(self, leading: Callable[[], bool], wake: Callable[[], None], undecided: Callable[[int], Awaitable[int]]) -> None:
        self.leading = leading
        self.wake = wake
        self.undecided = undecided  # the inbox's undecided alerts, counted up to a cap (for replicas that do not lead)
        self.alerts: dict[int, Alert] = {}
        self._room = asyncio.Event()  # set whenever the pipeline takes a batch
        self._counted, self._counted_at = 0, float("-inf")

    async def _undecided_now(self) -> int:
        """The inbox's undecided count, read at most every ``STANDBY_CHECK_SECONDS``; 0 when it cannot be read
        (the commit that follows says whether the store is there)."""
        now = asyncio.get_running_loop().time()
        if now - self._counted_at >= STANDBY_CHECK_SECONDS:
            self._counted_at = now
            try:
                self._counted = await self.undecided(STANDBY_AHEAD_MAX + 1)
            except Exception:
                self._counted = 0
        return self._counted

    def hand_over(self, ids: list[int], alerts: list[Alert]) -> None:
        """Just committed under ``ids``: held for the pipeline while this process leads (and room remains)."""
        if self.leading() and len(self.alerts) < HANDED_MAX:
            self.alerts.update(zip(ids, alerts, strict=True))
        self.wake()

    def taken(self, last_id: int) -> None:
        """The pipeline took a batch up to ``last_id``: every committed alert up to there is decided or in that
        batch (it took the first pending ones), so what is held of them goes."""
        self.alerts = {i: alert for i, alert in self.alerts.items() if i > last_id}
        self._room.set()

    def clear(self) -> None:
        self.alerts.clear()
        self._room.set()

    async def make_room(self, timeout: float = 1.0) -> None:
        """Intake waits here while the pipeline is far behind, so what is accepted is decided at the pace it is
        accepted (the alerts wait in the sender's request, not in a backlog): in the leader, while it holds more
        than ``AHEAD_MAX`` alerts of its own; in another replica, while the inbox holds more than
        ``STANDBY_AHEAD_MAX`` undecided ones. Bounded: a stalled or absent pipeline holds intake ``timeout`` at most."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if not self.leading():
            while await self._undecided_now() > STANDBY_AHEAD_MAX and loop.time() < deadline:
                await asyncio.sleep(STANDBY_CHECK_SECONDS)
            return
        while len(self.alerts) > AHEAD_MAX and self.leading() and (remaining := deadline - loop.time()) > 0:
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), remaining)


class InboxWriter:
    def __init__(
        self, store: Store, on_commit: Callable[[list[int], list[Alert]], None] = lambda ids, alerts: None, max_batch_alerts: int = 10_000,
        make_room: Callable[[], Awaitable[None]] | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.on_commit = on_commit
        self.max_batch_alerts = max_batch_alerts
        self.make_room = make_room  # waits while the pipeline is far behind (consumer.py); requests gather meanwhile
        self._pending: deque[tuple[list[Alert], asyncio.Future[list[int]]]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="inbox-writer")

    async def close(self) -> None:
        """Commit what is queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task:
            await self._task

    async def append(self, alerts: list[Alert]) -> list[int]:
        """Return the inbox ids of ``alerts`` once they are committed."""
        if self._closing or self._task is None or self._task.done():
            raise StoreError("the inbox is not accepting writes (shutting down)")
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._pending.append((alerts, future))
        self._wake.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                if self.make_room is not None and not self._closing:
                    await self.make_room()
                await self._commit(self._take_batch())
            if self._closing:
                return

    def _take_batch(self) -> list[tuple[list[Alert], asyncio.Future[list[int]]]]:
        batch, size = [], 0
        while self._pending and (not batch or size + len(self._pending[0][0]) <= self.max_batch_alerts):
            item = self._pending.popleft()
            batch.append(item)
            size += len(item[0])
        return batch

    async def _commit(self, batch: list[tuple[list[Alert], asyncio.Future[list[int]]]]) -> None:
        every = [alert for alerts, _ in batch for alert in alerts]
        try:
            ids = await self.store.append_alerts(every)
        except Exception as err:
            log.error("inbox commit of %d requests failed: %s", len(batch), err)
            error = err if isinstance(err, StoreError) else StoreError(f"inbox write failed: {type(err).__name__}")
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        offset = 0
        for alerts, future in batch:
            if not future.done():  # the client may have gone away; its alerts are stored all the same
                future.set_result(ids[offset : offset + len(alerts)])
            offset += len(alerts)
        self.on_commit(ids, every)
