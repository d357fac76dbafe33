"""Failover: move a service's traffic to its standby, verify, and undo on failure.

Steps: read the switch → shift to the target → verify the switch now serves
the target. If verification fails after the shift, the previous backend is
restored (compensation) and the rollback is recorded before the flow fails, so
a half-done failover never stays half done. Shifting to where traffic already
is changes nothing and says so, which makes retries and re-runs safe.
"""

from __future__ import annotations

import httpx
from prefect import flow

from alertflow.errors import ConfigError, RetryableIntegrationError
from alertflow.models import FailoverAction, TimelineKind
from flows.runtime import io_task, record, settings, with_retry
from flows.timeline import LIFECYCLE_HOOKS
from integrations.http_switch import HttpTrafficSwitch


@io_task
async def read_switch(switch: HttpTrafficSwitch) -> str:
    return await switch.status()


@io_task
async def shift_traffic(switch: HttpTrafficSwitch, to: str) -> str:
    return await switch.shift(to)


@io_task
async def verify_traffic(switch: HttpTrafficSwitch, expected: str) -> str:
    active = await switch.status()
    if active != expected:
        raise RetryableIntegrationError(f"switch serves {active!r}, expected {expected!r}")
    return active


@flow(name="failover", flow_run_name="failover-incident-{incident_id}", **LIFECYCLE_HOOKS)
async def fail_over(incident_id: int, action: FailoverAction) -> str:
    """Shift traffic for the incident's service to the standby and verify it."""
    name, target = action.params.switch, action.params.to
    switch_settings = settings().switches.get(name)
    if switch_settings is None:
        raise ConfigError(f"no traffic switch named {name!r} in the config file")
    async with httpx.AsyncClient() as client:
        switch = HttpTrafficSwitch(switch_settings, client)
        active = await with_retry(read_switch, action.retry)(switch)
        if active == target:
            await record(incident_id, TimelineKind.failover, f"switch {name} already serves {target}: nothing to do")
            return active
        previous = await with_retry(shift_traffic, action.retry)(switch, target)
        await record(incident_id, TimelineKind.failover, f"switch {name} shifted from {previous} to {target}", switch=name)
        try:
            await with_retry(verify_traffic, action.retry)(switch, target)
        except Exception as err:
            await with_retry(shift_traffic, action.retry)(switch, previous)
            await record(incident_id, TimelineKind.rollback, f"switch {name} restored to {previous}: verification failed: {err}")
            raise
        await record(incident_id, TimelineKind.failover, f"switch {name} verified serving {target}", switch=name)
        return target
