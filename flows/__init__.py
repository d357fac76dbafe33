"""Prefect flows: the only place that defines them. One flow per response.

Each is async (no heartbeat-thread join at exit), thin orchestration over small
typed tasks, with retries declared on the tasks that do I/O.
"""

from alertflow.models import FlowName
from flows.failback import fail_back
from flows.failover import fail_over
from flows.paging import page_oncall
from flows.recovery import run_recovery
from flows.timeline import record_timeline

RESPONSE_FLOWS = {
    FlowName.timeline: record_timeline,
    FlowName.failover: fail_over,
    FlowName.paging: page_oncall,
    FlowName.recovery: run_recovery,
    FlowName.failback: fail_back,
}

__all__ = ["RESPONSE_FLOWS", "fail_back", "fail_over", "page_oncall", "record_timeline", "run_recovery"]
