"""Moving traffic with care, shared by failover and failback: check → shift → verify │ restore.

1. Read the switch. Already on the target: nothing to move, and say so (idempotent);
   still verify (step 4) before calling it done: a run taken over after its
   worker died between shift and verify continues here.
2. Check the target's own health endpoint. Unhealthy: do not shift; record, escalate.
3. Shift. 4. Verify through the front end (the probe), not only the switch's answer.
5. If the shift or the verification fails, restore the state read in step 1
   (an explicit saga: compensation that we record in our store, and verify by
   reading the switch again), record the rollback and escalate.

Prefect's ``transaction()`` with ``on_rollback`` hooks would run the same
compensation, but in-process and best-effort (a hook that raises is logged and
swallowed); here a failed restore is itself recorded and escalated.

At most one move per switch at a time: a lease in the store (``locks`` table)
named after the switch, which any worker and any database backend honour,
renewed while held so a long move (retries, backoff) never outlives it; a
second run waits for the first, then finds the work done and says so. Every
entry these steps write is a ``failover`` timeline entry, failback's included.
The moves are events for Prefect too: ``alertflow.failover.shifted``,
``.verified``, ``.rolled-back``, ``.rollback-failed`` (``alertflow.failback.*``
when failing back), from the flow run that made them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from alertflow.config.responses import HaproxySwitchSettings, HttpSwitchSettings, Probe
from alertflow.config.secrets import resolve_secrets
from alertflow.errors import ConfigError, RetryableIntegrationError, StoreError
from alertflow.events import traffic
from alertflow.flows.handover import hand_over, trim
from alertflow.flows.runtime import current_run, io_task, record, settings, store, with_retry
from alertflow.integrations.http import request, safe_url
from alertflow.integrations.switches import SwitchState, TrafficSwitch
from alertflow.integrations.switches.haproxy import HaproxySwitch
from alertflow.integrations.switches.http import HttpTrafficSwitch
from alertflow.integrations.switches.probe import verify_served_by
from alertflow.models import RetryPolicy, TimelineKind

LOCK_TTL_SECONDS = 900.0  # a holder that died frees the switch after this long
LOCK_RENEW_SECONDS = LOCK_TTL_SECONDS / 3
LOCK_POLL_SECONDS = 0.5
KIND = TimelineKind.failover


@io_task
async def read_switch(switch: TrafficSwitch) -> SwitchState:
    return await switch.status()


@io_task
async def check_health(url: str, timeout: float) -> str:
    async with httpx.AsyncClient() as client:
        response = await request(client, "GET", url, timeout=timeout)
    return f"{safe_url(url)} answered HTTP {response.status_code}"


@io_task
async def shift_traffic(switch: TrafficSwitch, to: str) -> None:
    await switch.shift(to)


@io_task
async def verify_traffic(switch: TrafficSwitch, to: str, probe: Probe | None, marker: str) -> str:
    state = await switch.status()
    if state.active != to:
        raise RetryableIntegrationError(f"switch serves {state.active or 'no single target'} {state.detail}, expected {to}")
    if probe is None:
        return f"switch reports {to} (no front-end probe configured: traffic itself not checked)"
    async with httpx.AsyncClient() as client:
        return await verify_served_by(probe, marker, client)


@io_task
async def restore_switch(switch: TrafficSwitch, state: SwitchState) -> SwitchState:
    await switch.restore(state)
    after = await switch.status()
    if after.detail != state.detail:
        raise RetryableIntegrationError(f"switch reads {after.detail} after restore, expected {state.detail}")
    return after


def switch_settings(name: str) -> HttpSwitchSettings | HaproxySwitchSettings:
    configured = settings().switches.get(name)
    if configured is None:
        raise ConfigError(f"no traffic switch named {name!r} in the config file")
    return configured


@asynccontextmanager
async def open_switch(
    name: str, variables: dict[str, str]
) -> AsyncIterator[tuple[HttpSwitchSettings | HaproxySwitchSettings, TrafficSwitch]]:
    """The named switch from the config, its secrets resolved, ready to use."""
    resolved = await resolve_secrets(switch_settings(name))
    if isinstance(resolved, HaproxySwitchSettings):  # its own socket per command: no HTTP client to set up
        yield resolved, HaproxySwitch(resolved)
        return
    async with httpx.AsyncClient() as client:
        yield resolved, HttpTrafficSwitch(resolved, client, {**variables, "switch": name})


@asynccontextmanager
async def switch_lock(incident_id: int, name: str) -> AsyncIterator[None]:
    """Hold the switch's lease, renewed while held; wait for another holder up to the switch's
    ``lock_wait_seconds``, then fail saying who holds it."""
    wait_seconds = switch_settings(name).lock_wait_seconds
    lock, me = f"switch:{name}", current_run()[0] or f"process:{uuid.uuid4()}"
    deadline, said = time.monotonic() + wait_seconds, False
    while (holder := await store().acquire_lock(lock, me, LOCK_TTL_SECONDS)) != me:
        if not said:
            await record(incident_id, KIND, f"switch {name} is being moved by {holder}: waiting for it", holder=holder)
            said = True
        if time.monotonic() >= deadline:
            raise RetryableIntegrationError(f"switch {name} is still held by {holder} after {wait_seconds:g}s")
        await asyncio.sleep(LOCK_POLL_SECONDS)
    renewal = asyncio.create_task(_renew_lock(lock, me))
    try:
        yield
    finally:
        renewal.cancel()
        await store().release_lock(lock, me)


async def _renew_lock(lock: str, holder: str) -> None:
    while True:
        await asyncio.sleep(LOCK_RENEW_SECONDS)
        with contextlib.suppress(StoreError):  # the next renewal tries again, well before expiry
            await store().acquire_lock(lock, holder, LOCK_TTL_SECONDS)


async def current_state(name: str, retry: RetryPolicy) -> SwitchState:
    """What the named switch serves now."""
    async with open_switch(name, {}) as (_, switch):
        return await with_retry(read_switch, retry)(switch)


async def describe_plan(incident_id: int, name: str, to: str, verb: str) -> dict[str, Any]:
    """Dry run: read the switch and the target's health, record the plan, change nothing."""
    configured = switch_settings(name)
    state = await current_state(name, RetryPolicy())
    target = configured.targets.get(to)
    health = "no health_url configured"
    if target is not None:
        try:
            health = await check_health.with_options(retries=0)(target.health_url, configured.timeout_seconds)
        except Exception as err:
            health = f"unhealthy: {trim(err, 300)}"
    steps = (
        ["nothing: already there"]
        if state.active == to
        else [
            f"check {to} health",
            f"shift {name} to {to}",
            "verify " + ("through the front end" if configured.probe else "by the switch"),
            "on failure: restore",
        ]
    )
    plan = {"switch": name, "current": state.active, "detail": state.detail, "target": to, "target_health": health, "steps": steps}
    summary = f"dry run: would {verb} switch {name} from {state.active} to {to} ({'; '.join(steps)}); {to} health: {health}"
    await record(incident_id, KIND, summary, dry_run=True, plan=plan)
    return plan


