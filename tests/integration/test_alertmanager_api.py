"""Alertmanager API v2 on the real API (loopback, SQLite): Prometheus' alerts in, firing alerts and silences out, in Alertmanager's shapes."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from alertflow.integrations.sources.prometheus import alertmanager_fingerprint
from tests.conftest import wait_for
from tests.support import ApiThread

HOOK, ADMIN, READER, OPS = "hook-s3cret", "admin-s3cret", "reader-s3cret", "ops-s3cret"
TOKENS = {"dashboards": {"token": READER, "scopes": ["read"]}, "automation": {"token": OPS, "scopes": ["operate"]}}
OFFLINE_PREFECT = "http://127.0.0.1:9/api"  # flow runs wait; the first page leaves from the API process all the same


def basic(password: str, user: str = "prometheus") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def alert(service: str, instance: str, ends: datetime, **labels: str) -> dict[str, Any]:
    """One of Prometheus' postableAlerts (its shape: tests/payloads/prometheus/firing.json)."""
    return {
        "labels": {"alertname": "ProbeDown", "service": service, "instance": instance, "severity": "critical", **labels},
        "annotations": {"summary": f"{service} does not answer its probe"},
        "startsAt": "2026-12-01T10:00:00.000Z",
        "endsAt": ends.isoformat().replace("+00:00", "Z"),
        "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=probe_down+%3E+0&g0.tab=1",
    }


def ahead() -> datetime:
    return datetime.now(timezone.utc) + timedelta(
        hours=2
    )  # far enough ahead that a request built at import time is still valid when it runs


@pytest.fixture
def api(sandbox, make_config):  # type: ignore[no-untyped-def]
    config = make_config(sandbox, webhook_token=HOOK, api_token=ADMIN, api_tokens=TOKENS, prefect_api_url=OFFLINE_PREFECT)
    with ApiThread(config) as api:
        yield api


def incidents(api: ApiThread) -> list[dict[str, Any]]:
    return api.get("/incidents", headers=bearer(ADMIN)).json()


def firing(api: ApiThread, **params: Any) -> list[dict[str, Any]]:
    response = api.get("/api/v2/alerts", params=params, headers=basic(READER))
    assert response.status_code == 200, response.text
    return response.json()


