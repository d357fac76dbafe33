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
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from alertflow.errors import StoreError
from alertflow.models import Alert
from alertflow.store.database import Store

log = logging.getLogger("alertflow.pipeline.inbox")


class InboxWriter:
    def __init__(
        self, store: Store, on_commit: Callable[[list[int], list[Alert]], None] = lambda ids, alerts: None, max_batch_alerts: int = 10_000
    ) -> None:
        self.store = store
        self.on_commit = on_commit
        self.max_batch_alerts = max_batch_alerts
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
