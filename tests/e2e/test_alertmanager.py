"""The real Alertmanager (Debian's prometheus-alertmanager) delivers to our webhook, end to end."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.conftest import wait_for
from tests.support import start_alertmanager, stop_process

TOKEN = "am-to-alertflow-token"


@pytest.fixture
def alertmanager(tmp_path):  # type: ignore[no-untyped-def]
    """Start Alertmanager routing every alert to a webhook URL given by the test."""
    processes = []

    def start(webhook_url: str) -> str:
        process, url = start_alertmanager(tmp_path, webhook_url, TOKEN)
        processes.append(process)
        return url

    yield start
    for process in processes:
        stop_process(process)


def test_alertmanager_delivers_and_four_flows_complete(start_system, alertmanager) -> None:  # type: ignore[no-untyped-def]
    """Alerts posted to Alertmanager's API reach our webhook (with its bearer token), open one incident, run four flows, page Slack, and resolve."""
    system = start_system(webhook_token=TOKEN)
    am = alertmanager(f"{system.api.url}/webhooks/alertmanager")
    now = datetime.now(timezone.utc)
    labels = {"alertname": "ServiceDown", "service": "checkout", "env": "production", "severity": "critical"}
    alerts = [
        {
            "labels": {**labels, "instance": f"checkout-{n}:8080"},
            "annotations": {"summary": "checkout API is down"},
            "startsAt": now.isoformat(),
        }
        for n in (1, 2)
    ]
    assert httpx.post(f"{am}/api/v2/alerts", json=alerts, timeout=10).status_code == 200

    incidents = wait_for(lambda: system.api.get("/incidents").json(), 30, "Alertmanager's notification to open an incident")
    assert len(incidents) == 1 and incidents[0]["service"] == "checkout"
    runs = system.completed_runs(incidents[0]["id"], 4)
    assert all(r.state.is_completed() for r in runs), [(r.name, r.state.message) for r in runs]
    assert len(system.api.get(f"/incidents/{incidents[0]['id']}").json()["incident"]["fingerprints"]) == 2
    [message] = system.sandbox.state.messages()
    assert "checkout API is down" in message["text"]

    ended = (now + timedelta(seconds=1)).isoformat()
    resolved = [{**alert, "endsAt": ended} for alert in alerts]
    assert httpx.post(f"{am}/api/v2/alerts", json=resolved, timeout=10).status_code == 200
    wait_for(
        lambda: system.api.get(f"/incidents/{incidents[0]['id']}").json()["incident"]["status"] == "resolved",
        30,
        "the resolved notification",
    )
    assert len(system.api.get("/incidents").json()) == 1
    assert len(system.sandbox.state.messages()) == 1
