"""Every source through the real API on loopback: per-source auth, SNS signatures against a certificate
served over HTTPS, PagerDuty's /v2/enqueue acting on incidents, and a real Alertmanager HA pair."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.conftest import wait_for
from tests.sns_peer import SnsPeer, alarm_message
from tests.support import REPO, ApiThread, start_alertmanager, stop_process

PAYLOADS = REPO / "tests" / "payloads"
JSON = {"Content-Type": "application/json"}
SECRET = "grafana-hmac-s3cret"
OFFLINE_PREFECT = "http://127.0.0.1:9/api"
DOWN_CERT_HOST = "https://127.0.0.1:9"  # nothing listens: an SNS certificate host that does not answer  # outbox rows stay queued, so they can be counted


def inbox_rows(api: ApiThread) -> int:
    path = api.settings.resolved_database_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as conn:
        return conn.execute("select count(*) from inbox").fetchone()[0]


@pytest.fixture
def api(sandbox, make_config, sns):  # type: ignore[no-untyped-def]
    sources = {
        "grafana": {"auth": {"kind": "hmac", "secret": SECRET, "timestamp_header": "X-Grafana-Alerting-Timestamp", "max_age_seconds": 60}},
        "datadog": {"auth": {"kind": "basic", "username": "datadog", "password": "dd-pass"}},
        "pagerduty": {"routing_keys": ["R0UT1NGKEY0000000000000000000000"]},
        "cloudwatch": sns.source_settings(),
        "cloudwatch-down": {"kind": "cloudwatch", "sns": {**sns.source_settings()["sns"], "cert_url_pattern": f"^{DOWN_CERT_HOST}/"}},
        "uptime": {"kind": "generic", "mapping": {"alerts": "checks", "name": "monitor.name", "status": "heartbeat.status"}},
    }
    config = make_config(sandbox, webhook_token="global-token", sources=sources, prefect_api_url=OFFLINE_PREFECT)
    with ApiThread(config) as api:
        yield api


def grafana_headers(body: bytes, at: float, secret: str = SECRET) -> dict[str, str]:
    """Headers as Grafana signs them, computed by the test (tests/unit/test_webhook_auth.py), not by alertflow."""
    from tests.unit.test_webhook_auth import sign

    stamp = str(int(at))
    return {**JSON, "X-Grafana-Alerting-Signature": sign(secret, body, stamp), "X-Grafana-Alerting-Timestamp": stamp}


def test_grafana_hmac_with_timestamp(api: ApiThread) -> None:
    """A signed, fresh Grafana body is accepted; a wrong secret, a stale timestamp or no signature is refused, writing nothing."""
    body = (PAYLOADS / "grafana" / "firing-two.json").read_bytes()
    for headers, status in [
        (JSON, 401),
        (grafana_headers(body, time.time(), secret="other"), 403),
        (grafana_headers(body, time.time() - 600), 403),
    ]:
        response = api.post("/webhooks/grafana", content=body, headers=headers)
        assert response.status_code == status, response.text
        assert SECRET not in response.text
    assert inbox_rows(api) == 0
    ok = api.post("/webhooks/grafana", content=body, headers=grafana_headers(body, time.time()))
    assert ok.status_code == 202 and ok.json()["accepted"] == 2


@pytest.mark.parametrize("case", ["grafana/resolved", "datadog/warn-numbers-unquoted", "pagerduty/trigger-minimal"])
def test_fire_authenticates_as_the_source_sender(api: ApiThread, case: str) -> None:
    """`alertflow fire --source` signs (Grafana HMAC with timestamp), uses basic auth (Datadog) or nothing but the body (PagerDuty)."""
    fire = [sys.executable, "-m", "alertflow", "fire", str(PAYLOADS / f"{case}.json"), "--source", case.split("/")[0]]
    result = subprocess.run(fire, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "HTTP 202" in result.stdout, result.stdout + result.stderr
    assert inbox_rows(api) == 1


def test_each_source_has_its_own_auth_and_the_global_token_still_guards_the_rest(api: ApiThread) -> None:
    """Datadog takes basic auth (not the global token); Alertmanager and generic sources still need the global bearer token."""
    datadog = (PAYLOADS / "datadog" / "full-template-triggered.json").read_bytes()
    assert api.post("/webhooks/datadog", content=datadog, headers={**JSON, "Authorization": "Bearer global-token"}).status_code == 401
    assert api.post("/webhooks/datadog", content=datadog, headers=JSON, auth=("datadog", "wrong")).status_code == 403
    assert api.post("/webhooks/datadog", content=datadog, headers=JSON, auth=("datadog", "dd-pass")).status_code == 202
    firing = (PAYLOADS / "alertmanager" / "firing.json").read_bytes()
    assert api.post("/webhooks/alertmanager", content=firing, headers=JSON).status_code == 401
    assert api.post("/webhooks/alertmanager", content=firing, headers={**JSON, "Authorization": "Bearer global-token"}).status_code == 202
    uptime = json.dumps({"checks": [{"monitor": {"name": "api"}, "heartbeat": {"status": "down"}}]}).encode()
    assert api.post("/webhooks/uptime", content=uptime, headers=JSON).status_code == 401
    accepted = api.post("/webhooks/uptime", content=uptime, headers={**JSON, "Authorization": "Bearer global-token"})
    assert accepted.status_code == 202 and accepted.json()["accepted"] == 1
    assert inbox_rows(api) == 3


@pytest.mark.parametrize("version", ["1", "2"])
def test_sns_subscription_is_confirmed_only_after_its_signature_verifies(api: ApiThread, sns: SnsPeer, version: str) -> None:
    """A forged or tampered confirmation is 403 and never confirmed; a signed one (v1 SHA1, v2 SHA256) is confirmed once."""
    signed = sns.message("SubscriptionConfirmation", "You have chosen to subscribe to the topic", version=version)
    tampered = {**signed, "SubscribeURL": signed["SubscribeURL"] + "&evil=1"}
    foreign = {**signed, "SigningCertURL": "https://attacker.example.com/cert.pem"}
    text = {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "SubscriptionConfirmation"}
    for forged, field in ((tampered, "Signature"), (foreign, "SigningCertURL")):
        response = api.post("/webhooks/cloudwatch", content=json.dumps(forged), headers=text)
        assert response.status_code == 403 and response.json()["field"] == field
    assert sns.confirmations == []
    response = api.post("/webhooks/cloudwatch", content=json.dumps(signed), headers=text)
    assert response.status_code == 200 and "confirmed" in response.json()["message"]
    assert sns.confirmations == [signed["SubscribeURL"].removeprefix(sns.url)]
    assert inbox_rows(api) == 0


def test_sns_notifications_are_verified_then_parsed(api: ApiThread, sns: SnsPeer) -> None:
    """Signed CloudWatch ALARM and OK notifications become one alert firing then resolving; a tampered one is 403.
    The signing certificate is fetched once and reused."""
    alarm = sns.message("Notification", alarm_message("ALARM"), Subject='ALARM: "checkout-5xx"')
    tampered = {**alarm, "Message": alarm["Message"].replace("checkout-5xx", "checkout-5xy")}
    text = {"Content-Type": "text/plain; charset=UTF-8"}
    assert api.post("/webhooks/cloudwatch", content=json.dumps(tampered), headers=text).status_code == 403
    assert api.post("/webhooks/cloudwatch", content=json.dumps(alarm), headers=text).status_code == 202
    ok = sns.message("Notification", alarm_message("OK"), version="2")
    assert api.post("/webhooks/cloudwatch", content=json.dumps(ok), headers=text).status_code == 202
    other_topic = sns.message("Notification", alarm_message("ALARM"), TopicArn="arn:aws:sns:us-east-1:999999999999:other")
    refused = api.post("/webhooks/cloudwatch", content=json.dumps(other_topic), headers=text)
    assert refused.status_code == 403 and refused.json()["field"] == "TopicArn"
    assert inbox_rows(api) == 2 and sns.cert_fetches == 1


def test_sns_certificate_host_down_is_503_so_sns_delivers_again(api: ApiThread, sns: SnsPeer) -> None:
    """A 4xx would make SNS drop the alarm; a 503 makes it retry. Nothing is stored meanwhile."""
    alarm = sns.message("Notification", alarm_message("ALARM"), SigningCertURL=f"{DOWN_CERT_HOST}/cert.pem")
    answer = api.post("/webhooks/cloudwatch-down", content=json.dumps(alarm), headers={"Content-Type": "text/plain"})
    assert answer.status_code == 503, answer.text
    assert "try again later" in answer.json()["error"]
    assert inbox_rows(api) == 0


def test_pagerduty_events_trigger_acknowledge_and_resolve_the_incident(api: ApiThread) -> None:
    """/v2/enqueue answers like PagerDuty; trigger opens an incident, acknowledge acknowledges it, resolve resolves it;
    a wrong routing key is refused."""

    def event(name: str) -> bytes:
        return (PAYLOADS / "pagerduty" / f"{name}.json").read_bytes()

    wrong = json.dumps({**json.loads(event("trigger-full")), "routing_key": "nope"}).encode()
    assert api.post("/v2/enqueue", content=wrong, headers=JSON).status_code == 403
    triggered = api.post("/v2/enqueue", content=event("trigger-full"), headers=JSON)
    assert triggered.status_code == 202
    assert triggered.json()["status"] == "success" and triggered.json()["dedup_key"] == "srv01/mysql/disk"
    acked = api.post("/v2/enqueue", content=event("acknowledge"), headers=JSON).json()  # may arrive before the trigger is decided
    [incident] = api.get("/incidents").json()
    assert acked["incident_id"] == incident["id"]
    assert incident["status"] == "acknowledged" and incident["acknowledged_by"].startswith("pagerduty:")
    assert api.post("/webhooks/pagerduty", content=event("resolve"), headers=JSON).status_code == 202
    wait_for(lambda: api.get(f"/incidents/{incident['id']}").json()["incident"]["status"] == "resolved", 15, "the resolve to act")
    unknown = json.dumps({**json.loads(event("acknowledge")), "dedup_key": "never-triggered"}).encode()
    assert "nothing acknowledged" in api.post("/v2/enqueue", content=unknown, headers=JSON).json()["message"]


def test_alertmanager_ha_pair_delivering_the_same_group_twice_is_one_incident_with_one_set_of_actions(
    sandbox, make_config, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Two real Alertmanagers (an HA pair whose both members notify) each deliver the same group: one incident,
    each action queued once; both resolved deliveries resolve it once."""
    with ApiThread(make_config(sandbox, webhook_token="am-token", prefect_api_url=OFFLINE_PREFECT)) as api:
        pair = [start_alertmanager(tmp_path, f"{api.url}/webhooks/alertmanager", "am-token") for _ in range(2)]
        try:
            now = datetime.now(timezone.utc)
            labels = {"alertname": "ServiceDown", "service": "checkout", "env": "production", "severity": "critical"}
            alerts = [{"labels": {**labels, "instance": f"checkout-{n}:8080"}, "startsAt": now.isoformat()} for n in (1, 2)]

            def deliver_from_both(alerts: list[dict], deliveries: int) -> dict:  # type: ignore[type-arg]
                for _, url in pair:  # as Prometheus does: every alert to every Alertmanager
                    assert httpx.post(f"{url}/api/v2/alerts", json=alerts, timeout=10).status_code == 200
                wait_for(lambda: api.get("/readyz").json()["inbox_total"] >= deliveries * len(alerts), 30, f"{deliveries} deliveries")
                wait_for(lambda: api.get("/readyz").json()["inbox_pending"] == 0, 10, "the deliveries to be decided")
                [incident] = api.get("/incidents").json()
                return api.get(f"/incidents/{incident['id']}").json()

            opened = deliver_from_both(alerts, 2)
            assert sorted(row["flow"] for row in opened["flow_runs"]) == ["failover", "paging", "recovery", "timeline"]
            assert [e["kind"] for e in opened["timeline"]].count("rule") == 1
            assert len(opened["incident"]["fingerprints"]) == 2
            ended = (now + timedelta(seconds=1)).isoformat()
            deliver_from_both([{**alert, "endsAt": ended} for alert in alerts], 4)
            wait_for(lambda: api.get(f"/incidents/{opened['incident']['id']}").json()["incident"]["status"] == "resolved", 15, "resolve")
            closed = api.get(f"/incidents/{opened['incident']['id']}").json()
            assert [e["kind"] for e in closed["timeline"]].count("resolve") == 1
            after = [row["flow"] for row in closed["flow_runs"][len(opened["flow_runs"]) :]]
            assert sorted(set(after)) == sorted(after)  # what one resolve queues (timeline, failback), each once
        finally:
            for process, _ in pair:
                stop_process(process)
