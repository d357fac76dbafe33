"""Outbox → Prefect: create one flow run per decided action, exactly once.

A row is marked dispatched only after Prefect accepted the run, and the row's
idempotency key goes with it, so a crash between the two re-sends and Prefect
returns the run it already has. When Prefect is unreachable, rows wait with
backoff while the webhook keeps accepting; they drain when it is back.

Every API replica dispatches: each row is claimed first (``Store.claim_outbox``,
``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two replicas never send the same
row at once, and the idempotency key covers a claim that ran out.

Runs are created one at a time by default: Prefect on SQLite answers
concurrent run creation with lock errors and 2 s client retries, slower than
a sequence. Prefect on PostgreSQL takes several at once
(``dispatch_concurrency``), which is what a burst of incidents needs.
This is ``run_deployment(..., timeout=0, idempotency_key=...)`` minus its
per-call deployment read: deployment ids are looked up once and cached.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import httpx
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings
from prefect.states import Scheduled

from alertflow.doorbell import Doorbell
from alertflow.errors import StoreUnavailable
from alertflow.models import TimelineEntry, TimelineKind
from alertflow.retries import delay_after, exponential, retrying
from alertflow.store.database import OutboxRow, Store

log = logging.getLogger("alertflow.pipeline.dispatch")
# Prefect down: a row waits 0.5, 1, 2, ... s, at most 30 s, counted by its persisted attempts (not a loop).
DOWN_BACKOFF = exponential(0.5, cap=30.0)
# Prefect busy while creating one run: five quick retries, 0.05 to 0.8 s apart.
QUICK_ATTEMPTS, QUICK_BACKOFF = 6, exponential(0.05)
BUSY_RETRY_SECONDS = 0.2
# A claimed row is this dispatcher's for this long (creating a run takes well under a second, its quick retries
# under two); one whose dispatcher died is then taken by another replica, with the same idempotency key.
CLAIM_SECONDS = 15.0


class Dispatcher:
    def __init__(
        self, store: Store, client: Callable[[], PrefectClient], *, deployment_name: str, ui_url: str, concurrency: int = 1,
        pages_first: Callable[[], Awaitable[None]] | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.pages_first = pages_first  # the announcer's: first pages go before flow runs (alertflow/paging/announcer.py)
        self.concurrency = concurrency
        self.client = client
        self.deployment_name = deployment_name
        self.ui_url = ui_url
        self._deployments: dict[str, UUID] = {}
        self.doorbell = Doorbell()
        self.prefect_reachable: bool | None = None

    def nudge(self) -> None:
        self.doorbell.ring()

    async def run(self, stop: asyncio.Event, idle_seconds: float = 1.0) -> None:
        # The Prefect client would sleep 2, 4, 8, 16 s on its own retries and hold up every
        # other incident's runs; we retry ourselves, quickly (see _create).
        with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 0}):
            await self._run(stop, idle_seconds)

    async def _run(self, stop: asyncio.Event, idle_seconds: float) -> None:
        async with self.client() as client:
            self.prefect_reachable = await client.api_healthcheck() is None  # for /readyz before any dispatch
            await asyncio.gather(*(self._loop(client, stop, idle_seconds) for _ in range(self.concurrency)))

    async def _loop(self, client: PrefectClient, stop: asyncio.Event, idle_seconds: float) -> None:
        """One of ``concurrency`` creators: each claims its own row, so they never create the same run at once."""
        while not stop.is_set():
            try:
                await self.drain(client)
            except StoreUnavailable as err:  # expected while the database is away: one line, not a traceback a second
                log.error("store unavailable, dispatcher will retry: %s", err)
            except Exception:
                log.exception("dispatcher pass failed")
            await self.doorbell.wait(idle_seconds)

    async def drain(self, client: PrefectClient) -> int:
        """Dispatch every due row; stops at the first failure (Prefect is likely down or busy).

        One row per claim: a page decided while a backlog drains goes next, not after the backlog; and each claim
        waits for the first pages decided so far to leave (``pages_first``), a second or two at most.
        """
        sent = 0
        while True:
            if self.pages_first is not None:
                await self.pages_first()
            row = await self.store.claim_outbox(datetime.now(timezone.utc), CLAIM_SECONDS)
            if row is None:
                return sent
            try:
                await self._dispatch(client, row)
            except Exception as err:
                await self._postpone(row, err)
                self.prefect_reachable = not _is_connection_error(err)
                return sent
            sent += 1
            self.prefect_reachable = True

    async def _dispatch(self, client: PrefectClient, row: OutboxRow) -> None:
        deployment_id = await self._deployment_id(client, row.flow)
        flow_run = await self._create(client, deployment_id, row)
        link = f"{self.ui_url}/runs/flow-run/{flow_run.id}"
        entry = TimelineEntry(
            incident_id=row.incident_id,
            at=datetime.now(timezone.utc),
            kind=TimelineKind.flow,
            summary=f"{row.flow} flow run {flow_run.name} scheduled",
            data={"flow_run_id": str(flow_run.id), "flow_run_url": link, "outbox_id": row.id},
        )
        await self.store.mark_dispatched(row.id, str(flow_run.id), entry)

    async def _create(self, client: PrefectClient, deployment_id: UUID, row: OutboxRow) -> FlowRun:
        """Create the run; a busy server (Prefect on SQLite answers 503 on lock contention) gets quick retries.

        The idempotency key makes a retry after an unseen success return that run, not a new one.
        """

        async def create() -> FlowRun:
            return await client.create_flow_run_from_deployment(
                deployment_id,
                parameters=row.parameters,
                state=Scheduled(),
                name=f"{row.flow}-incident-{row.incident_id}",
                idempotency_key=row.idempotency_key,
                tags=["alertflow", f"incident-{row.incident_id}"],
            )

        return await retrying(attempts=QUICK_ATTEMPTS, wait=QUICK_BACKOFF, retry_on=_is_busy)(create)

    async def _deployment_id(self, client: PrefectClient, flow: str) -> UUID:
        if flow not in self._deployments:
            name = f"{flow}/{self.deployment_name}"
            try:
                self._deployments[flow] = (await client.read_deployment_by_name(name)).id
            except ObjectNotFound:
                raise LookupError(f"deployment {name} not found in Prefect: is `alertflow worker` running?") from None
        return self._deployments[flow]

    async def _postpone(self, row: OutboxRow, err: Exception) -> None:
        """Try the row again later: soon if Prefect is only busy, with growing backoff if it is down."""
        if isinstance(err, ObjectNotFound):
            self._deployments.pop(row.flow, None)  # the deployment was deleted or recreated
        busy = _is_busy(err)
        delay = BUSY_RETRY_SECONDS if busy else delay_after(DOWN_BACKOFF, row.attempts + 1)
        message = f"{type(err).__name__}: {err}"
        log.log(
            logging.INFO if busy else logging.WARNING,
            "could not dispatch %s flow for incident %s (attempt %d, next in %.1fs): %s",
            row.flow,
            row.incident_id,
            row.attempts + 1,
            delay,
            message,
        )
        await self.store.mark_dispatch_failed(row.id, message, datetime.now(timezone.utc) + timedelta(seconds=delay))


def _is_busy(err: Exception) -> bool:
    """Prefect answered but is overloaded: on SQLite, lock contention comes back as 503."""
    return isinstance(err, PrefectHTTPStatusError) and err.response.status_code in (429, 503)


def _is_connection_error(err: Any) -> bool:
    return isinstance(err, (httpx.TransportError, OSError))
