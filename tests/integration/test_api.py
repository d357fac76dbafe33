"""The HTTP API on a real loopback port: 202 only after commit, clear 4xx that change nothing."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.conftest import wait_for
from tests.support import REPO, ApiThread, metric_samples

FIRING = (REPO / "examples" / "alertmanager-firing.json").read_bytes()
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def api(sandbox, make_config):  # type: ignore[no-untyped-def]
    with ApiThread(make_config(sandbox, max_body_bytes=4096)) as api:
        yield api


def inbox_rows(api: ApiThread) -> int:
    path = api.settings.resolved_database_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as conn:
        return conn.execute("select count(*) from inbox").fetchone()[0]


def test_accepted_alerts_are_on_disk_when_202_returns(api: ApiThread) -> None:
    """The 202 carries the inbox ids, and a separate connection already sees the rows."""
    response = api.post("/webhooks/alertmanager", content=FIRING, headers=JSON)
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "alert_ids": [1]}
    assert inbox_rows(api) == 1


def test_curl_default_content_type_is_accepted(api: ApiThread) -> None:
    """`curl -d @file` sends form-urlencoded; the README's command must still work."""
    response = api.post("/webhooks/alertmanager", content=FIRING, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("body", "headers", "status", "field", "phrase"),
    [
        (b'{"version": "4", "alerts": [', JSON, 400, "body", "malformed JSON"),
        (b"", JSON, 400, "body", "empty body"),
        (FIRING, {"Content-Type": "text/plain"}, 415, "content-type", "text/plain"),
        (FIRING, {"Content-Type": "multipart/form-data; boundary=x"}, 415, "content-type", "multipart/form-data"),
        (b'{"version": "4", "status": "firing", "alerts": []}', JSON, 422, "alerts", "at least 1"),
        (b'{"version": "3", "status": "firing", "alerts": []}', JSON, 422, "version", "'4'"),
        (
            json.dumps(
                {
                    "version": "4",
                    "status": "firing",
                    "alerts": [{"status": "firing", "labels": {"service": "x"}, "startsAt": "2026-11-27T10:00:00Z"}],
                }
            ).encode(),
            JSON,
            422,
            "alerts.0.labels",
            "alertname",
        ),
        (b"[1, 2, 3]", JSON, 422, "body", "valid dictionary"),
        (FIRING.replace(b'"production"', b'"prod\\u0000"'), JSON, 422, "body", "NUL character"),
        (b'{"version": "4", "pad": "' + b"x" * 5000 + b'"}', JSON, 413, "body", "4096-byte limit"),
    ],
    ids=[
        "malformed-json",
        "empty",
        "text-plain",
        "multipart",
        "no-alerts",
        "wrong-version",
        "no-alertname",
        "not-an-object",
        "nul-character",
        "oversized",
    ],
)
def test_bad_input_is_refused_with_a_named_field_and_stores_nothing(
    api: ApiThread, body: bytes, headers: dict, status: int, field: str, phrase: str
) -> None:  # type: ignore[type-arg]
    """Each kind of bad request gets its own 4xx, a message naming the problem, and writes nothing."""
    response = api.post("/webhooks/alertmanager", content=body, headers=headers)
    assert response.status_code == status, response.text
    error = response.json()
    assert error["field"] == field and phrase in error["error"], error
    assert inbox_rows(api) == 0


def test_unknown_source_is_404(api: ApiThread) -> None:
    """An unknown source is 404 and names the sources we know."""
    response = api.post("/webhooks/nagios", content=FIRING, headers=JSON)
    assert response.status_code == 404 and "alertmanager" in response.json()["error"]


