"""The rule engine's capabilities through the real webhook and store, on the real clock (short windows)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import wait_for
from tests.support import ApiThread

RULES = """
rules:
  - id: hosts-down
    description: Several hosts of a cluster down
    matchers: ['alertname="HostDown"']
    group_by: [cluster]
    group_wait: 1s
    pattern: {kind: threshold, count: 2, within: 1m}
    actions:
      - flow: paging
  - id: datacenter
    description: A datacenter is down
    matchers: ['alertname="DatacenterDown"']
    group_by: [dc]
    actions:
      - flow: paging
  - id: monitoring
    description: Monitoring itself is down
    matchers: ['alertname="MonitoringDown"']
    actions:
      - flow: paging
  - id: everything-else
    description: Anything else
    group_by: [alertname]
    actions:
      - flow: paging
inhibit_rules:
  - source_matchers: ['alertname="DatacenterDown"']
    target_matchers: ['alertname="ServiceSlow"']
    equal: [dc]
"""
HEARTBEAT = """
heartbeats:
  - id: watchdog
    description: Alertmanager watchdog
    matchers: ['alertname="Watchdog"']
    missing_after: 2s
    alert: {name: MonitoringDown}
"""
JSON = {"Content-Type": "application/json"}


def payload(*alerts: dict[str, str], status: str = "firing") -> bytes:
    items = [{"status": status, "labels": labels, "startsAt": "2026-11-27T10:00:00Z"} for labels in alerts]
    return json.dumps({"version": "4", "status": status, "alerts": items}).encode()


@pytest.fixture
def api(request, sandbox, make_config, tmp_path):  # type: ignore[no-untyped-def]
    """The API on these rules (plus the heartbeat for tests marked with it), Prefect out of reach: outbox rows stay queued."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES + (HEARTBEAT if "heartbeat" in request.node.name else ""))
    with ApiThread(make_config(sandbox, rules_file=str(rules), prefect_api_url="http://127.0.0.1:9/api")) as api:
        yield api


def incidents(api: ApiThread) -> list[dict]:  # type: ignore[type-arg]
    return api.get("/incidents").json()


def detail(api: ApiThread, rule_id: str) -> dict:  # type: ignore[type-arg]
    incident = next(i for i in incidents(api) if i["rule_id"] == rule_id)
    return api.get(f"/incidents/{incident['id']}").json()


def test_threshold_and_group_wait_through_the_webhook(api: ApiThread) -> None:
    """One host down is pending; the second opens the incident; its page is queued only after group_wait."""
    api.post("/webhooks/alertmanager", content=payload({"alertname": "HostDown", "cluster": "c1", "host": "a"}), headers=JSON)
    wait_for(lambda: api.get("/readyz").json()["inbox_pending"] == 0, 10, "the first alert to be decided")
    assert incidents(api) == []
    api.post("/webhooks/alertmanager", content=payload({"alertname": "HostDown", "cluster": "c1", "host": "b"}), headers=JSON)
    wait_for(lambda: incidents(api), 10, "the incident to open")
    assert detail(api, "hosts-down")["flow_runs"] == [], "group_wait holds the page"
    rows = wait_for(lambda: detail(api, "hosts-down")["flow_runs"], 10, "the page after group_wait")
    assert [r["flow"] for r in rows] == ["paging"]
    timeline = [e["summary"] for e in detail(api, "hosts-down")["timeline"]]
    assert any("2 of 2 alerts within 1m" in s for s in timeline) and any(
        s.startswith("paging started: group_wait 1s over") for s in timeline
    )


def test_inhibited_alert_shows_on_the_inhibiting_incident_and_returns_when_it_resolves(api: ApiThread) -> None:
    """ServiceSlow in a down datacenter is held back and listed on that incident; it opens its own incident once the DC recovers."""
    dc = {"alertname": "DatacenterDown", "dc": "fra"}
    slow = {"alertname": "ServiceSlow", "dc": "fra", "service": "api"}
    api.post("/webhooks/alertmanager", content=payload(dc), headers=JSON)
    wait_for(lambda: incidents(api), 10, "the datacenter incident")
    api.post("/webhooks/alertmanager", content=payload(slow), headers=JSON)
    wait_for(lambda: api.get("/suppressed").json(), 10, "the slow service to be held back")
    assert [i["rule_id"] for i in incidents(api)] == ["datacenter"]
    assert any(e["kind"] == "inhibited" for e in detail(api, "datacenter")["timeline"])
    api.post("/webhooks/alertmanager", content=payload(dc, status="resolved"), headers=JSON)
    wait_for(lambda: any(i["rule_id"] == "everything-else" for i in incidents(api)), 10, "the released alert's own incident")
    assert api.get("/suppressed").json() == []


def test_silence_from_the_api_holds_alerts_back_until_expired(api: ApiThread) -> None:
    """A silenced alert is stored and listed, opens nothing, and opens its incident when the silence is expired."""
    silence = api.post(
        "/silences", json={"matchers": ['service="db"'], "duration_seconds": 3600, "author": "alice", "comment": "migration"}
    )
    assert silence.status_code == 201, silence.text
    bad = api.post("/silences", json={"matchers": ['service~"db"'], "duration_seconds": 60, "author": "alice"})
    assert bad.status_code == 422 and bad.json()["field"] == "matchers"
    api.post("/webhooks/alertmanager", content=payload({"alertname": "DiskFull", "service": "db"}), headers=JSON)
    held = wait_for(lambda: api.get("/suppressed").json(), 10, "the alert to be held back")
    assert held[0]["kind"] == "silence" and "alice" in held[0]["reason"]
    assert incidents(api) == []
    assert [s["id"] for s in api.get("/silences").json()] == [silence.json()["id"]]
    assert api.request("DELETE", f"/silences/{silence.json()['id']}").status_code == 204
    wait_for(lambda: incidents(api), 10, "the incident after the silence ended")
    assert api.get("/silences").json() == [] and api.request("DELETE", f"/silences/{silence.json()['id']}").status_code == 404


def test_missing_heartbeat_raises_a_synthetic_alert_and_clears(api: ApiThread) -> None:
    """No Watchdog for 2 s raises MonitoringDown (an incident); a Watchdog seen again resolves it."""
    opened = wait_for(lambda: incidents(api), 15, "the missing-heartbeat incident")
    assert opened[0]["rule_id"] == "monitoring"
    api.post("/webhooks/alertmanager", content=payload({"alertname": "Watchdog"}), headers=JSON)
    wait_for(
        lambda: next(i for i in incidents(api) if i["rule_id"] == "monitoring")["status"] == "resolved", 10, "the heartbeat to clear it"
    )
