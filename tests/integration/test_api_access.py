"""Who may call the API's control and read endpoints: scoped tokens on a real loopback API, and the start-up refusal."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from alertflow.cli.main import app
from tests.support import REPO, ApiThread

FIRING = (REPO / "examples" / "alertmanager-firing.json").read_bytes()
JSON = {"Content-Type": "application/json"}
SECRETS = {
    "webhook": "hook-s3cret",
    "read": "read-s3cret",
    "respond": "respond-s3cret",
    "operate": "operate-s3cret",
    "admin": "admin-s3cret",
}
SCOPED = {
    "dashboards": {"token": SECRETS["read"], "scopes": ["read"]},
    "responders": {"token": SECRETS["respond"], "scopes": ["read", "respond"]},
    "automation": {"token": SECRETS["operate"], "scopes": ["operate"]},
}
SILENCE = {"matchers": ['service="checkout"'], "duration_seconds": 60, "author": "test"}
AM_SILENCE = {  # the Alertmanager API's shape (alertflow/api/alertmanager_silences.py)
    "matchers": [{"name": "service", "value": "checkout", "isRegex": False}],
    "startsAt": "2026-01-01T00:00:00Z",
    "endsAt": "2099-01-01T00:00:00Z",
    "createdBy": "test",
    "comment": "",
}
OVERRIDE = {"schedule": "primary", "person": "bob", "start": "2030-01-01T00:00", "end": "2030-01-01T01:00"}
# Every control and read endpoint, with the scope it needs.
ENDPOINTS = [
    ("GET", "/incidents", None, "read"),
    ("GET", "/incidents/1", None, "read"),
    ("GET", "/silences", None, "read"),
    ("GET", "/suppressed", None, "read"),
    ("GET", "/inbox/export", None, "read"),
    ("POST", "/incidents/1/ack", {"actor": "x"}, "respond"),
    ("POST", "/incidents/1/resolve", {"actor": "x"}, "respond"),
    ("POST", "/incidents/1/run/failover", {"actor": "x"}, "operate"),
    ("POST", "/services/checkout/failback", {"actor": "x"}, "operate"),
    ("POST", "/silences", SILENCE, "operate"),
    ("DELETE", "/silences/1", None, "operate"),
    ("GET", "/api/v2/alerts", None, "read"),
    ("GET", "/api/v2/alerts/groups", None, "read"),
    ("GET", "/api/v2/silences", None, "read"),
    ("GET", "/api/v2/silence/1", None, "read"),
    ("GET", "/api/v2/status", None, "read"),
    ("POST", "/api/v2/silences", AM_SILENCE, "operate"),
    ("DELETE", "/api/v2/silence/1", None, "operate"),
    ("GET", "/oncall/who", None, "read"),
    ("GET", "/oncall/audit", None, "read"),
    ("GET", "/oncall/primary.ics", None, "read"),
    ("POST", "/oncall/overrides", OVERRIDE, "operate"),
    ("DELETE", "/oncall/overrides/1", None, "operate"),
]


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {SECRETS[name]}"}


@pytest.fixture
def api(sandbox, make_config):  # type: ignore[no-untyped-def]
    config = make_config(sandbox, webhook_token=SECRETS["webhook"], api_token=SECRETS["admin"], api_tokens=SCOPED)
    with ApiThread(config) as api:
        yield api


def test_control_and_read_endpoints_refuse_requests_without_a_token(sandbox, make_config) -> None:  # type: ignore[no-untyped-def]
    """With only scoped API tokens configured, every control and read endpoint answers 401 to no or an unknown token."""
    with ApiThread(make_config(sandbox, webhook_token=SECRETS["webhook"], api_tokens=SCOPED)) as api:
        for method, path, body, scope in ENDPOINTS:
            for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": SECRETS["admin"]}):
                response = api.request(method, path, json=body, headers=headers)
                assert response.status_code == 401, (method, path, headers, response.text)
                assert response.headers["www-authenticate"] == "Bearer"
                assert f"scope '{scope}'" in response.json()["error"]
        for path in ("/healthz", "/readyz", "/metrics"):  # probes and scrapers need no token
            assert api.get(path).status_code == 200, path
        assert api.post("/webhooks/alertmanager", content=FIRING, headers={**JSON, **bearer("webhook")}).status_code == 202


def test_tokens_without_the_scope_get_403_naming_it(api: ApiThread) -> None:
    """The webhook token and a read-only token get 403 on ack and failover; the message names the scope and no secret."""
    for name in ("webhook", "read"):
        for method, path, body, scope in ENDPOINTS:
            response = api.request(method, path, json=body, headers=bearer(name))
            if scope == "read" and name == "read":
                continue
            assert response.status_code == 403, (name, method, path, response.text)
            assert f"scope '{scope}'" in response.json()["error"]
            assert not any(secret in response.text for secret in SECRETS.values())
    assert "webhook_token" in api.post("/incidents/1/ack", json={}, headers=bearer("webhook")).json()["error"]
    # A responder may acknowledge but not move traffic; automation the other way round.
    assert api.post("/incidents/1/run/failover", json={}, headers=bearer("respond")).status_code == 403
    assert api.post("/incidents/1/ack", json={}, headers=bearer("operate")).status_code == 403


def test_each_scope_opens_its_endpoints(api: ApiThread) -> None:
    """read lists, respond acknowledges, operate silences; api_token does all of it (as before scopes existed)."""
    api.post("/webhooks/alertmanager", content=FIRING, headers={**JSON, **bearer("webhook")})
    assert api.get("/incidents", headers=bearer("read")).status_code == 200
    assert api.get("/inbox/export", headers=bearer("read")).status_code == 200
    assert api.post("/silences", json=SILENCE, headers=bearer("operate")).status_code == 201
    assert api.post("/incidents/999/ack", json={}, headers=bearer("respond")).status_code == 404  # past the check
    assert api.post("/silences", json=SILENCE, headers=bearer("admin")).status_code == 201
    assert api.get("/silences", headers=bearer("admin")).status_code == 200
    assert api.post("/incidents/999/run/failover", json={}, headers=bearer("admin")).status_code == 404


def test_cli_sends_the_api_token_from_the_environment(api: ApiThread, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """`alertflow incidents` works with ALERTFLOW_API_TOKEN, and says 401 without it (exit 2: the config lacks the token)."""
    cli_config = tmp_path / "cli.yaml"
    cli_config.write_text(f"api_url: {api.url}\n")
    monkeypatch.setenv("ALERTFLOW_CONFIG", str(cli_config))  # the CLI exports it; restored after the test
    refused = CliRunner().invoke(app, ["incidents", "--config", str(cli_config)])
    assert refused.exit_code == 2 and "HTTP 401" in refused.output
    monkeypatch.setenv("ALERTFLOW_API_TOKEN", SECRETS["admin"])
    listed = CliRunner().invoke(app, ["incidents", "--config", str(cli_config)])
    assert listed.exit_code == 0, listed.output


def test_api_refuses_to_listen_beyond_loopback_without_a_token(sandbox, make_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`alertflow api` on 0.0.0.0 with only a webhook token exits at once, naming api_token; nothing listens."""
    config = make_config(sandbox, api_host="0.0.0.0", webhook_token=SECRETS["webhook"])
    command = [sys.executable, "-m", "alertflow", "api", "--config", str(config)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 2
    assert b"api_token" in output and b"0.0.0.0" in output and b"Traceback" not in output
