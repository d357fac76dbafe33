"""Decided events → Prefect's event feed, in the background: a decision never waits on Prefect.

The pipeline leader (consumer.py) and the announcer hand their events
(alertflow/events.py) to ``EventEmitter.offer`` once their transaction has
committed; ``offer`` appends to an in-memory queue and returns. A task of its
own posts the queue in batches to Prefect's events API (``POST /api/events``,
the REST twin of the websocket ``emit_event`` uses, answered 204 per batch),
so Prefect's UI shows them in its event feed and automations react to them.

Why a bounded queue in memory, not an outbox table like the flow runs'
(dispatch.py): a flow run *is* the response, so it must survive anything; an
event is a notice about a change the store already holds (incident row,
timeline). A table would put one more write in every decision's transaction
and a schema change in the store for a notice. The queue costs the decision
an append. Its price: events held while Prefect is down are lost if this
process dies before Prefect is back (the timeline still has every fact).

Why not ``prefect.events.emit_event`` here (the flows use it): its worker is
a process-wide thread bound to the process's ``PREFECT_API_URL``, retries each
event on its own (about ten reconnections, a warning each time), and holds an
unbounded queue. Here: one bounded queue, batches, the configured API URL.

Prefect down, slow or refusing: the batch stays at the head of the queue and is
tried again with backoff (0.5 s doubling to 15 s); the outage is logged once
when it starts and once when it ends, and each failed attempt is counted
(``alertflow_prefect_events_failed``). A full queue drops its oldest events
(``alertflow_prefect_events_dropped{reason="full"}``); a batch Prefect refuses
as invalid is dropped (``rejected``): sending it again would not help; a stop
sends what it can for 2 s and drops the rest (``stopped``). Each event's id is
fixed when it is made, so a batch sent again after an unseen success is stored
once (Prefect ignores an event id it has).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from prefect.client.orchestration import PrefectClient
from prefect.events import Event
from prefect.exceptions import PrefectHTTPStatusError
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings
from pydantic import ValidationError

from alertflow.doorbell import Doorbell
from alertflow.events import incident_of
from alertflow.metrics import Metrics
from alertflow.retries import delay_after, exponential

log = logging.getLogger("alertflow.pipeline.events")
CAPACITY = 10_000  # events held while Prefect is away; an hour of a busy on-call day
BATCH = 200
BACKOFF = exponential(0.5, cap=15.0)
REQUEST_SECONDS = 10.0
STOP_FLUSH_SECONDS = 2.0
IDLE_SECONDS = 5.0


def describe(event: dict[str, Any]) -> str:
    """One line for the log: ``incident 5 opened (checkout, critical, rule service-down): checkout API down``."""
    resource, payload = event.get("resource", {}), event.get("payload", {})
    what = event["event"].removeprefix("alertflow.").removeprefix("incident.")
    labels = f"{resource.get('service')}, {resource.get('severity')}, rule {resource.get('rule')}"
    detail = payload.get("summary") or payload.get("by") or ""
    return f"incident {resource.get('incident_id')} {what} ({labels})" + (f": {detail}" if detail else "")


class EventEmitter:
    """The API process's one sender of events to Prefect (see the module docstring)."""

    def __init__(
        self, client: Callable[[], PrefectClient], metrics: Metrics, capacity: int = CAPACITY,
        pages_first: Callable[[], Awaitable[None]] | None = None,
    ) -> None:  # fmt: skip
        self.client, self.metrics, self.capacity = client, metrics, capacity
        self.pages_first = pages_first  # the announcer's: in a burst, first pages go before events (paging/announcer.py)
        self.queue: deque[dict[str, Any]] = deque()
        self.doorbell = Doorbell()
        self.failing_since: float | None = None  # monotonic time of the first failure of the current outage
        self._full_said = False

    def offer(self, events: Iterable[dict[str, Any]]) -> None:
        """Queue events to send (never waits); each is logged here, with its incident and alert."""
        offered = False
        for event in events:
            fingerprint = event.get("payload", {}).get("fingerprint")
            log.info("%s", describe(event), extra={"incident_id": incident_of(event), "fingerprint": fingerprint})
            if len(self.queue) >= self.capacity:
                self.queue.popleft()
                self.metrics.events_dropped.labels("full").inc()
                if not self._full_said:
                    log.warning("Prefect events queue full (%d): dropping the oldest until Prefect takes events again", self.capacity)
                    self._full_said = True
            self.queue.append(event)
            offered = True
        if offered:
            self.metrics.events_queued.set(len(self.queue))
            self.doorbell.ring()

    async def run(self, stop: asyncio.Event) -> None:
        # The Prefect client would retry 5xx on its own, sleeping between tries; the backoff here is ours.
        with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 0}):
            async with self.client() as client:
                failures = 0
                while not stop.is_set():
                    if not self.queue:
                        await self.doorbell.wait(IDLE_SECONDS)
                        continue
                    if self.pages_first is not None:
                        await self.pages_first()
                    sent = await _unless_stopped(self.send(client), stop)  # a Prefect that hangs does not hold up a stop
                    failures = 0 if sent else failures + 1
                    if not sent and not stop.is_set():
                        with contextlib.suppress(TimeoutError):  # a stop ends the wait at once
                            await asyncio.wait_for(stop.wait(), delay_after(BACKOFF, failures))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._flush(client), STOP_FLUSH_SECONDS)
        if self.queue:
            log.warning("stopping with %d events Prefect has not taken: dropped", len(self.queue))
            self.metrics.events_dropped.labels("stopped").inc(len(self.queue))
            self.queue.clear()

    async def _flush(self, client: PrefectClient) -> None:
        while self.queue and await self.send(client):
            pass

    async def send(self, client: PrefectClient) -> bool:
        """Post the head of the queue; True when it left the queue (taken, or refused for good)."""
        batch = [self.queue[i] for i in range(min(BATCH, len(self.queue)))]
        body = []
        for event in batch:
            try:
                body.append(Event.model_validate(event).model_dump(mode="json"))
            except ValidationError as err:  # a bug of ours: never let one event hold up the rest
                log.error("event %s is not valid for Prefect, dropped: %s", event.get("event"), err)
                self.metrics.events_dropped.labels("rejected").inc()
        try:
            if body:
                await client.request("POST", "/events", json=body, timeout=REQUEST_SECONDS)  # type: ignore[arg-type]
        except Exception as err:
            if _refused(err):
                log.error("Prefect refused %d events, dropped: %s", len(body), err)
                self.metrics.events_dropped.labels("rejected").inc(len(body))
                self._settle(batch)
                return True
            self.metrics.events_failed.inc()
            if self.failing_since is None:
                self.failing_since = time.monotonic()
                log.warning("cannot send events to Prefect (%s: %s); holding them and retrying", type(err).__name__, err)
            return False
        self.metrics.events_sent.inc(len(body))
        if self.failing_since is not None:
            log.info("Prefect takes events again after %.0fs", time.monotonic() - self.failing_since)
            self.failing_since, self._full_said = None, False
        self._settle(batch)
        return True

    def _settle(self, batch: list[dict[str, Any]]) -> None:
        """Take a sent batch off the queue: those of its events a full queue has not dropped meanwhile."""
        for event in batch:
            if self.queue and self.queue[0] is event:
                self.queue.popleft()
        self.metrics.events_queued.set(len(self.queue))


async def _unless_stopped(sending: Coroutine[Any, Any, bool], stop: asyncio.Event) -> bool:
    """The send's outcome, or False at once when ``stop`` is set first (the send is cancelled; its batch stays queued)."""
    task, stopped = asyncio.ensure_future(sending), asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False
    return task.result()


def _refused(err: Exception) -> bool:
    """Prefect answered that the events are invalid: sending them again would not help."""
    return isinstance(err, PrefectHTTPStatusError) and 400 <= err.response.status_code < 500 and err.response.status_code not in (408, 429)
