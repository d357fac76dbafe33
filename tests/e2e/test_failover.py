"""Failover and failback on the whole alert path, against a real HAProxy: webhook → pipeline → dispatcher → worker → HAProxy."""

from __future__ import annotations

import json

from tests.conftest import wait_for
from tests.e2e.test_system import FIRING, JSON, RESOLVED, cli

RULES = """\
rules:
  - id: service-down
    description: checkout stopped answering
    matchers: ['alertname="ServiceDown"']
    group_by: [service]
    actions:
      - flow: failover
        params: {switch: checkout, to: standby, back_to: primary, failback_after_seconds: 1}
        retry: {retries: 2, retry_delay_seconds: 0.5}
"""


def test_primary_dies_traffic_fails_over_then_fails_back_after_resolve(start_system, load_balancer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Kill web1 → the alert's failover makes HAProxy serve web2; a by-hand failback dry run changes nothing; web1 returns
    and the alert resolves → failback waits for web1 to stay healthy, then HAProxy serves web1 again."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    system = start_system(rules_file=str(rules), switches={"checkout": load_balancer.switch_settings()})
    load_balancer.kill("web1")
    assert load_balancer.served_by() is None, "HAProxy has nothing to serve from: the outage is real"

    assert system.api.post("/webhooks/alertmanager", content=FIRING, headers=JSON).status_code == 202
    wait_for(lambda: load_balancer.served_by() == "web2", 60, f"HAProxy to serve web2 (worker log: {system.worker_log})")
    [run] = system.completed_runs(1, 1)
    assert run.state.is_completed(), run.state.message

    dry = cli(system, "failback", "checkout", "--dry-run", "--by", "alice")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "dry run: would fail back switch checkout from standby to primary" in dry.stdout
    plan = json.loads(dry.stdout[dry.stdout.index("{") :])
    assert plan["current"] == "standby" and plan["target_health"].startswith("unhealthy")
    assert load_balancer.served_by() == "web2", "a dry run changes nothing"

    load_balancer.start_backend("web1")
    assert system.api.post("/webhooks/alertmanager", content=RESOLVED, headers=JSON).status_code == 202
    wait_for(lambda: load_balancer.served_by() == "web1", 60, f"HAProxy to serve web1 again (worker log: {system.worker_log})")
    runs = system.completed_runs(1, 3)
    assert sorted(r.name for r in runs) == ["failback-incident-1", "failback-incident-1", "failover-incident-1"]
    assert all(r.state.is_completed() for r in runs), [(r.name, r.state.message) for r in runs]
    timeline = system.timeline(1)
    for event in (
        "failback flow dry run requested by alice",
        "failback: waiting until primary has been healthy for 1s",
        "failback flow succeeded",
    ):
        assert event in timeline, (event, timeline)
    assert any(s.startswith("switch checkout verified serving primary: 3 of 3 requests") for s in timeline), timeline
