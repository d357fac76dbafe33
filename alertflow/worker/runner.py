"""``alertflow worker``: serve the response deployments and run their flow runs.

Prefect's own runner starts a fresh Python process per flow run; importing
Prefect there costs about a second, which is most of a page's latency budget.
Our flows are async and ours, so by default this worker runs them in-process:
it polls Prefect for scheduled runs of its deployments, claims each (Pending,
so two workers never run one flow run), and runs it with Prefect's engine as
an asyncio task. Runs still get their own state, retries, logs and UI page.
Cancelling a run in the UI cancels its task. ``--isolated`` uses Prefect's
standard process-per-run runner instead, trading latency for isolation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

from prefect import Flow
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterState, FlowRunFilterStateName
from prefect.client.schemas.objects import FlowRun
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import Abort
from prefect.flow_engine import run_flow
from prefect.states import Cancelled, Pending
from prefect.types.entrypoint import EntrypointType
from prefect.utilities.engine import propose_state
from prometheus_client import start_http_server
from tenacity import RetryCallState

from alertflow.config.settings import Settings
from alertflow.flows import RESPONSE_FLOWS, publish_report
from alertflow.flows.report import report_deployment
from alertflow.flows.runtime import HANDED_OVER
from alertflow.metrics import worker_metrics
from alertflow.models import FlowName
from alertflow.retries import exponential, retrying
from alertflow.store.database import Store
from alertflow.store.workers import Heartbeats
from alertflow.worker.takeover import Takeover, reschedule

log = logging.getLogger("alertflow.worker.runner")
SHUTDOWN_GRACE_SECONDS = 30.0
HAND_OVER_SECONDS = 5.0  # how long a stop waits for Prefect to take a run back
# Paging runs hold a slot while they wait for an answer (minutes), so they have slots of their own:
# a storm of waiting escalations never keeps a failover from starting, nor the reverse.
PAGING_SLOTS, OTHER_SLOTS = 0, 1
WAITING_FLOWS = {FlowName.paging, FlowName.timeline}  # runs that mostly wait: handed back at once on a stop
REGISTER_MAX_BACKOFF_SECONDS = 30.0
CANCEL_CHECK_SECONDS = 2.0  # a cancel from the UI may take this long; polling faster costs the Prefect server


async def build_deployments(settings: Settings) -> list[RunnerDeployment]:
    deployments = []
    for name, flow in RESPONSE_FLOWS.items():
        deployment = await flow.ato_deployment(
            name=settings.deployment_name,
            description=f"alertflow {name.value} response (served by `alertflow worker`)",
            tags=["alertflow"],
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        deployments.append(deployment)
    return [*deployments, await report_deployment(settings)]  # the weekly report, on its cron schedule (flows/report.py)


class InProcessWorker:
    def __init__(self, client: PrefectClient, flows: dict[UUID, Flow[Any, Any]], *, limit: int, poll_seconds: float) -> None:
        self.client = client
        self.flows = flows
        self.limit = limit
        self.poll_seconds = poll_seconds
        self.active: dict[UUID, tuple[int, asyncio.Task[Any], FlowName]] = {}  # flow run id -> (slot pool, task, flow)
        self._cancel_checked = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        stopped = asyncio.ensure_future(stop.wait())
        while not stop.is_set():
            polled = asyncio.ensure_future(self._pass())
            await asyncio.wait({polled, stopped}, return_when=asyncio.FIRST_COMPLETED)
            polled.cancel()  # a stop does not wait for a Prefect that does not answer
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(stopped), self.poll_seconds)
        await self.shutdown()

    async def _pass(self) -> None:
        try:
            await self.poll_once()
            if time.monotonic() - self._cancel_checked >= CANCEL_CHECK_SECONDS:
                await self.cancel_requested()
                self._cancel_checked = time.monotonic()
        except Exception as err:
            log.warning("worker poll failed (will retry): %s: %s", type(err).__name__, err)

    async def poll_once(self) -> int:
        """Claim and start what is due, runs that act on systems first (FlowName.priority); paging runs have slots of their own,
        so a page never waits behind failovers and recoveries holding every slot."""
        busy = Counter(pool for pool, _, _ in self.active.values())
        if all(busy[p] >= self.limit for p in (PAGING_SLOTS, OTHER_SLOTS)):
            return 0
        runs = await self.client.get_scheduled_flow_runs_for_deployments(
            deployment_ids=list(self.flows), scheduled_before=datetime.now(timezone.utc) + timedelta(seconds=1), limit=4 * self.limit
        )
        started = 0
        for flow_run in sorted(
            runs, key=lambda run: (self._flow(run).priority, run.next_scheduled_start_time or datetime.now(timezone.utc))
        ):
            flow = self._flow(flow_run)
            pool = PAGING_SLOTS if flow is FlowName.paging else OTHER_SLOTS
            if flow_run.id in self.active or busy[pool] >= self.limit or not await self._claim(flow_run):
                continue
            self.active[flow_run.id] = (pool, asyncio.create_task(self._execute(flow_run), name=f"flow-run-{flow_run.name}"), flow)
            busy[pool] += 1
            started += 1
        return started

    def _flow(self, flow_run: FlowRun) -> FlowName:
        name = self.flows[flow_run.deployment_id].name  # type: ignore[index]
        return FlowName.timeline if name == publish_report.name else FlowName(name)  # a report queues and yields like a timeline

    async def _claim(self, flow_run: FlowRun) -> bool:
        try:
            state = await propose_state(self.client, Pending(), flow_run_id=flow_run.id)
        except Abort:
            return False  # another worker took it, or it was cancelled
        return state.is_pending()

    async def _execute(self, flow_run: FlowRun) -> None:
        flow = self.flows[flow_run.deployment_id]  # type: ignore[index]
        started, ended = time.monotonic(), "crashed"
        try:
            state = await run_flow(flow, flow_run=flow_run, return_type="state")  # type: ignore[misc]
            ended = state.type.value.lower()
        except asyncio.CancelledError:
            if str(flow_run.id) in HANDED_OVER:
                ended = "handed_over"
                why = "handed over: its worker stopped; it continues where it was"
                with contextlib.suppress(Exception):  # Prefect unreachable: the reaper reschedules it instead
                    await asyncio.wait_for(reschedule(self.client, flow_run.id, why), HAND_OVER_SECONDS)
            else:
                ended = "cancelled"
                await propose_state(self.client, Cancelled(message="cancelled while running"), flow_run_id=flow_run.id, force=True)
        except Exception:
            log.exception("flow run %s ended with an engine error", flow_run.name)
        finally:
            self.active.pop(flow_run.id, None)
            worker_metrics().flow_runs.labels(flow.name, ended).observe(time.monotonic() - started)

    async def cancel_requested(self) -> None:
        """Cancel the tasks of runs someone asked to cancel (Prefect UI or API)."""
        if not self.active:
            return
        cancelling = await self.client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=list(self.active)),
                state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Cancelling"])),
            )
        )
        for flow_run in cancelling:
            _, task, _ = self.active.get(flow_run.id, (None, None, None))
            if task:
                log.info("cancelling flow run %s on request", flow_run.name)
                task.cancel()

    async def shutdown(self) -> None:
        """Drain: waiting runs go back to the queue at once (their wait is state, alertflow/worker/takeover.py), the
        others get the grace period to finish, and whatever still runs after it goes back too."""
        await self.hand_over([run for run, (_, _, flow) in self.active.items() if flow in WAITING_FLOWS])
        if self.active:
            log.info("waiting up to %.0fs for %d flow runs to finish", SHUTDOWN_GRACE_SECONDS, len(self.active))
            await asyncio.wait([task for _, task, _ in self.active.values()], timeout=SHUTDOWN_GRACE_SECONDS)
        await self.hand_over(list(self.active))

    async def hand_over(self, runs: list[UUID]) -> None:
        if runs:
            log.info("handing %d flow runs back to Prefect's queue", len(runs))
        tasks = [self.active[run][1] for run in runs if run in self.active]
        HANDED_OVER.update(str(run) for run in runs)
        for task in tasks:
            task.cancel()
        if tasks:  # bounded: with Prefect unreachable, a run left Running is rescheduled by the next worker's reaper
            await asyncio.wait(tasks, timeout=HAND_OVER_SECONDS)


async def register(deployments: list[RunnerDeployment], stop: asyncio.Event) -> list[UUID] | None:
    """Apply the deployments, waiting for Prefect if it is not up yet; None if stopped first."""

    async def nap(seconds: float) -> None:  # a stop ends the wait at once
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)

    def warn(state: RetryCallState) -> None:
        err, delay = state.outcome.exception() if state.outcome else None, state.upcoming_sleep
        log.warning("cannot register deployments yet (%s: %s); retrying in %.0fs", type(err).__name__, err, delay)

    async def apply() -> list[UUID] | None:
        return None if stop.is_set() else [await deployment.aapply() for deployment in deployments]

    return await retrying(wait=exponential(1.0, REGISTER_MAX_BACKOFF_SECONDS), sleep=nap, before_sleep=warn)(apply)


async def serve(settings: Settings, stop: asyncio.Event, *, isolated: bool = False) -> None:
    """Register the response deployments, then run their flow runs until ``stop`` is set."""
    deployments = await build_deployments(settings)
    if settings.worker_metrics_port is not None:
        start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_host, registry=worker_metrics().registry)
        log.info("worker metrics on http://%s:%d/metrics", settings.worker_metrics_host, settings.worker_metrics_port)
    if isolated:
        from prefect import aserve

        serving = asyncio.create_task(aserve(*deployments, limit=settings.worker_limit))
        await stop.wait()
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        return
    ids = await register(deployments, stop)
    if ids is None:
        return
    flows = dict(zip(ids, [*RESPONSE_FLOWS.values(), publish_report], strict=True))
    names = ", ".join([*(f"{FlowName(n).value}/{settings.deployment_name}" for n in RESPONSE_FLOWS), f"report/{deployments[-1].name}"])
    log.info("serving %s (in-process, up to %d runs at once)", names, settings.worker_limit)
    store = Store(settings.resolved_database_url)
    await store.check_schema(create_if_empty=True)  # it may start before the API on a fresh install; refuses an older schema
    async with get_client() as client:
        worker = InProcessWorker(client, flows, limit=settings.worker_limit, poll_seconds=settings.worker_poll_seconds)
        takeover = Takeover(client, {id: flow.name for id, flow in flows.items()}, uuid.uuid4().hex, Heartbeats(store))
        beating = asyncio.create_task(takeover.run(stop, lambda: list(worker.active)))
        await worker.run(stop)
        await beating
        await takeover.leave(list(worker.active))
    await store.dispose()


def run_until_signalled(settings: Settings) -> None:
    """``alertflow worker``: serve in-process until SIGTERM or SIGINT, then drain.

    Prefect's flow engine installs its own SIGTERM handler in the main thread while a run is active
    (it raises TerminationSignal there, ending every run of an in-process worker at once). So the
    worker's event loop runs in a thread of its own, where Prefect installs none, and the main thread
    turns the signal into the worker's drain.
    """
    started = threading.Event()
    loop: list[asyncio.AbstractEventLoop] = []
    stop: list[asyncio.Event] = []

    async def main() -> None:
        loop.append(asyncio.get_running_loop())
        stop.append(asyncio.Event())
        started.set()
        await serve(settings, stop[0])

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="worker")
    thread.start()
    started.wait()

    def drain(signum: int, frame: object) -> None:
        log.info("signal %d: draining", signum)
        loop[0].call_soon_threadsafe(stop[0].set)

    signal.signal(signal.SIGTERM, drain)
    signal.signal(signal.SIGINT, drain)
    while thread.is_alive():
        thread.join(0.5)
