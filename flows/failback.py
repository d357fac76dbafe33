"""Failback: return traffic to the primary once the incident is over and the primary has stayed healthy.

Queued when an incident resolves (if its rule's failover action sets
``failback_after_seconds``) or by hand (``alertflow failback SERVICE``, no
waiting). Hysteresis against flapping: the primary's health endpoint must
answer healthy continuously for ``healthy_for_seconds`` (any failure restarts
the clock), within ``max_wait_seconds``, else traffic stays where it is and a
person is told (escalation). Then
the same check → shift → verify │ restore discipline as failover applies,
under the same per-switch lock.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from prefect import flow

from alertflow.errors import IntegrationError, RetryableIntegrationError
from alertflow.flows.handover import hand_over
from alertflow.flows.runtime import record
from alertflow.flows.timeline import LIFECYCLE_HOOKS
from alertflow.flows.traffic import current_state, describe_plan, move_traffic, switch_settings
from alertflow.integrations.http import request
from alertflow.models import FailbackAction, TimelineKind

POLL_SECONDS = 1.0


async def wait_until_stably_healthy(url: str, healthy_for: float, max_wait: float, timeout: float) -> float:
    """Seconds waited until ``url`` answered 2xx for ``healthy_for`` seconds without a failure."""
    started = time.monotonic()
    healthy_since: float | None = None
    async with httpx.AsyncClient() as client:
        while True:
            try:
                await request(client, "GET", url, timeout=timeout)
                healthy_since = healthy_since or time.monotonic()
            except IntegrationError:
                healthy_since = None
            now = time.monotonic()
            if healthy_since is not None and now - healthy_since >= healthy_for:
                return now - started
            if now - started >= max_wait:
                raise RetryableIntegrationError(f"not healthy for {healthy_for:g}s in a row within {max_wait:g}s")
            await asyncio.sleep(min(POLL_SECONDS, max(healthy_for / 5, 0.1)))


@flow(name="failback", flow_run_name="failback-incident-{incident_id}", **LIFECYCLE_HOOKS)
async def fail_back(incident_id: int, action: FailbackAction) -> str | dict[str, Any]:
    """Wait until the primary is stably healthy, then shift traffic back to it and verify."""
    params = action.params
    if params.dry_run:
        return await describe_plan(incident_id, params.switch, params.to, "fail back")
    configured = switch_settings(params.switch)
    target = configured.targets.get(params.to)
    # Traffic already there (the failover never ran, or was rolled back): no wait, and move_traffic says so.
    if target is not None and params.healthy_for_seconds > 0 and (await current_state(params.switch, action.retry)).active != params.to:
        summary = f"failback: waiting until {params.to} has been healthy for {params.healthy_for_seconds:g}s"
        await record(incident_id, TimelineKind.failover, summary, switch=params.switch)
        try:
            waited = await wait_until_stably_healthy(
                target.health_url, params.healthy_for_seconds, params.max_wait_seconds, configured.timeout_seconds
            )
        except RetryableIntegrationError as err:
            await record(incident_id, TimelineKind.failover, f"failback: {params.to} {err}; traffic stays", switch=params.switch)
            await hand_over(incident_id, f"failback of {params.switch} to {params.to} not done: {params.to} not stably healthy", str(err))
            raise
        await record(incident_id, TimelineKind.failover, f"failback: {params.to} stably healthy after {waited:.0f}s", switch=params.switch)
    return await move_traffic(incident_id, params.switch, params.to, action.retry, "failback")