def test_prometheus_alerts_open_one_incident_resends_join_it_and_a_past_endsat_resolves(api: ApiThread, sandbox) -> None:  # type: ignore[no-untyped-def]
    """Two alerts open one incident and one page; resends change nothing; both are listed active under their rule and
    incident key; resolved (endsAt passed) they resolve the incident and leave the list."""
    body = [alert("checkout", f"checkout-{n}:8080", ahead()) for n in (1, 2)]
    answer = api.post("/api/v2/alerts", json=body, headers=basic(HOOK))
    assert answer.status_code == 200 and answer.json()["accepted"] == 2, answer.text
    [incident] = wait_for(lambda: incidents(api), 15, "the incident")
    for _ in range(3):  # Prometheus resends every evaluation interval, each with a later endsAt
        assert (
            api.post(
                "/api/v2/alerts", json=[alert("checkout", f"checkout-{n}:8080", ahead()) for n in (1, 2)], headers=basic(HOOK)
            ).status_code
            == 200
        )
    wait_for(lambda: api.get("/readyz").json()["inbox_pending"] == 0, 15, "the resends to be decided")
    assert [i["id"] for i in incidents(api)] == [incident["id"]]
    assert api.get(f"/incidents/{incident['id']}", headers=bearer(ADMIN)).json()["incident"]["alert_count"] == 2
    wait_for(lambda: sandbox.state.messages(), 15, "the page")
    assert len(sandbox.state.messages()) == 1

    listed = firing(api)
    fingerprints = sorted(alertmanager_fingerprint(a["labels"]) for a in body)
    assert [a["fingerprint"] for a in listed] == fingerprints
    first = listed[0]
    assert first["status"] == {"state": "active", "silencedBy": [], "inhibitedBy": []}
    assert first["receivers"] == [{"name": "critical-elsewhere"}] and first["startsAt"] == "2026-12-01T10:00:00.000Z"
    assert first["annotations"] == {"summary": "checkout does not answer its probe"} and first["generatorURL"].startswith(
        "http://prometheus"
    )
    assert first["endsAt"] > first["updatedAt"] > "2026-12-01"
    [group] = api.get("/api/v2/alerts/groups", headers=bearer(READER)).json()
    assert group["labels"] == {"alertname": "ProbeDown", "service": "checkout"} and group["receiver"] == {"name": "critical-elsewhere"}
    assert [a["fingerprint"] for a in group["alerts"]] == fingerprints
    assert len(firing(api, filter='instance="checkout-1:8080"')) == 1 and len(firing(api, filter=["instance=~checkout-.*", "env!=x"])) == 2
    assert firing(api, receiver="other") == [] and firing(api, active="false") == [] and len(firing(api, receiver="critical-.*")) == 2

    resolved = [{**a, "endsAt": (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()} for a in body]
    assert api.post("/api/v2/alerts", json=resolved, headers=bearer(HOOK)).status_code == 200
    wait_for(lambda: incidents(api)[0]["status"] == "resolved", 15, "the incident to resolve")
    assert firing(api) == [] and api.get("/api/v2/alerts/groups", headers=bearer(READER)).json() == []


def test_who_may_post_and_read(api: ApiThread) -> None:
    """Alerts: the webhook token as bearer or basic password (any user), or an operate API token; reads and silences: API
    tokens with their scopes, bearer or basic. Refusals store nothing and never echo a secret."""
    body = [alert("auth", "a:1", ahead())]
    stored = api.get("/readyz").json()["inbox_total"]
    for headers, status in [
        ({}, 401), (bearer("nope"), 401), (basic("nope"), 401), (basic(READER), 401), (bearer(READER), 401),
        (bearer(HOOK), 200), (basic(HOOK), 200), (basic(HOOK, user="anyone"), 200), (bearer(OPS), 200), (basic(ADMIN), 200),
    ]:  # fmt: skip
        response = api.post("/api/v2/alerts", json=body, headers=headers)
        assert response.status_code == status, (headers, response.text)
        assert not any(secret in response.text for secret in (HOOK, ADMIN, READER, OPS))
        stored += status == 200
        assert api.get("/readyz").json()["inbox_total"] == stored
    for path in ("/api/v2/alerts", "/api/v2/alerts/groups", "/api/v2/silences", "/api/v2/status", "/api/v2/silence/1"):
        assert api.get(path).status_code == 401, path
        assert api.get(path, headers=bearer(HOOK)).status_code == 403, path
        assert api.get(path, headers=basic(OPS)).status_code == 403, path
        assert api.get(path, headers=basic(READER)).status_code in (200, 404), path
    silence = {"matchers": [{"name": "a", "value": "b", "isRegex": False}], "startsAt": "2026-12-01T00:00:00Z",
               "endsAt": ahead().isoformat(), "createdBy": "me", "comment": ""}  # fmt: skip
    assert api.post("/api/v2/silences", json=silence, headers=basic(READER)).status_code == 403
    assert api.request("DELETE", "/api/v2/silence/1", headers=bearer(READER)).status_code == 403
    status = api.get("/api/v2/status", headers=bearer(READER)).json()
    assert status["cluster"] == {"status": "disabled", "peers": []} and status["versionInfo"]["version"]
    assert "route:" in status["config"]["original"] and status["uptime"].endswith("Z")


def silence_body(**fields: Any) -> dict[str, Any]:
    return {
        "matchers": [{"name": "service", "value": "billing", "isRegex": False, "isEqual": True}],
        "startsAt": "2026-01-01T00:00:00Z",  # in the past: starts now, as in Alertmanager
        "endsAt": ahead().isoformat(),
        "createdBy": "alice",
        "comment": "billing maintenance",
        **fields,
    }


def test_silences_hold_back_the_next_alert_and_release_it_when_expired(api: ApiThread, sandbox) -> None:  # type: ignore[no-untyped-def]
    """A silence added here is alertflow's own: it holds back a matching alert (listed suppressed, silencedBy its id),
    is replaced by a POST with its id, and expired by DELETE, after which the alert opens its incident and pages."""
    added = api.post("/api/v2/silences", json=silence_body(), headers=basic(OPS))
    assert added.status_code == 200 and added.json() == {"silenceID": "1"}, added.text
    [own] = api.get("/silences", headers=bearer(ADMIN)).json()
    assert own["matchers"] == ['service="billing"'] and own["author"] == "alice"
    [shown] = api.get("/api/v2/silences", headers=basic(READER)).json()
    assert shown["id"] == "1" and shown["status"] == {"state": "active"} and shown["createdBy"] == "alice"
    assert shown["matchers"] == [{"name": "service", "value": "billing", "isRegex": False, "isEqual": True}]
    assert shown["startsAt"] > "2026-01-02" and shown == api.get("/api/v2/silence/1", headers=basic(READER)).json()
    assert len(api.get("/api/v2/silences", params={"filter": 'service="billing"'}, headers=basic(READER)).json()) == 1
    assert api.get("/api/v2/silences", params={"filter": "service=~billing"}, headers=basic(READER)).json() == []

    assert api.post("/api/v2/alerts", json=[alert("billing", "b:1", ahead())], headers=basic(HOOK)).status_code == 200
    held = wait_for(lambda: [a for a in firing(api) if a["status"]["state"] == "suppressed"], 15, "the alert to be held back")
    assert held[0]["status"]["silencedBy"] == ["1"] and held[0]["receivers"] == [{"name": "alertflow"}]
    assert firing(api, silenced="false") == [] and incidents(api) == []

    replaced = api.post("/api/v2/silences", json=silence_body(id="1", comment="longer"), headers=basic(OPS))
    assert replaced.json() == {"silenceID": "2"}, replaced.text
    states = {s["id"]: s["status"]["state"] for s in api.get("/api/v2/silences", headers=basic(READER)).json()}
    assert states == {"2": "active", "1": "expired"}
    assert firing(api)[0]["status"]["silencedBy"] == ["2"]

    assert api.request("DELETE", "/api/v2/silence/2", headers=basic(OPS)).status_code == 200
    [incident] = wait_for(lambda: incidents(api), 15, "the released alert's incident")
    assert incident["service"] == "billing" and firing(api)[0]["status"]["state"] == "active"
    wait_for(lambda: sandbox.state.messages(), 15, "its page")
    assert api.get("/api/v2/silence/2", headers=basic(READER)).json()["status"]["state"] == "expired"
    gone = api.request("DELETE", "/api/v2/silence/2", headers=basic(OPS))
    assert gone.status_code == 404 and gone.json()["field"] == "silenceID"


BAD_REQUESTS = [
    ("POST", "/api/v2/alerts", {"content": b"[{"}, 400, "body"),
    ("POST", "/api/v2/alerts", {"json": {"labels": {"alertname": "x"}}}, 422, "body"),
    ("POST", "/api/v2/alerts", {"json": [{"labels": {"alertname": "x"}}, {"labels": {}}]}, 422, "1.labels"),
    ("POST", "/api/v2/alerts", {"json": [{"labels": {"alertname": "x"}, "endsAt": "soon"}]}, 422, "0.endsAt"),
    ("POST", "/api/v2/alerts", {"content": b"[]", "headers": {"Content-Type": "text/plain"}}, 415, "content-type"),
    ("POST", "/api/v2/silences", {"content": b"{"}, 400, "body"),
    ("POST", "/api/v2/silences", {"json": silence_body(matchers=[])}, 422, "matchers"),
    ("POST", "/api/v2/silences", {"json": silence_body(matchers=[{"name": "a", "value": "("}])}, 422, "matchers.0.isRegex"),
    ("POST", "/api/v2/silences", {"json": silence_body(matchers=[{"name": "a", "value": "(", "isRegex": True}])}, 422, "matchers.0.value"),
    ("POST", "/api/v2/silences", {"json": silence_body(matchers=[{"name": "a b", "value": "", "isRegex": False}])}, 422, "matchers.0.name"),
    ("POST", "/api/v2/silences", {"json": silence_body(endsAt="2026-01-02T00:00:00Z")}, 422, "endsAt"),
    ("POST", "/api/v2/silences", {"json": silence_body(createdBy="")}, 422, "createdBy"),
    ("POST", "/api/v2/silences", {"json": silence_body(id="41")}, 404, "id"),
    ("GET", "/api/v2/alerts?filter=not+a+matcher", {}, 422, "filter"),
    ("GET", "/api/v2/alerts/groups?filter=a%3D~%22(%22", {}, 422, "filter"),
    ("GET", "/api/v2/silences?filter=%3D", {}, 422, "filter"),
    ("GET", "/api/v2/alerts?active=maybe", {}, 422, "query.active"),
    ("GET", "/api/v2/alerts?receiver=(", {}, 422, "receiver"),
    ("GET", "/api/v2/silence/not-a-number", {}, 404, "silenceID"),
    ("DELETE", "/api/v2/silence/99999999999999999999999", {}, 404, "silenceID"),
]


def test_bad_input_is_a_4xx_naming_the_field_and_changes_nothing(api: ApiThread) -> None:
    """Each malformed or wrong-shaped request is refused with its status and field; no alert or silence is stored."""
    for method, path, request_args, status, field in BAD_REQUESTS:
        arguments = dict(request_args)
        headers = {**bearer(ADMIN), **arguments.pop("headers", {})}
        response = api.request(method, path, headers=headers, **arguments)
        assert (response.status_code, response.json()["field"]) == (status, field), (method, path, response.text)
    assert api.get("/readyz").json()["inbox_total"] == 0
    assert api.get("/silences", params={"active": "false"}, headers=bearer(ADMIN)).json() == []
