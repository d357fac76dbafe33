"""The two automations of docs/automations.md, created from examples/automations/ by `prefect automation create
--from-file` on a real Prefect server, reacting to events the API process emits."""

from __future__ import annotations

import asyncio
import http.server
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

from alertflow.models import FlowName
from alertflow.worker.runner import build_deployments
from tests.conftest import wait_for
from tests.support import REPO, ApiThread

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_server")]
EXAMPLES = REPO / "examples" / "automations"
FIRING = json.loads((REPO / "examples" / "alertmanager-firing.json").read_text())
JSON = {"Content-Type": "application/json"}
# The example rule without responses: the flow runs here are the automations' own.
QUIET_RULES = """rules:
  - id: service-down
    description: A production service stopped answering
    matchers: ['alertname=~"ServiceDown|InstanceDown"', 'env="production"']
    group_by: [service]
"""


def firing(service: str, severity: str = "critical") -> bytes:
    """The example alert, for ``service`` (its own fingerprint, so its own incident)."""
    payload = json.loads(json.dumps(FIRING))
    payload["alerts"][0]["labels"].update(service=service, severity=severity)
    payload["alerts"][0]["fingerprint"] = f"fp-{service}"
    return json.dumps(payload).encode()


def create_automation(example: str, directory: Path, **replace: str) -> str:
    """`prefect automation create --from-file` on a copy of the example with ``replace`` applied; its name."""
    text = (EXAMPLES / example).read_text()
    for old, new in replace.items():
        assert old in text, f"{old!r} is not in {example}"
        text = text.replace(old, new)
    copy = directory / example
    copy.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "prefect", "automation", "create", "--from-file", str(copy)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return re.search(r"^name: (.+)$", text, re.MULTILINE)[1]  # type: ignore[index]


async def delete_automation(name: str) -> None:
    async with get_client() as client:
        for automation in await client.read_automations_by_name(name):
            await client.delete_automation(automation.id)


@pytest.fixture
def quiet_api(sandbox, make_config, tmp_path: Path) -> Iterator[ApiThread]:  # type: ignore[no-untyped-def]
    rules = tmp_path / "rules.yaml"
    rules.write_text(QUIET_RULES)
    with ApiThread(make_config(sandbox, rules_file=str(rules))) as api:
        yield api


def open_incident(api: ApiThread, service: str, severity: str = "critical") -> int:
    assert api.post("/webhooks/alertmanager", content=firing(service, severity), headers=JSON).status_code == 202
    found = wait_for(lambda: [i for i in api.get("/incidents").json() if i["service"] == service], 10, f"the {service} incident")
    return found[0]["id"]


async def test_a_critical_checkout_incident_runs_the_recovery_deployment(quiet_api: ApiThread, tmp_path: Path) -> None:
    """examples/automations/critical-incident-runs-recovery.yaml: a critical checkout incident opening makes Prefect run
    recovery/alertflow with that incident's id and the runbook; a critical incident of another service does not."""
    recovery = next(d for d in await build_deployments(quiet_api.settings) if d.flow_name == FlowName.recovery.value)
    deployment_id = await recovery.aapply()
    name = create_automation("critical-incident-runs-recovery.yaml", tmp_path, RECOVERY_DEPLOYMENT_ID=str(deployment_id))
    try:
        since = datetime.now(timezone.utc)
        other = open_incident(quiet_api, "search")
        checkout = open_incident(quiet_api, "checkout")

        async def runs() -> list[Any]:
            async with get_client() as client:
                found = await client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))
            return [run for run in found if run.created and run.created >= since]

        deadline = time.monotonic() + 30
        while not (started := await runs()) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)  # the other incident's event had its chance too
        [run] = await runs()
        assert run.parameters == {"incident_id": checkout, "action": {"flow": "recovery", "params": {"runbook": "restart-checkout"}}}
        assert run.created_by is not None and (run.created_by.type, run.created_by.display_value) == ("AUTOMATION", name)
        assert other != checkout and started
    finally:
        await delete_automation(name)


class Notifications(http.server.ThreadingHTTPServer):
    """A loopback receiver for the notification block: keeps every JSON body posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/notify"


async def test_an_incident_nobody_acknowledges_sends_a_notification(quiet_api: ApiThread, tmp_path: Path) -> None:
    """examples/automations/unacknowledged-incident-notifies.yaml, with `within: 10` instead of 600: an incident nobody
    acknowledges is notified through the block once the time is up, naming it; one acknowledged in time is not."""
    receiver = Notifications()
    block = CustomWebhookNotificationBlock(name="oncall", url=receiver.url, json_data={"subject": "{{subject}}", "body": "{{body}}"})
    block_id = await block.asave("alertflow-test-oncall", overwrite=True)
    replace = {"NOTIFICATION_BLOCK_ID": str(block_id), "within: 600": "within: 10"}
    name = create_automation("unacknowledged-incident-notifies.yaml", tmp_path, **replace)
    try:
        quiet = open_incident(quiet_api, "checkout")
        answered = open_incident(quiet_api, "search")
        assert quiet_api.post(f"/incidents/{answered}/ack", json={"actor": "alice"}).status_code == 200
        [notice] = wait_for(lambda: receiver.bodies, 60, "the notification")
        assert notice["subject"] == f"alertflow: incident {quiet} unacknowledged for 10 minutes"
        assert f"incident {quiet}: " in notice["body"] and "service checkout, severity critical, rule service-down" in notice["body"]
        assert f"alertflow ack {quiet}" in notice["body"]
        await asyncio.sleep(3)  # the acknowledged incident's window closed in the same pass: its notification would be here
        assert len(receiver.bodies) == 1
    finally:
        await delete_automation(name)
        receiver.shutdown()
