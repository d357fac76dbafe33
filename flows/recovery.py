"""Recovery: run the incident's runbook, then verify the service is healthy.

Each step is its own task with the action's retry policy; the final health
check decides success. Success marks the incident mitigated (people still
resolve it); a failing step fails the flow with the step's trimmed output.
"""

from __future__ import annotations

import httpx
from prefect import flow

from alertflow.config import HealthCheck, HttpStep, ShellStep
from alertflow.errors import ConfigError
from alertflow.models import RecoveryAction, TimelineKind
from flows.runtime import io_task, record, settings, store, with_retry
from flows.timeline import LIFECYCLE_HOOKS
from integrations.runbook import Outcome, run_http_step, run_shell_step, wait_until_healthy


@io_task
async def run_step(step: HttpStep | ShellStep) -> Outcome:
    if isinstance(step, ShellStep):
        return await run_shell_step(step, settings().allow_shell)
    async with httpx.AsyncClient() as client:
        return await run_http_step(step, client)


@io_task
async def verify_health(check: HealthCheck) -> Outcome:
    async with httpx.AsyncClient() as client:
        return await wait_until_healthy(check, client)


@flow(name="recovery", flow_run_name="recovery-incident-{incident_id}", **LIFECYCLE_HOOKS)
async def run_recovery(incident_id: int, action: RecoveryAction) -> str:
    """Run the named runbook's steps in order, then verify health."""
    runbook = settings().runbooks.get(action.params.runbook)
    if runbook is None:
        raise ConfigError(f"no runbook named {action.params.runbook!r} in the config file")
    for step in runbook.steps:
        outcome = await with_retry(run_step, action.retry).with_options(name=f"step-{step.name}")(step)
        await record(incident_id, TimelineKind.recovery, f"runbook {action.params.runbook}: {step.name} done", detail=outcome.detail)
    outcome = await with_retry(verify_health, action.retry)(runbook.verify)
    await store().mark_mitigated(incident_id)
    await record(
        incident_id, TimelineKind.recovery, f"runbook {action.params.runbook}: service healthy, incident mitigated", detail=outcome.detail
    )
    return outcome.detail
