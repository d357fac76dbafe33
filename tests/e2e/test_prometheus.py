"""The real Prometheus (Debian's ``prometheus``) sends straight to alertflow, and the real amtool manages its silences."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.fuzzing import PAYLOADS
from tests.prometheus import Probe, start_prometheus
from tests.support import stop_process

HOOK, ADMIN = "prometheus-to-alertflow", "people-s3cret"


@pytest.fixture
def probe():  # type: ignore[no-untyped-def]
    probe = Probe()
    yield probe
    probe.close()


@pytest.fixture
def prometheus(tmp_path):  # type: ignore[no-untyped-def]
    """Start Prometheus sending its alerts to the URL given by the test, with basic auth (the webhook token as password)."""
    processes = []

    def start(url: str, probe: Probe) -> None:
        processes.append(start_prometheus(tmp_path, url, probe, "prometheus", HOOK))

    yield start
    for process in processes:
        stop_process(process)


def get(system: Any, path: str) -> Any:
    return system.api.get(path, headers={"Authorization": f"Bearer {ADMIN}"}).json()


def test_prometheus_alert_opens_pages_resends_join_and_resolves(start_system, prometheus, probe) -> None:  # type: ignore[no-untyped-def]
    """A firing rule opens one incident and one page, its flows complete, its resends join it, what Prometheus sends
    has the golden payload's shape, and when the rule stops firing the incident resolves."""
    system = start_system(webhook_token=HOOK)  # no API token: the System's helpers read without one
    probe.set("checkout", True)
    prometheus(system.api.url, probe)
    [incident] = wait_for(lambda: get(system, "/incidents"), 25, "Prometheus' alert to open an incident")
    assert incident["service"] == "checkout" and incident["rule_id"] == "critical-elsewhere"
    [page] = wait_for(lambda: system.sandbox.state.messages(), 10, "the page")
    assert "checkout does not answer its probe" in page["text"]
    runs = system.completed_runs(incident["id"], 2)
    assert all(r.state.is_completed() for r in runs), [(r.name, r.state.message) for r in runs]

    wait_for(lambda: get(system, "/readyz")["inbox_total"] >= 3, 15, "Prometheus' resends")
    assert [i["id"] for i in get(system, "/incidents")] == [incident["id"]] and len(system.sandbox.state.messages()) == 1
    received = system.api.get("/inbox/export").text.splitlines()
    golden = json.loads((PAYLOADS / "prometheus" / "firing.json").read_text())[0]
    assert all(set(json.loads(line)["raw"]) == set(golden) for line in received)

    probe.set("checkout", False)
    wait_for(lambda: get(system, f"/incidents/{incident['id']}")["incident"]["status"] == "resolved", 25, "the resolution")
    assert len(get(system, "/incidents")) == 1


def amtool(url: str, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real amtool (prometheus-alertmanager's), against alertflow, with its token in an HTTP config file."""
    binary = shutil.which("amtool")
    assert binary, "amtool is not installed: run `make test` (it installs prometheus-alertmanager)"
    command = [binary, f"--alertmanager.url={url}", f"--http.config.file={config}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    return done


def test_amtool_silence_holds_back_the_next_alert_until_expired(start_system, prometheus, probe, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """amtool adds a silence; Prometheus' next matching alert is held back (amtool lists it as silenced, nobody is
    paged); amtool queries and expires the silence, and the alert then opens its incident and pages."""
    system = start_system(webhook_token=HOOK, api_token=ADMIN)
    config = tmp_path / "amtool-http.yml"
    config.write_text(f"authorization:\n  type: Bearer\n  credentials: {ADMIN}\n")
    url = system.api.url

    added = amtool(url, config, "silence", "add", "service=billing", "--author=alice", "--comment=billing deploy", "--duration=10m")
    silence_id = added.stdout.strip()
    assert silence_id == "1" and "alertmanager version" in added.stderr  # /api/v2/status answered: amtool compared versions
    [listed] = json.loads(amtool(url, config, "silence", "query", "-o", "json").stdout)
    assert listed["id"] == silence_id and listed["createdBy"] == "alice" and listed["status"]["state"] == "active"
    assert amtool(url, config, "silence", "query", "-q", "service=billing").stdout.split() == [silence_id]

    probe.set("billing", True)
    prometheus(url, probe)
    held = wait_for(lambda: json.loads(amtool(url, config, "alert", "query", "--silenced", "-o", "json").stdout), 25, "the held-back alert")
    assert held[0]["labels"]["service"] == "billing" and held[0]["status"]["silencedBy"] == [silence_id]
    assert json.loads(amtool(url, config, "alert", "query", "-o", "json").stdout) == []  # active only: nothing
    assert get(system, "/incidents") == [] and system.sandbox.state.messages() == []

    amtool(url, config, "silence", "expire", silence_id)
    [incident] = wait_for(lambda: get(system, "/incidents"), 15, "the released alert's incident")
    assert incident["service"] == "billing"
    wait_for(lambda: system.sandbox.state.messages(), 10, "its page")
    [active] = json.loads(amtool(url, config, "alert", "query", "-o", "json", "service=billing").stdout)
    assert active["status"]["state"] == "active" and active["receivers"] == [{"name": "critical-elsewhere"}]
    assert amtool(url, config, "silence", "query", "-q").stdout.split() == []
    assert amtool(url, config, "silence", "query", "--expired", "-q").stdout.split() == [silence_id]
