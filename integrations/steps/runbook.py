"""Runbook steps: HTTP calls, shell commands and a wait-until-healthy check.

A shell step runs an argument list with no shell in between, so no value can
be interpreted as shell syntax, and only when the operator enabled shell steps
(``allow_shell``). Values that may come from alert labels (``{service}``) are
placeholders that fill exactly one whole argument each (checked when the config
loads). Output kept in outcomes is trimmed: it lands in timelines.
(``run_deployment`` steps talk to Prefect, so they live in flows/recovery.py.)
"""

from __future__ import annotations

import asyncio
import time

import httpx
from pydantic import BaseModel

from alertflow.config.responses import HealthCheck, HttpStep, ShellStep
from alertflow.errors import PermanentIntegrationError, RetryableIntegrationError
from alertflow.integrations.http import request, safe_url
from alertflow.templates import render

OUTPUT_LIMIT = 2000


class Outcome(BaseModel):
    step: str
    detail: str


async def run_http_step(step: HttpStep, client: httpx.AsyncClient) -> Outcome:
    headers = {"Authorization": f"Bearer {step.token.get_secret_value()}"} if step.token else {}
    response = await request(
        client, step.method, step.url, expect=step.expect_status, json=step.json_body, headers=headers, timeout=step.timeout_seconds
    )
    return Outcome(step=step.name, detail=f"{step.method} {safe_url(step.url)} -> HTTP {response.status_code}")


async def run_shell_step(step: ShellStep, allow_shell: bool, variables: dict[str, str] | None = None) -> Outcome:
    if not allow_shell:
        raise PermanentIntegrationError(f"step {step.name}: shell steps are disabled (set allow_shell: true)")
    argv = [step.argv[0], *(render(item, variables or {}) for item in step.argv[1:])]
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL
        )
    except OSError as err:
        raise PermanentIntegrationError(f"step {step.name}: cannot start {step.argv[0]}: {err.strerror}") from None
    try:
        output, _ = await asyncio.wait_for(process.communicate(), step.timeout_seconds)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RetryableIntegrationError(f"step {step.name}: timed out after {step.timeout_seconds:g}s") from None
    text = output.decode(errors="replace")[-OUTPUT_LIMIT:].strip()
    if process.returncode not in step.ok_exit_codes:
        raise RetryableIntegrationError(f"step {step.name}: exit code {process.returncode}: {text}")
    return Outcome(step=step.name, detail=f"exit code {process.returncode}: {text}"[:OUTPUT_LIMIT])


async def wait_until_healthy(check: HealthCheck, client: httpx.AsyncClient) -> Outcome:
    """Poll the health URL until it answers ``expect_status`` or the timeout passes."""
    deadline = time.monotonic() + check.timeout_seconds
    last = "no answer yet"
    while True:
        try:
            await request(client, "GET", check.url, expect=[check.expect_status], timeout=check.interval_seconds + 1)
            return Outcome(step="verify", detail=f"{safe_url(check.url)} healthy (HTTP {check.expect_status})")
        except (RetryableIntegrationError, PermanentIntegrationError) as err:
            last = str(err)
        if time.monotonic() >= deadline:
            raise RetryableIntegrationError(f"verify: {safe_url(check.url)} not healthy after {check.timeout_seconds:g}s: {last}")
        await asyncio.sleep(check.interval_seconds)
