"""``log_format: json``: the API process writes one JSON object per line, decisions with their incident and alert,
and lines logged inside a flow run carry its id (through Prefect's run logger too); no secret on any line."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import httpx
import pytest

from alertflow.flows import fail_over
from alertflow.logs import JsonFormatter, log_context
from alertflow.models import FailoverAction
from tests.conftest import free_port, wait_for
from tests.support import REPO, start_api, stop_process

FIRING = (REPO / "examples" / "alertmanager-firing.json").read_bytes()
WEBHOOK_SECRET = "s3cret-webhook-token-4711"


def test_the_api_process_writes_json_lines_with_the_incident_on_its_decisions(sandbox, make_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Every line `alertflow api` writes parses as JSON with time, level, logger and message; the opening and the
    acknowledgement of an incident are lines carrying its id (and the alert's fingerprint); no secret appears."""
    config = make_config(sandbox, log_format="json", webhook_token=WEBHOOK_SECRET, prefect_api_url=f"http://127.0.0.1:{free_port()}/api")
    log_path = tmp_path / "api.log"
    process, url = start_api(config, log_path)
    try:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {WEBHOOK_SECRET}"}
        assert httpx.post(f"{url}/webhooks/alertmanager", content=FIRING, headers=headers, timeout=30).status_code == 202
        [incident] = wait_for(lambda: httpx.get(f"{url}/incidents", timeout=10).json(), 15, "the incident to open")
        assert httpx.post(f"{url}/incidents/{incident['id']}/ack", json={"actor": "alice"}, timeout=30).status_code == 200
        wait_for(lambda: "acknowledged" in log_path.read_text(), 15, "the acknowledgement's line")
    finally:
        stop_process(process)
    text = log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # a line that is not JSON fails here
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert lines[0]["time"].endswith("Z") and any(line["message"].startswith("alertflow API on ") for line in lines)
    decisions = [line for line in lines if line.get("incident_id") == incident["id"]]
    opened = next(line for line in decisions if line["message"].startswith(f"incident {incident['id']} opened"))
    assert (opened["logger"], opened["level"], opened["fingerprint"]) == ("alertflow.pipeline.events", "INFO", "8a3f1c2d9e4b7a60")
    assert any(line["message"].startswith(f"incident {incident['id']} acknowledged") and "alice" in line["message"] for line in decisions)
    assert any(line["level"] == "WARNING" for line in lines)  # Prefect is unreachable here: said, as JSON
    assert WEBHOOK_SECRET not in text and "xoxb-test-token" not in text


@pytest.mark.anyio
@pytest.mark.usefixtures("prefect_server")
async def test_lines_logged_in_a_flow_run_carry_its_id_and_the_incident(sandbox, incident) -> None:  # type: ignore[no-untyped-def]
    """Inside a flow run, alertflow's and Prefect's run loggers' lines carry the flow run id and the incident id; a
    ``log_context`` adds fields to lines that have none."""
    _store, incident_id = incident
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    loggers = [logging.getLogger("prefect.flow_runs"), logging.getLogger("alertflow")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        state = await fail_over(incident_id, FailoverAction(params={"switch": "checkout"}), return_state=True)
        with log_context(incident_id=7, fingerprint="abc"):
            logging.getLogger("alertflow.test").warning("outside any run")
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    shifted = next(line for line in lines if line["message"] == f"incident {incident_id}: switch checkout shifted from primary to standby")
    assert (shifted["flow_run_id"], shifted["incident_id"]) == (str(state.state_details.flow_run_id), incident_id)
    assert (
        lines[-1] == {**lines[-1], "message": "outside any run", "incident_id": 7, "fingerprint": "abc"} and "flow_run_id" not in lines[-1]
    )
