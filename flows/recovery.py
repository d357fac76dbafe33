"""Recovery: run the incident's runbook, then verify the service is healthy.

Each step is its own task with its own retries, backoff and timeout (the
step's ``retry``, else the action's); the runbook's final health check decides
success. Success marks the incident mitigated (people still resolve it) and
says so in the timeline. Each step is recorded when it starts and when it
ends, so a run started again after its worker stopped skips what finished,
runs again a step that was cut off only if the runbook marks it
``idempotent``, and otherwise hands over to a person saying which step may or
may not have run. A step that still fails after its retries stops the
runbook: the failure (step, trimmed output, flow run link) is recorded and
escalated to a person. A dry run records the plan and the current health only.

Incidents that need the same runbook while this run is under way join it
(alertflow/store/shared_runs.py): when it ends, each hears how, and a healed
service mitigates them with this run's own incident.
"""

from __future__ import annotations

from typing import Any

import httpx
from prefect import flow
from prefect.context import FlowRunContext
from prefect.deployments import run_deployment

from alertflow.config.responses import HealthCheck, HttpStep, Runbook, RunbookStep, RunDeploymentStep, ShellStep
from alertflow.config.secrets import resolve_secrets
from alertflow.errors import ConfigError, IntegrationError, RetryableIntegrationError
from alertflow.events import MITIGATED
from alertflow.flows.handover import hand_over, trim
from alertflow.flows.runtime import current_run, emit, io_task, record, run_logger, settings, store, timeline_entry, with_retry
from alertflow.flows.timeline import LIFECYCLE_HOOKS, close_run
from alertflow.integrations.steps.runbook import Outcome, run_http_step, run_shell_step, wait_until_healthy
from alertflow.models import RecoveryAction, TimelineKind
from alertflow.templates import render

TASK_TIMEOUT_MARGIN = 5.0  # the step enforces its own timeout; Prefect's is the backstop


async def start_deployment(step: RunDeploymentStep, variables: dict[str, str]) -> Outcome:
    """Run another Prefect deployment and wait for it; placeholders fill whole string parameters (checked at load)."""
    parameters = {key: render(value, variables) if isinstance(value, str) else value for key, value in step.parameters.items()}
    run = await run_deployment(step.deployment, parameters=parameters, timeout=step.timeout_seconds, poll_interval=1)
    state = run.state
    if state is None or not state.is_final():
        raise RetryableIntegrationError(f"step {step.name}: {step.deployment} run {run.name} not finished after {step.timeout_seconds:g}s")
    if not state.is_completed():
        raise RetryableIntegrationError(f"step {step.name}: {step.deployment} run {run.name} ended {state.name}: {state.message}")
    return Outcome(step=step.name, detail=f"{step.deployment} run {run.name} completed")


@io_task
async def run_step(step: RunbookStep, variables: dict[str, str]) -> Outcome:
    if isinstance(step, ShellStep):
        return await run_shell_step(step, settings().allow_shell, variables)
    if isinstance(step, RunDeploymentStep):
        return await start_deployment(step, variables)
    async with httpx.AsyncClient() as client:
        if isinstance(step, HttpStep):
            return await run_http_step(await resolve_secrets(step), client)
        return await wait_until_healthy(step, client)


@io_task
async def verify_health(check: HealthCheck) -> Outcome:
    async with httpx.AsyncClient() as client:
        return await wait_until_healthy(check, client)


async def describe_runbook(incident_id: int, name: str, steps: list[RunbookStep], verify: HealthCheck) -> dict[str, Any]:
    """Dry run: the steps that would run and whether the service is healthy now; nothing runs."""
    try:
        health = (await verify_health.with_options(retries=0)(verify.model_copy(update={"timeout_seconds": 0}))).detail
    except IntegrationError as err:
        health = f"unhealthy: {trim(err, 300)}"
    refused = " (refused: allow_shell is false)" if not settings().allow_shell else ""
    planned = [f"{step.kind} {step.name}" + (refused if isinstance(step, ShellStep) else "") for step in steps]
    plan = {"runbook": name, "steps": planned, "verify": verify.url, "current_health": health}
    await record(incident_id, TimelineKind.recovery, f"dry run: runbook {name} would run {', '.join(planned)}; now: {health}", plan=plan)
    return plan