def test_webhook_token_is_required_when_configured(sandbox, make_config) -> None:  # type: ignore[no-untyped-def]
    """With a webhook token set, requests without the right bearer token get 401 that never echoes the secret."""
    with ApiThread(make_config(sandbox, webhook_token="s3cret-token")) as api:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"}):
            response = api.post("/webhooks/alertmanager", content=FIRING, headers={**JSON, **headers})
            assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
            assert "s3cret" not in response.text
        ok = api.post("/webhooks/alertmanager", content=FIRING, headers={**JSON, "Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 202
        assert inbox_rows(api) == 1


def test_incident_api_lists_shows_acks_and_resolves(api: ApiThread) -> None:
    """After a firing alert the incident is listed and shown with its timeline; ack and resolve record the actor."""
    api.post("/webhooks/alertmanager", content=FIRING, headers=JSON)
    [incident] = wait_for(lambda: api.get("/incidents").json(), 10, "the incident to open")
    detail = api.get(f"/incidents/{incident['id']}").json()
    assert [e["kind"] for e in detail["timeline"]][:2] == ["alert", "rule"]
    assert [row["flow"] for row in detail["flow_runs"]] == ["paging", "timeline", "failover", "recovery"]
    acked = api.post(f"/incidents/{incident['id']}/ack", json={"actor": "alice"}).json()
    assert acked["status"] == "acknowledged" and acked["acknowledged_by"] == "alice"
    resolved = api.post(f"/incidents/{incident['id']}/resolve", json={"actor": "bob"}).json()
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == "bob"
    conflict = api.post(f"/incidents/{incident['id']}/ack", json={"actor": "carol"})
    assert conflict.status_code == 409 and "already resolved" in conflict.json()["error"]
    assert api.get("/incidents/999").status_code == 404
    assert api.get("/incidents", params={"status": "open"}).json() == []
    assert api.get("/incidents", params={"status": "bogus"}).status_code == 422


def test_health_readiness_and_metrics(api: ApiThread) -> None:
    """/healthz answers, /readyz reports backlogs, /metrics counts accepted and refused alerts."""
    api.post("/webhooks/alertmanager", content=FIRING, headers=JSON)
    api.post("/webhooks/alertmanager", content=b"{", headers=JSON)
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz").json()
    assert ready["status"] == "ready" and ready["inbox_total"] == 1
    wait_for(lambda: api.get("/readyz").json()["inbox_pending"] == 0, 10, "the alert to be decided")
    response = api.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = metric_samples(response.text)
    assert samples["alertflow_alerts_accepted_total{'source': 'alertmanager'}"] == 1
    assert samples["alertflow_requests_rejected_total{'status': '400'}"] == 1
    assert samples["alertflow_inbox_total"] == 1 and samples["alertflow_inbox_pending"] == 0
    assert samples["alertflow_webhook_to_decided_seconds_count"] == 1
    assert samples["alertflow_webhook_to_decided_seconds_bucket{'le': '+Inf'}"] == 1


def test_failback_by_service_and_dry_runs_are_queued_with_their_parameters(api: ApiThread) -> None:
    """POST /services/{name}/failback queues a failback for the service's latest incident from its rule's failover
    action (no hysteresis by hand); dry_run reaches the flow's params; flows without a dry run refuse it (422)."""
    assert api.post("/services/checkout/failback", json={"actor": "alice"}).status_code == 404
    api.post("/webhooks/alertmanager", content=FIRING, headers=JSON)
    [incident] = wait_for(lambda: api.get("/incidents").json(), 10, "the incident to open")
    queued = api.post("/services/checkout/failback", json={"actor": "alice", "dry_run": True})
    assert queued.status_code == 202 and queued.json()["incident_id"] == incident["id"]
    dry_recovery = api.post(f"/incidents/{incident['id']}/run/recovery", json={"actor": "bob", "dry_run": True})
    assert dry_recovery.status_code == 202
    refused = api.post(f"/incidents/{incident['id']}/run/paging", json={"actor": "bob", "dry_run": True})
    assert refused.status_code == 422 and refused.json()["field"] == "dry_run"
    rows = {row["id"]: row for row in api.get(f"/incidents/{incident['id']}").json()["flow_runs"]}
    failback = rows[queued.json()["outbox_id"]]
    assert failback["flow"] == "failback"
    assert failback["parameters"]["action"]["params"] == {
        "switch": "checkout",
        "to": "primary",
        "healthy_for_seconds": 0.0,
        "max_wait_seconds": 1800.0,
        "dry_run": True,
    }
    assert rows[dry_recovery.json()["outbox_id"]]["parameters"]["action"]["params"]["dry_run"] is True
    timeline = [e["summary"] for e in api.get(f"/incidents/{incident['id']}").json()["timeline"]]
    assert "failback flow dry run requested by alice" in timeline
