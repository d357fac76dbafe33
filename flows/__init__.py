"""Prefect flows: the only place that defines them. One flow per response, and the scheduled report.

Each is async (no heartbeat-thread join at exit), thin orchestration over small
typed tasks, with retries declared on the tasks that do I/O.
"""

from alertflow.flows.failback import fail_back
from alertflow.flows.failover import fail_over
from alertflow.flows.paging import page_oncall
from alertflow.flows.recovery import run_recovery
from alertflow.flows.report import publish_report
from alertflow.flows.timeline import record_timeline
from alertflow.models import FlowName

RESPONSE_FLOWS = {
    FlowName.timeline: record_timeline,
    FlowName.failover: fail_over,
    FlowName.paging: page_oncall,
    FlowName.recovery: run_recovery,
    FlowName.failback: fail_back,
}

__all__ = ["RESPONSE_FLOWS", "fail_back", "fail_over", "page_oncall", "publish_report", "record_timeline", "run_recovery"]