@flow(name="recovery", flow_run_name="recovery-incident-{incident_id}", **LIFECYCLE_HOOKS)
async def run_recovery(incident_id: int, action: RecoveryAction) -> str | dict[str, Any]:
    """Run the named runbook's steps in order, then verify health; escalate if it cannot."""
    name = action.params.runbook
    runbook = settings().runbooks.get(name)
    if runbook is None:
        raise ConfigError(f"no runbook named {name!r} in the config file")
    if action.params.dry_run:
        return await describe_runbook(incident_id, name, runbook.steps, runbook.verify)
    healthy = False
    try:
        result, healthy = await carry_out(incident_id, name, runbook, action)
        return result
    finally:  # healed or handed to people: a recovery decided from now on gets a run of its own
        await close_run()
        await tell_joined(incident_id, name, healthy)


async def carry_out(incident_id: int, name: str, runbook: Runbook, action: RecoveryAction) -> tuple[str, bool]:
    """The runbook's steps, then its verification: (what happened, whether the service is healthy)."""
    incident = await store().get_incident(incident_id)
    variables = {"service": incident.service, "incident_id": str(incident_id), "runbook": name}
    progress = await step_progress(incident_id)
    for step in runbook.steps:
        if progress.get(step.name) == "done":
            continue  # this run was started again (its worker stopped): the step ran to its end before
        if progress.get(step.name) == "started" and not step.idempotent:
            why = f"recovery runbook {name}: step {step.name} was cut off when its worker stopped and may or may not have run"
            await record(incident_id, TimelineKind.recovery, f"{why}; not run again (not idempotent)", major=True)
            await hand_over(incident_id, why, "mark the step `idempotent: true` in the runbook if running it twice is safe")
            return why, False
        await record(incident_id, TimelineKind.recovery, f"runbook {name}: {step.name} started", runbook_step=step.name, phase="started")
        task = with_retry(run_step, step.retry or action.retry).with_options(
            name=f"step-{step.name}", timeout_seconds=step.timeout_seconds + TASK_TIMEOUT_MARGIN
        )
        try:
            outcome = await task(step, variables)
        except Exception as err:
            await give_up(incident_id, name, f"step {step.name}", err)
            raise
        done = f"runbook {name}: {step.name} done"
        await record(incident_id, TimelineKind.recovery, done, detail=outcome.detail, runbook_step=step.name, phase="done")
    try:
        outcome = await with_retry(verify_health, action.retry)(runbook.verify)
    except Exception as err:
        await give_up(incident_id, name, "verification", err)
        raise
    mitigated = await store().mark_mitigated(incident_id)  # False when already mitigated or resolved: no news
    summary = f"runbook {name}: service healthy, incident mitigated"
    await record(incident_id, TimelineKind.recovery, summary, event=MITIGATED if mitigated else None, detail=outcome.detail, major=True)
    return outcome.detail, True


async def tell_joined(incident_id: int, name: str, healthy: bool) -> None:
    """Incidents that joined this run instead of running the same runbook (alertflow/store/shared_runs.py) hear how
    it ended, all in one transaction; a healed service mitigates them too."""
    context = FlowRunContext.get()
    key = context.flow_run.idempotency_key if context is not None and context.flow_run is not None else None
    joined = await store().joined_incidents(key) if key else []
    if not joined:
        return
    how = "service healthy, incident mitigated" if healthy else "did not heal the service: handed to people there"
    summary = f"runbook {name} (the run of incident #{incident_id}): {how}"
    entries = [timeline_entry(joined_id, TimelineKind.recovery, summary, major=True) for joined_id in joined]
    mitigated = await store().mitigate(joined if healthy else [], entries)
    run_logger().info("runbook %s, %s, for the %d incidents that joined it: %s", name, how, len(joined), _ids(joined))
    for joined_id in mitigated:
        await emit(joined_id, MITIGATED, summary=summary)


def _ids(ids: list[int]) -> str:
    return ", ".join(f"#{i}" for i in ids[:20]) + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")


async def step_progress(incident_id: int) -> dict[str, str]:
    """How far this flow run got before, if it is running again (handed over, or taken over from a dead worker):
    each step's last phase, from the timeline entries this run wrote. Empty for a first run."""
    run_id = current_run()[0]
    if run_id is None:
        return {}
    entries = await store().get_timeline(incident_id, kinds=[TimelineKind.recovery])
    return {e.data["runbook_step"]: e.data["phase"] for e in entries if e.data.get("flow_run_id") == run_id and "runbook_step" in e.data}


async def give_up(incident_id: int, runbook: str, where: str, err: Exception) -> None:
    output = trim(f"{type(err).__name__}: {err}" if not isinstance(err, IntegrationError) else err)
    await record(incident_id, TimelineKind.recovery, f"runbook {runbook}: {where} failed after its retries", detail=output, major=True)
    await hand_over(incident_id, f"recovery runbook {runbook} failed at {where}", output)
