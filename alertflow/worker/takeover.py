"""Runs outlive the worker that ran them: a stopping worker hands its runs over, a dead one's are taken over.

A response's progress is state, not a sleeping process: the page log holds
which pages were sent and when each step began, a traffic switch says where
traffic is. So a flow run started again from the top continues where it
was: no page is sent twice and only what is left of a step's wait is waited.
What remains is getting the run started again.

- SIGTERM (a deploy, a restart): the worker stops claiming, hands its long
  runs (paging waiting for an answer, a timeline following its incident) back
  to Prefect's queue at once, lets the others finish within the grace period,
  then hands back whatever is still running. Handing back is cancelling the
  run's task here and putting the flow run back to Scheduled, so any worker
  claims it (this one after a restart).
- SIGKILL, a crash, a machine gone: nothing is handed back. Every worker beats
  a heartbeat with the runs it holds (alertflow/store/workers.py); every
  worker's reaper puts Running, Pending or Paused runs of our deployments that no live
  worker holds back to Scheduled once their state is older than a heartbeat's
  staleness, so they continue on a live worker within about 20 s, and says so
  in the incident's timeline (nothing else would tell a person why the run
  started twice).

Do not run ``--isolated`` workers (Prefect's runner) against the same
deployments as in-process ones: their runs beat no heartbeat here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.states import Scheduled
from prefect.utilities.engine import propose_state

from alertflow.flows.runtime import timeline_entry
from alertflow.models import TimelineKind
from alertflow.store.workers import Heartbeats

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 3.0
STALE_SECONDS = 15.0  # five missed heartbeats: the worker is gone
REAP_SECONDS = 5.0


async def reschedule(client: PrefectClient, flow_run_id: UUID, why: str) -> None:
    """Put a flow run back in the queue, now: the next worker to poll claims it and runs it again from the top."""
    state = Scheduled(scheduled_time=datetime.now(timezone.utc), name="Rescheduled", message=why)
    await propose_state(client, state, flow_run_id=flow_run_id, force=True)


class Takeover:
    def __init__(self, client: PrefectClient, flow_names: dict[UUID, str], worker_id: str, heartbeats: Heartbeats) -> None:
        """``flow_names``: our deployments' ids, each with the name of the flow it runs."""
        self.client, self.flow_names, self.worker_id, self.heartbeats = client, flow_names, worker_id, heartbeats

    async def run(self, stop: asyncio.Event, held: Callable[[], list[UUID]]) -> None:
        """Beat and reap until ``stop``; then leave, so this worker's runs (handed back by then) are nobody's."""
        reaped = 0.0
        while not stop.is_set():
            try:
                await self.heartbeats.beat(self.worker_id, [str(run) for run in held()], datetime.now(timezone.utc))
                if time.monotonic() - reaped >= REAP_SECONDS:  # a read of every running run: not at every beat
                    await self.reap()
                    reaped = time.monotonic()
            except Exception as err:
                log.warning("heartbeat or takeover pass failed (will retry): %s: %s", type(err).__name__, err)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HEARTBEAT_SECONDS)

    async def leave(self, held: list[UUID]) -> None:
        """The last beat: what this worker still holds (runs it could not hand back) stays protected until stale."""
        with contextlib.suppress(Exception):
            if held:
                await self.heartbeats.beat(self.worker_id, [str(run) for run in held], datetime.now(timezone.utc))
            else:
                await self.heartbeats.leave(self.worker_id)

    async def reap(self) -> int:
        """Reschedule our deployments' Running, Pending or Paused (waiting for a UI answer) runs that no live worker holds."""
        now = datetime.now(timezone.utc)
        held = await self.heartbeats.held(now, STALE_SECONDS)
        runs = await self.client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(any_=list(self.flow_names)),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING, StateType.PAUSED])),
            )
        )
        orphans = [
            run for run in runs if str(run.id) not in held and run.state and run.state.timestamp < now - timedelta(seconds=STALE_SECONDS)
        ]
        for run in orphans:
            log.warning("flow run %s has no live worker (its worker died): rescheduled", run.name)
            await reschedule(self.client, run.id, "its worker stopped answering; taken over")
            await self.say_taken_over(run)
        return len(orphans)

    async def say_taken_over(self, run: FlowRun) -> None:
        """One timeline entry, like the one a handed-over run writes, so the second "started" has its reason."""
        incident_id = run.parameters.get("incident_id")
        if incident_id is None:
            return
        flow = self.flow_names.get(run.deployment_id, "response") if run.deployment_id else "response"
        summary = f"{flow} flow taken over: its worker stopped answering; it continues on a live worker"
        data = {"flow": flow, "flow_run": run.name, "state": "Rescheduled", "ended": False}
        await self.heartbeats.store.add_timeline(timeline_entry(int(incident_id), TimelineKind.flow, summary, run.id, **data))
