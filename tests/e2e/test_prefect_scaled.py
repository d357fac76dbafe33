"""alertflow on Prefect scaled out as docs/deploy.md runs it: two API replicas, the services, Redis, PostgreSQL.

The dispatcher creates the paging run through one replica and a worker pointed at
the other claims and executes it: only what the replicas share (PostgreSQL for
state, Redis for events) connects the two. The worker's part shows at the Slack
stand-in: step 2 of the escalation is paged by the flow run, not by the API's
announcer (which sends step 1 at decision time).
"""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import wait_for
from tests.support import REPO

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

FIRING = (REPO / "examples" / "alertmanager-firing.json").read_bytes()
RULES = "rules:\n  - id: all\n    description: everything pages\n    actions:\n      - flow: paging\n        params: {policy: duo}\n"


def persisted_events(api_url: str, run_id: str, event: str) -> list[dict]:  # type: ignore[type-arg]
    """Events about the flow run that Prefect stored, read through ``api_url``."""
    query = {"filter": {"event": {"name": [event]}, "resource": {"id": [f"prefect.flow-run.{run_id}"]}}, "limit": 10}
    return httpx.post(f"{api_url}/events/filter", json=query, timeout=10).json()["events"]


@pytest.mark.parametrize("prefect_api", ["scaled"], indirect=True)
def test_a_run_created_through_one_replica_is_executed_through_the_other(fresh_pg_url, start_system, scaled_prefect, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An alert opens an incident; its paging run, created through replica 1, is executed by a worker on replica 2,
    which pages step 2 at the Slack stand-in; on resolve the run is Completed, as both replicas tell, and its
    Completed event, published on replica 2, is stored through Redis and the services and read on replica 1."""
    creating, executing = scaled_prefect.api_urls
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    policy = {"steps": [{"notify": {"person": "alice"}, "wait": "1s"}, {"notify": {"person": "bob"}, "wait": "1h"}]}
    system = start_system(
        worker_env={"ALERTFLOW_PREFECT_API_URL": executing},
        database_url=fresh_pg_url,
        rules_file=str(rules),
        people={"alice": {"slack_user_id": "UALICE"}, "bob": {"slack_user_id": "UBOB"}},
        escalation_policies={"duo": policy},
    )
    assert system.api.settings.prefect_api_url == creating and system.api.settings.database_url == fresh_pg_url

    assert system.api.post("/webhooks/alertmanager", content=FIRING, headers={"Content-Type": "application/json"}).status_code == 202
    slack = system.sandbox.state.slack
    wait_for(lambda: slack.channel("UBOB").messages, 40, f"bob paged by the paging run (worker log: {system.worker_log})")
    assert len(slack.channel("UALICE").messages) == 1 and len(slack.channel("UBOB").messages) == 1
    assert "step 2/2: paged bob on Slack" in system.timeline(1), system.timeline(1)

    assert system.api.post("/incidents/1/resolve", json={"actor": "carol"}).status_code == 200
    [run] = system.completed_runs(1, 1)
    assert run.name == "paging-incident-1" and run.state.is_completed(), run.state
    # Prefect's engine in the worker names the UI of the API it talks to: replica 2's.
    assert f"{executing.removesuffix('/api')}/runs/flow-run/{run.id}" in system.worker_log.read_text()
    seen_by_executing = httpx.get(f"{executing}/flow_runs/{run.id}", timeout=10).json()
    assert seen_by_executing["state"]["type"] == "COMPLETED"
    wait_for(lambda: persisted_events(creating, str(run.id), "prefect.flow-run.Completed"), 20, "the Completed event stored")