async def move_traffic(incident_id: int, name: str, to: str, retry: RetryPolicy, what: str) -> str:
    """The saga (see the module docstring), under the switch's lock; ``what`` (failover, failback) names it to people."""
    incident = await store().get_incident(incident_id)
    variables = {"service": incident.service, "incident_id": str(incident_id)}
    async with switch_lock(incident_id, name), open_switch(name, variables) as (configured, switch):
        return await _move(incident_id, name, to, retry, what, configured, switch)


async def _move(
    incident_id: int,
    name: str,
    to: str,
    retry: RetryPolicy,
    what: str,
    configured: HttpSwitchSettings | HaproxySwitchSettings,
    switch: TrafficSwitch,
) -> str:
    before = await with_retry(read_switch, retry)(switch)
    moving = before.active != to
    if not moving:
        await record(incident_id, KIND, f"switch {name} already serves {to}: nothing to do", switch=name, state=before.detail)
    elif (target := configured.targets.get(to)) is None:
        await record(incident_id, KIND, f"switch {name}: no health check configured for {to}; shifting unchecked", switch=name)
    else:
        try:
            health = await with_retry(check_health, retry)(target.health_url, configured.timeout_seconds)
        except Exception as err:
            await record(incident_id, KIND, f"switch {name}: {to} is unhealthy, traffic not shifted: {trim(err, 300)}", switch=name)
            await hand_over(incident_id, f"{what} of {name} to {to} not done: {to} is unhealthy", str(err))
            raise
        await record(incident_id, KIND, f"switch {name}: {to} is healthy ({health})", switch=name)
    try:
        if moving:
            await with_retry(shift_traffic, retry)(switch, to)
            summary = f"switch {name} shifted from {before.active} to {to}"
            await record(incident_id, KIND, summary, event=traffic(what, "shifted"), switch=name, previous=before.detail)
        proof = await with_retry(verify_traffic, retry)(switch, to, configured.probe, configured.marker(to))
    except Exception as err:
        if moving:
            await roll_back(incident_id, name, switch, before, retry, f"{what} to {to} failed: {trim(err, 300)}", what)
        else:  # not ours to undo: the state before the shift is not known to this run
            await record(incident_id, KIND, f"switch {name} serves {to} but the traffic is not: {trim(err, 300)}", switch=name)
            await hand_over(incident_id, f"{what} of {name}: the switch serves {to}, the traffic does not", str(err))
        raise
    summary = f"switch {name} verified serving {to}: {proof}"
    await record(incident_id, KIND, summary, event=traffic(what, "verified"), switch=name, major=True)
    return to if moving else "unchanged"


async def roll_back(
    incident_id: int, name: str, switch: TrafficSwitch, before: SwitchState, retry: RetryPolicy, why: str, what: str = "failover"
) -> None:
    """Compensation: put the switch back as it was, verify it, record and escalate either way."""
    try:
        await with_retry(restore_switch, retry)(switch, before)
    except Exception as err:
        summary = f"switch {name}: ROLLBACK FAILED, traffic state unknown: {trim(err, 300)}"
        await record(incident_id, TimelineKind.rollback, summary, event=traffic(what, "rollback-failed"), switch=name, wanted=before.detail)
        await hand_over(incident_id, f"rollback of switch {name} failed after: {why}", str(err))
        return
    summary = f"switch {name} restored to {before.active}: {why}"
    await record(incident_id, TimelineKind.rollback, summary, event=traffic(what, "rolled-back"), switch=name, restored=before.detail)
    await hand_over(incident_id, f"switch {name} rolled back to {before.active}", why)
