"""The whole path of an alert, on real parts: webhook → store → engine → Prefect → four flows → Slack."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey

from alertflow.cli.sandbox import SlackFailure
from tests.conftest import free_port, wait_for
from tests.support import REPO, metric_samples

FIRING = (REPO / "examples" / "alertmanager-firing.json").read_bytes()
RESOLVED = (REPO / "examples" / "alertmanager-resolved.json").read_bytes()
JSON = {"Content-Type": "application/json"}
FLOWS = ("timeline", "failover", "paging", "recovery")


def cli(system, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {**os.environ, "ALERTFLOW_CONFIG": str(system.config), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "alertflow", *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("prefect_api", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_alert_fans_out_four_flows_dedups_and_resolves(start_system) -> None:  # type: ignore[no-untyped-def]
    """One alert → one incident and four completed flow runs (counted by the worker's /metrics); a resend adds
    nothing; the resolved payload resolves it."""
    metrics_port = free_port()
    system = start_system(worker_metrics_port=metrics_port)
    assert system.api.post("/webhooks/alertmanager", content=FIRING, headers=JSON).status_code == 202
    runs = system.completed_runs(1, 4)
    assert sorted(r.name for r in runs) == ["failover-incident-1", "paging-incident-1", "recovery-incident-1", "timeline-incident-1"]
    assert all(r.state.is_completed() for r in runs), [(r.name, r.state.message) for r in runs]
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    counted = [f"alertflow_flow_run_duration_seconds_count{{'flow': '{flow}', 'state': 'completed'}}" for flow in FLOWS]
    # The worker observes a run as its task ends, just after Prefect shows it Completed.
    wait_for(
        lambda: all(metric_samples(httpx.get(url, timeout=5).text).get(name) == 1 for name in counted),
        10,
        "4 runs and 1 first page counted",
    )
    announced = metric_samples(system.api.get("/metrics").text)  # the first page leaves from the API process
    assert announced["alertflow_decided_to_first_page_seconds_count"] == 1
    [message] = system.sandbox.state.messages()
    assert "checkout API is not answering health checks" in message["text"]
    assert system.sandbox.state.switches["checkout"] == "standby"

    assert system.api.post("/webhooks/alertmanager", content=FIRING, headers=JSON).status_code == 202
    wait_for(lambda: system.api.get("/readyz").json()["inbox_pending"] == 0, 10, "the resend to be processed")
    assert len(system.api.get("/incidents").json()) == 1 and len(system.flow_runs(1)) == 4
    [opened] = [row for row in system.api.get("/incidents/1").json()["flow_runs"] if row["flow"] == "timeline"]
    assert opened["final_read_at"], "the timeline run marked its last look at the store, so the resolve gets a run of its own"
    [moved] = [row for row in system.api.get("/incidents/1").json()["flow_runs"] if row["flow"] == "failover"]
    assert moved["final_read_at"], "the failover run marked its move settled, so a later failover gets a run of its own"

    system.api.post("/webhooks/alertmanager", content=RESOLVED, headers=JSON)
    wait_for(lambda: system.api.get("/incidents/1").json()["incident"]["status"] == "resolved", 10, "the incident to resolve")
    system.completed_runs(1, 5)
    timeline = system.timeline(1)
    for event in (
        "paging flow started",
        "paged #oncall on Slack",
        "paging flow succeeded",
        "failover flow succeeded",
        "recovery flow succeeded",
        "resolved: every alert of the incident resolved",
    ):
        assert event in timeline, (event, timeline)
    assert any(s.startswith("switch checkout verified serving standby: 2 of 2 requests through") for s in timeline), timeline
    assert len(system.sandbox.state.messages()) == 1, "no page after the resend"
    artifact = system.timeline_artifact(1)
    for event in ("paged #oncall on Slack", "failover flow succeeded", "recovery flow succeeded", "resolved: every alert"):
        assert event in artifact, (event, artifact)


def test_two_services_down_at_once_share_the_failover_and_the_runbook(start_system) -> None:  # type: ignore[no-untyped-def]
    """Checkout and payments down in one webhook: incident 2 joins incident 1's failover and recovery runs (the
    example runbook restarts checkout whoever asks), gets only its page and timeline runs, and is mitigated when the
    shared runbook heals checkout; the shared run marks its row, so a recovery decided later runs again."""
    system = start_system()
    payload = json.loads(FIRING)
    [first] = payload["alerts"]
    labels = {**first["labels"], "service": "payments", "instance": "payments-1:8080"}
    payload["alerts"].append({**first, "labels": labels, "fingerprint": "5b7c0d1e2f3a4b5c"})
    assert system.api.post("/webhooks/alertmanager", content=json.dumps(payload), headers=JSON).status_code == 202
    system.completed_runs(1, 4)
    runs = system.completed_runs(2, 2)
    assert sorted(r.name for r in runs) == ["paging-incident-2", "timeline-incident-2"]
    wait_for(lambda: system.api.get("/incidents/2").json()["incident"]["status"] == "mitigated", 30, "incident 2 mitigated")
    timeline = system.timeline(2)
    assert "runbook restart-checkout (the run of incident #1): service healthy, incident mitigated" in timeline, timeline
    assert any(s.startswith("failover of switch checkout to standby is already under way in the run of incident #1") for s in timeline)
    [recovery] = [row for row in system.api.get("/incidents/1").json()["flow_runs"] if row["flow"] == "recovery"]
    assert recovery["final_read_at"], "the recovery run marked its row when it ended"
    assert system.sandbox.state.restarts == ["checkout"], "checkout restarted once for both incidents"


def test_rule_retry_policy_recovers_from_slack_failures(start_system, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Retries written in the rules file reach the paging run, and two Slack 500s end in one page on the third attempt
    (the announcer's or the run's: whichever holds the page log's claim when Slack answers)."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - id: all\n    description: everything pages\n    actions:\n"
        "      - flow: paging\n        retry: {retries: 2, retry_delay_seconds: [0.2, 0.2]}\n"
    )
    system = start_system(rules_file=str(rules))
    system.sandbox.state.slack_failures.extend([SlackFailure(500, "internal_error"), SlackFailure(500, "internal_error")])
    system.api.post("/webhooks/alertmanager", content=FIRING, headers=JSON)
    [run] = system.completed_runs(1, 1)
    assert run.state.is_completed()
    assert run.parameters["action"]["retry"]["retries"] == 2, run.parameters
    # The run may end while the announcer's third attempt is still on its way to Slack: it holds the claim.
    wait_for(lambda: any(c["ok"] for c in system.sandbox.state.slack_calls), 30, "the page on the third attempt")
    assert [c["ok"] for c in system.sandbox.state.slack_calls] == [False, False, True]


def test_cli_lists_shows_acks_runs_and_fires(start_system) -> None:  # type: ignore[no-untyped-def]
    """The CLI fires a payload, lists and shows incidents (read as JSON), triggers a flow by hand, acknowledges, and
    reports the incident's time to acknowledge."""
    system = start_system()
    fired = cli(system, "fire", str(REPO / "examples" / "alertmanager-firing.json"))
    assert fired.returncode == 0 and "HTTP 202" in fired.stdout, fired.stderr
    system.completed_runs(1, 4)
    listing = cli(system, "incidents", "--json")
    [incident] = [json.loads(line) for line in listing.stdout.splitlines()]
    assert (incident["id"], incident["service"]) == (1, "checkout") and incident["status"] in ("open", "mitigated"), listing.stderr
    run = cli(system, "run", "paging", "--incident", "1", "--by", "alice")
    assert run.returncode == 0 and "/runs/flow-run/" in run.stdout, run.stdout + run.stderr
    system.completed_runs(1, 5)
    assert cli(system, "ack", "1", "--by", "alice").stdout.strip() == "incident 1: acknowledged by alice"
    shown = json.loads(cli(system, "incidents", "show", "1", "--all", "--json").stdout)
    assert shown["incident"]["acknowledged_by"] == "alice" and len(shown["timeline"]) == shown["timeline_total"]
    said = [(entry["summary"], entry["actor"]) for entry in shown["timeline"]]
    assert ("paging flow requested by alice", "alice") in said and ("acknowledged by alice", "alice") in said, said
    missing = cli(system, "ack", "42")
    assert missing.returncode == 1 and "incident 42 does not exist" in missing.stderr
    checked = cli(system, "rules", "check", str(REPO / "examples" / "rules.yaml"))
    assert checked.returncode == 0 and "OK: 2 rules" in checked.stdout, checked.stderr
    report = json.loads(cli(system, "report", "--since", "1h", "--json").stdout)
    assert report["totals"]["incidents"] == 1 and report["totals"]["acknowledged"] == 1 and report["totals"]["mtta"]["count"] == 1
    assert "| checkout | service-down | 1 | 1 |" in run_report(system), "the worker runs the scheduled report deployment"
    wait_for(lambda: ("#1", "acknowledged") in open_incidents(), 30, "the open-incidents table to show the acknowledgement")


