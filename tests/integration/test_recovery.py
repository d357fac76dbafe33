"""Recovery runbooks against real processes: a service that died is restarted, and a step that keeps failing escalates."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import httpx
import pytest

from alertflow.config.responses import ShellStep
from alertflow.flows import run_recovery
from alertflow.integrations.steps.runbook import run_shell_step
from alertflow.models import IncidentStatus, RecoveryAction, RetryPolicy
from tests.conftest import REPO, free_port, wait_for
from tests.support import pages

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_server")]
BACKEND = str(REPO / "tests" / "backend.py")


@pytest.fixture
def service_process(tmp_path):  # type: ignore[no-untyped-def]
    """A real HTTP service (tests/backend.py) that the test can kill; whatever runs under its pidfile is stopped at the end."""
    port, pidfile = free_port(), tmp_path / "service.pid"
    command = [sys.executable, BACKEND, "--name", "first", "--port", str(port), "--detach", "--pidfile", str(pidfile)]
    subprocess.run(command, check=True, capture_output=True, timeout=30)
    yield port, pidfile
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def answer(port: int) -> str | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=1).text
    except httpx.HTTPError:
        return None


async def test_runbook_restarts_a_dead_process_and_verifies_health(sandbox, incident, make_config, service_process) -> None:  # type: ignore[no-untyped-def]
    """The service is killed; the runbook's shell step starts it again (the service name passed as one argument),
    waits until healthy, verifies, and the incident is mitigated."""
    store, incident_id = incident
    port, pidfile = service_process
    os.kill(int(pidfile.read_text()), signal.SIGKILL)
    wait_for(lambda: answer(port) is None, 10, "the service to be dead")
    health = f"http://127.0.0.1:{port}/healthz"
    restart = [sys.executable, BACKEND, "--name", "{service}", "--port", str(port), "--detach", "--pidfile", str(pidfile)]
    runbook = {
        "steps": [
            {"kind": "shell", "name": "restart", "argv": restart, "timeout_seconds": 30},
            {"kind": "wait_until_healthy", "name": "come-up", "url": health, "timeout_seconds": 10, "interval_seconds": 0.2},
        ],
        "verify": {"url": health, "timeout_seconds": 5, "interval_seconds": 0.2},
    }
    make_config(sandbox, database_url=store.url, runbooks={"restart-service": runbook}, allow_shell=True)
    await run_recovery(incident_id, RecoveryAction(params={"runbook": "restart-service"}))
    assert answer(port) == "checkout", "the restarted process got the incident's service as its --name"
    assert (await store.get_incident(incident_id)).status is IncidentStatus.mitigated
    timeline = [e.summary for e in await store.get_timeline(incident_id)]
    for summary in ("runbook restart-service: restart done", "runbook restart-service: come-up done"):
        assert summary in timeline
    assert "runbook restart-service: service healthy, incident mitigated" in timeline


async def test_a_step_that_keeps_failing_exhausts_its_retries_and_escalates(sandbox, incident, make_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A step with its own retry policy (2 retries) fails three times; the runbook stops there and a page is queued
    naming the step, its trimmed output and the flow run."""
    store, incident_id = incident
    attempts = tmp_path / "attempts"
    step = {"kind": "shell", "name": "flush-cache", "argv": ["sh", "-c", f"echo x >> {attempts}; echo cache is wedged; exit 3"]}
    runbook = {
        "steps": [{**step, "retry": {"retries": 2, "retry_delay_seconds": 0.1}}],
        "verify": {"url": f"{sandbox.url}/health/checkout"},
    }
    make_config(sandbox, database_url=store.url, runbooks={"flush": runbook}, allow_shell=True)
    action = RecoveryAction(params={"runbook": "flush"}, retry=RetryPolicy(retries=0))
    state = await run_recovery(incident_id, action, return_state=True)
    assert state.is_failed()
    assert attempts.read_text().count("x") == 3
    assert (await store.get_incident(incident_id)).status is IncidentStatus.open
    [page] = await pages(store, incident_id)
    assert page["reason"] == "recovery runbook flush failed at step flush-cache"
    assert "exit code 3: cache is wedged" in page["detail"] and "/runs/flow-run/" in page["detail"]
    escalation = [e for e in await store.get_timeline(incident_id) if e.kind.value == "escalation"]
    assert len(escalation) == 1 and escalation[0].data["flow_run_url"] in page["detail"]


async def test_dry_run_runs_nothing_and_reports_current_health(sandbox, incident, make_config) -> None:  # type: ignore[no-untyped-def]
    """A dry-run recovery records its steps (a shell step marked refused without allow_shell) and whether the
    service is healthy now; no step runs."""
    store, incident_id = incident
    steps = [
        {"kind": "http", "name": "restart", "url": f"{sandbox.url}/restart/checkout"},
        {"kind": "shell", "name": "sh", "argv": ["true"]},
    ]
    make_config(sandbox, database_url=store.url, runbooks={"rb": {"steps": steps, "verify": {"url": f"{sandbox.url}/health/checkout"}}})
    sandbox.state.down.add("checkout")
    plan = await run_recovery(incident_id, RecoveryAction(params={"runbook": "rb", "dry_run": True}))
    assert plan["steps"] == ["http restart", "shell sh (refused: allow_shell is false)"]
    assert plan["current_health"].startswith("unhealthy") and sandbox.state.restarts == []
    assert (await store.get_incident(incident_id)).status is IncidentStatus.open


async def test_label_values_stay_one_argument_each(tmp_path) -> None:
    """A service name full of shell syntax reaches the program as exactly one argument, never interpreted."""
    out = tmp_path / "argv"
    script = f"import sys; open({str(out)!r}, 'w').write(repr(sys.argv[1:]))"
    step = ShellStep(name="show", argv=[sys.executable, "-c", script, "{service}", "--id", "{incident_id}"])
    await run_shell_step(step, allow_shell=True, variables={"service": "api; rm -rf / $(id) `x`", "incident_id": "7"})
    assert out.read_text() == repr(["api; rm -rf / $(id) `x`", "--id", "7"])
