"""Events for Prefect's event feed and automations, read back from a real Prefect server's events API.

The API process's pipeline emits incident transitions and first pages in the
background; flow runs emit theirs with ``emit_event``. A Prefect that is down
or hangs neither slows nor fails a decision.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

from alertflow.flows import fail_over, run_recovery
from alertflow.integrations.sources.alertmanager import AlertmanagerSource
from alertflow.metrics import Metrics
from alertflow.models import FailoverAction, RecoveryAction
from alertflow.pipeline.consumer import Pipeline
from alertflow.pipeline.events import EventEmitter
from alertflow.pipeline.stages import prefect_client_for
from alertflow.rules import parse_rules
from alertflow.store.database import Store
from tests.conftest import PREFECT_API_URL, PREFECT_PORT, wait_for, wait_until
from tests.prefect_events import by_name, related_roles, wait_for_events
from tests.support import EXAMPLE_RULES, REPO, ApiThread, TcpRelay, metric_samples

pytestmark = pytest.mark.usefixtures("prefect_server")
FIRING = (REPO / "examples" / "alertmanager-firing.json").read_bytes()
RESOLVED = (REPO / "examples" / "alertmanager-resolved.json").read_bytes()
JSON = {"Content-Type": "application/json"}
OPENED, ACKED, RESOLVED_EVENT = "alertflow.incident.opened", "alertflow.incident.acknowledged", "alertflow.incident.resolved"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def test_an_incidents_life_reaches_prefects_event_feed(sandbox, make_config) -> None:  # type: ignore[no-untyped-def]
    """Opened, first page sent, acknowledged and resolved reach Prefect's feed in order, the incident as the resource
    with its service, severity and rule, its rule and service related, who did it in the payload."""
    since = utcnow()
    with ApiThread(make_config(sandbox)) as api:
        api.post("/webhooks/alertmanager", content=FIRING, headers=JSON)
        [incident] = wait_for(lambda: api.get("/incidents").json(), 10, "the incident to open")
        wait_for(lambda: sandbox.state.messages(), 10, "the first page")
        assert api.post(f"/incidents/{incident['id']}/ack", json={"actor": "alice"}).status_code == 200
        api.post("/webhooks/alertmanager", content=RESOLVED, headers=JSON)
        resource = f"alertflow.incident.{incident['id']}"
        events = wait_for_events(PREFECT_API_URL, since, [OPENED, "alertflow.page.sent", ACKED, RESOLVED_EVENT], resource)
    assert [e["event"] for e in events] == [OPENED, "alertflow.page.sent", ACKED, RESOLVED_EVENT]
    opened = by_name(events, OPENED)
    labels = {k: opened["resource"][k] for k in ("prefect.resource.id", "incident_id", "service", "severity", "rule", "status")}
    assert labels == {
        "prefect.resource.id": resource,
        "incident_id": str(incident["id"]),
        "service": "checkout",
        "severity": "critical",
        "rule": "service-down",
        "status": "open",
    }
    assert opened["resource"]["prefect.resource.name"] == f"incident {incident['id']}: checkout API is not answering health checks"
    assert related_roles(opened) == {"rule": "alertflow.rule.service-down", "service": "alertflow.service.checkout"}
    assert opened["payload"]["fingerprint"] == "8a3f1c2d9e4b7a60"
    assert opened["payload"]["responses"] == ["paging", "timeline", "failover", "recovery"]
    assert by_name(events, "alertflow.page.sent")["payload"]["recipient"] == "#oncall"
    assert (by_name(events, ACKED)["payload"]["by"], by_name(events, ACKED)["resource"]["status"]) == ("alice", "acknowledged")
    assert by_name(events, RESOLVED_EVENT)["payload"]["by"] == "alertmanager"


def test_prefect_down_holds_events_logs_once_counts_and_sends_them_when_back(sandbox, make_config, caplog) -> None:  # type: ignore[no-untyped-def]
    """Prefect unreachable: the incident opens and is acknowledged all the same; the events wait, the outage is
    logged once and each failed attempt counted; once Prefect is back they arrive, and the recovery is logged."""
    caplog.set_level(logging.INFO, logger="alertflow.pipeline.events")
    relay = TcpRelay(PREFECT_PORT)  # not up: connections to it are refused
    since = utcnow()
    with ApiThread(make_config(sandbox, prefect_api_url=f"http://127.0.0.1:{relay.port}/api")) as api:
        api.post("/webhooks/alertmanager", content=FIRING, headers=JSON)
        [incident] = wait_for(lambda: api.get("/incidents").json(), 10, "the incident to open")
        wait_for(lambda: sandbox.state.messages(), 10, "the first page: Prefect is not needed for it")
        assert api.post(f"/incidents/{incident['id']}/ack", json={"actor": "alice"}).status_code == 200

        def samples() -> dict[str, float]:
            return metric_samples(api.get("/metrics").text)

        wait_for(lambda: samples()["alertflow_prefect_events_failed_total"] >= 2, 15, "two failed attempts")
        assert samples()["alertflow_prefect_events_queued"] == 3 and samples()["alertflow_prefect_events_sent_total"] == 0
        relay.up()
        resource = f"alertflow.incident.{incident['id']}"
        wait_for_events(PREFECT_API_URL, since, [OPENED, "alertflow.page.sent", ACKED], resource)
        wait_for(lambda: samples()["alertflow_prefect_events_queued"] == 0, 10, "the queue to empty")
        assert samples()["alertflow_prefect_events_sent_total"] == 3
    relay.down()
    messages = [r.getMessage() for r in caplog.records if r.name == "alertflow.pipeline.events"]
    assert len([m for m in messages if m.startswith("cannot send events to Prefect")]) == 1
    assert len([m for m in messages if m.startswith("Prefect takes events again")]) == 1


@pytest.mark.anyio
async def test_a_prefect_that_never_answers_holds_up_no_decision(tmp_path: Path) -> None:
    """Prefect takes the connection and never answers: alerts are decided and an ack applied while the emitter's
    request hangs, the events wait in its queue, and a stop does not wait for Prefect either."""
    hole = socket.create_server(("127.0.0.1", 0))  # the kernel accepts connections; nobody ever reads or answers
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'alertflow.db'}")
    await store.upgrade()
    metrics, stop = Metrics(), asyncio.Event()
    emitter = EventEmitter(prefect_client_for(f"http://127.0.0.1:{hole.getsockname()[1]}/api"), metrics)
    pipeline = Pipeline(store, parse_rules(EXAMPLE_RULES.read_text()), emit=emitter.offer, metrics=metrics)
    sending = asyncio.create_task(emitter.run(stop))
    try:
        await store.append_alerts(AlertmanagerSource().parse(json.loads(FIRING), utcnow()))
        started = time.monotonic()
        await pipeline.drain()
        [incident] = await store.list_incidents()
        await asyncio.sleep(0.3)  # the emitter is in its request to Prefect by now
        await pipeline.acknowledge(incident.id, "alice")
        assert time.monotonic() - started < 3  # the request to Prefect alone takes 10 s to time out
        assert [e["event"] for e in emitter.queue] == [OPENED, ACKED] and metrics.events_sent._value.get() == 0
        stopping = time.monotonic()
        stop.set()
        await sending
        assert time.monotonic() - stopping < 4
        assert metrics.events_dropped.labels("stopped")._value.get() == 2
    finally:
        stop.set()
        await store.dispose()
        hole.close()


@pytest.mark.anyio
async def test_flow_runs_emit_their_events_related_to_the_run_and_log_them_in_it(sandbox, incident) -> None:  # type: ignore[no-untyped-def]
    """Failover emits shifted and verified, recovery mitigated, each related to its flow run; the run's log in Prefect
    says the same (through Prefect's run logger)."""
    _store, incident_id = incident
    since, resource = utcnow(), f"alertflow.incident.{incident_id}"
    state = await fail_over(incident_id, FailoverAction(params={"switch": "checkout"}), return_state=True)
    recovered = await run_recovery(incident_id, RecoveryAction(params={"runbook": "restart-checkout"}), return_state=True)
    names = ["alertflow.failover.shifted", "alertflow.failover.verified", "alertflow.incident.mitigated"]
    events = await asyncio.to_thread(wait_for_events, PREFECT_API_URL, since, names, resource)
    run = f"prefect.flow-run.{state.state_details.flow_run_id}"
    assert related_roles(by_name(events, names[0]))["flow-run"] == run and related_roles(by_name(events, names[1]))["flow-run"] == run
    mitigated = by_name(events, names[2])
    assert related_roles(mitigated)["flow-run"] == f"prefect.flow-run.{recovered.state_details.flow_run_id}"
    assert (mitigated["resource"]["status"], related_roles(mitigated)["rule"]) == ("mitigated", "alertflow.rule.service-down")
    assert by_name(events, names[0])["payload"]["summary"] == "switch checkout shifted from primary to standby"

    async def logged() -> list[str] | None:
        async with get_client() as client:
            logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id])))
        messages = [log.message for log in logs]
        return messages if f"incident {incident_id}: switch checkout shifted from primary to standby" in messages else None

    await wait_until(logged, 20, "the domain event in the run's log")
