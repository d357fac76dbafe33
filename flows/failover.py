"""Failover: move a service's traffic to its standby, verified by the traffic itself, undone on failure.

The steps and their discipline live in flows/traffic.py (check the standby →
shift → verify through the front end │ restore, record, escalate). This flow
adds what is particular to failing over: one at a time per switch, a dry run
that only describes, and idempotence (a re-run after success changes nothing
and says so). Incidents decided while this run has yet to settle its move join
it instead of queuing their own (alertflow/store/shared_runs.py); the
run marks its outbox row when the move is settled, either way, so a failover
decided after that runs again. Failing back is flows/failback.py.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from alertflow.flows.timeline import LIFECYCLE_HOOKS, close_run
from alertflow.flows.traffic import describe_plan, move_traffic
from alertflow.models import FailoverAction


@flow(name="failover", flow_run_name="failover-incident-{incident_id}", **LIFECYCLE_HOOKS)
async def fail_over(incident_id: int, action: FailoverAction) -> str | dict[str, Any]:
    """Shift traffic for the incident's service to the standby and verify it (or, as a dry run, say how)."""
    params = action.params
    if params.dry_run:
        return await describe_plan(incident_id, params.switch, params.to, "fail over")
    try:
        return await move_traffic(incident_id, params.switch, params.to, action.retry, "failover")
    finally:  # settled, moved or not: a failover decided from now on gets a run of its own
        await close_run()