def run_report(system) -> str:  # type: ignore[no-untyped-def]
    """Run the system's alertflow-report deployment now (as its schedule would) and return the artifact it published."""
    import asyncio

    from prefect.client.orchestration import get_client

    from alertflow.config.settings import load_settings

    async def run() -> str:
        async with get_client() as client:
            name = load_settings(system.config).deployment_name
            deployment = await client.read_deployment_by_name(f"report/{name}-report")
            flow_run = await client.create_flow_run_from_deployment(deployment.id, parameters={"window": "1h"})
            while not (flow_run := await client.read_flow_run(flow_run.id)).state.is_final():
                await asyncio.sleep(0.3)
            assert flow_run.state.is_completed(), flow_run.state
            [artifact] = await client.read_latest_artifacts(
                artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=["alertflow-report"]))
            )
            return str(artifact.data)

    return asyncio.run(asyncio.wait_for(run(), 60))


def open_incidents() -> list[tuple[str, str]]:
    """(incident, status) of each row of the latest open-incidents table."""
    import asyncio

    from prefect.client.orchestration import get_client

    async def read() -> list[tuple[str, str]]:
        async with get_client() as client:
            found = await client.read_latest_artifacts(
                artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=["open-incidents"]))
            )
        rows = json.loads(found[0].data) if found and isinstance(found[0].data, str) else found[0].data if found else []
        return [(row["incident"], row.get("status", "")) for row in rows]

    return asyncio.run(read())


def test_cancelling_a_run_in_prefect_stops_it(start_system) -> None:  # type: ignore[no-untyped-def]
    """Cancelling a running flow run (as from the Prefect UI) stops it in the in-process worker; the others are untouched."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.states import Cancelling

    system = start_system()
    system.sandbox.state.switch_failures["checkout"] = [503] * 50  # failover retries (2 s, then 4 s): long enough to cancel
    system.api.post("/webhooks/alertmanager", content=FIRING, headers=JSON)

    def running_failover():  # type: ignore[no-untyped-def]
        return next((r for r in system.flow_runs(1) if r.name.startswith("failover") and r.state.is_running()), None)

    run = wait_for(running_failover, 30, "the failover run to be running")

    async def cancel() -> None:
        async with get_client() as client:
            await client.set_flow_run_state(run.id, Cancelling())

    asyncio.run(cancel())
    wait_for(lambda: next(r for r in system.flow_runs(1) if r.id == run.id).state.is_cancelled(), 20, "the run to be cancelled")
    assert any(r.name.startswith("paging") and r.state.is_completed() for r in system.completed_runs(1, 4, timeout=60))
