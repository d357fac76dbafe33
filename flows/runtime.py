"""What every response flow needs from the process it runs in.

A flow run is an entry point of its own (in the in-process worker or in a
process Prefect spawned), so it reads settings from ``ALERTFLOW_CONFIG`` and
opens the store once per event loop. Retry policies from the rules file are
applied here to the tasks that do I/O, and only failures worth retrying are
retried: a wrong token or an unknown channel fails at once.

Every timeline entry a flow writes (``record``) is also a line in the run's
log through Prefect's run logger, so the run's page in the UI tells the same
story; given an ``event`` (alertflow/events.py) it is also emitted to Prefect
with ``emit_event``, which relates it to the flow run, its flow and deployment.
An event that cannot be emitted is logged, never fails the flow.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from datetime import datetime, timezone
from typing import Any, TypeVar

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger
from prefect.tasks import Task, exponential_backoff

from alertflow.config import settings as config
from alertflow.errors import AlertflowError, RetryableIntegrationError, StoreError
from alertflow.events import event_for
from alertflow.models import RetryPolicy, TimelineEntry, TimelineKind
from alertflow.store.database import Store

T = TypeVar("T", bound=Task[Any, Any])

# Flow runs this process's worker is handing back to Prefect's queue as it stops (alertflow/worker/takeover.py):
# their lifecycle hooks say so instead of "cancelled", and they continue on the next worker.
HANDED_OVER: set[str] = set()

log = logging.getLogger("alertflow.flows")
_stores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Store] = weakref.WeakKeyDictionary()


def settings() -> config.Settings:
    return config.current()


def store() -> Store:
    """One store per event loop: database connections cannot cross loops."""
    loop = asyncio.get_running_loop()
    if loop not in _stores:
        _stores[loop] = Store(settings().resolved_database_url)
    return _stores[loop]


def _worth_retrying(task: Any, task_run: Any, state: Any) -> bool:
    error = state.data
    return isinstance(error, (RetryableIntegrationError, StoreError)) or not isinstance(error, AlertflowError)


def io_task(fn: Any) -> Task[Any, Any]:
    """A task that talks to the outside world: never cached, retried only when it may help."""
    return task(fn, cache_policy=NO_CACHE, retry_condition_fn=_worth_retrying)


def retry_delays(policy: RetryPolicy) -> list[float]:
    """The wait before each retry, as Prefect's ``retry_delay_seconds``; a backoff factor goes through Prefect's own formula."""
    if policy.exponential_backoff is not None:
        return exponential_backoff(policy.exponential_backoff)(policy.retries)
    if isinstance(policy.retry_delay_seconds, list):
        return list(policy.retry_delay_seconds) or [0.0]
    return [float(policy.retry_delay_seconds)]


def with_retry(io: T, policy: RetryPolicy) -> T:
    """Apply one action's retry policy (from the rules file) where the I/O happens."""
    return io.with_options(retries=policy.retries, retry_delay_seconds=retry_delays(policy))  # type: ignore[return-value]


def current_run() -> tuple[str | None, str | None]:
    """(flow run id, link to it in the Prefect UI), or (None, None) outside a flow run."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return None, None
    return str(context.flow_run.id), run_link(context.flow_run.id)


def run_link(flow_run_id: Any) -> str:
    return f"{settings().prefect_ui_url}/runs/flow-run/{flow_run_id}"


def artifact_key(incident_id: int) -> str:
    """The key of the incident's timeline artifact (flows/timeline.py); the open-incidents table links to it."""
    return f"incident-{incident_id}-timeline"


def artifact_link(key: str) -> str:
    return f"{settings().prefect_ui_url}/artifacts/key/{key}"


def timeline_entry(incident_id: int, kind: TimelineKind, summary: str, flow_run_id: Any = None, **data: Any) -> TimelineEntry:
    """One timeline entry by the current flow run (or ``flow_run_id``, from a state hook), linked to it."""
    run_id = str(flow_run_id) if flow_run_id else current_run()[0]
    if run_id:
        data.update(flow_run_id=run_id, flow_run_url=run_link(run_id))
    return TimelineEntry(
        incident_id=incident_id,
        at=datetime.now(timezone.utc),
        kind=kind,
        summary=summary,
        data=data,
        actor=f"flow-run:{run_id}" if run_id else "system",
    )


async def record(
    incident_id: int, kind: TimelineKind, summary: str, flow_run_id: Any = None, event: str | None = None, **data: Any
) -> None:
    """Write one timeline entry as the current flow run (or ``flow_run_id``, from a state hook), say it in the run's log,
    and emit ``event`` about the incident if given."""
    await store().add_timeline(timeline_entry(incident_id, kind, summary, flow_run_id, **data))
    extra = {"incident_id": incident_id} | ({"flow_run_id": str(flow_run_id)} if flow_run_id else {})  # a hook runs outside its run
    run_logger().info("incident %s: %s", incident_id, summary, extra=extra)
    if event is not None:
        await emit(incident_id, event, summary=summary, **{k: v for k, v in data.items() if isinstance(v, str | int | float | bool)})


def run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """Prefect's logger of the current flow or task run (its lines show on the run's page), else ours."""
    try:
        return get_run_logger()
    except MissingContextError:
        return log


async def emit(incident_id: int, event: str, **payload: Any) -> None:
    """Emit an event about the incident, labelled as it stands now; Prefect adds the run's resources."""
    try:
        emit_event(**event_for(event, await store().get_incident(incident_id), **payload))
    except Exception as err:  # an event is a notice: never the reason a response fails
        log.warning("event %s for incident %s not emitted: %s: %s", event, incident_id, type(err).__name__, err)
