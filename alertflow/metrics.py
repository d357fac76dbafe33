"""What alertflow's processes expose to Prometheus, with prometheus-client.

Each process owns one ``Metrics`` on its own registry: the API process serves
it at ``/metrics``; the worker serves its own on ``worker_metrics_port``. Own
registries (not the library's global one) let tests run several API processes'
worth of apps in one interpreter without their counts mixing.

The latencies an on-call engineer alerts on are histograms: webhook → decided
(the pipeline), decided → first page sent (the paging flow), and each response
flow run's duration by flow and final state. Backlogs are gauges read from the
store at scrape time with index-only queries, so they stay true after a restart.
Alert on ``alertflow_outbox_pending`` staying high: Prefect is down or no
worker serves the deployments. Events for Prefect automations
(alertflow/pipeline/events.py) are counted as sent, failed (attempts) and
dropped (by reason), with the number waiting as a gauge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

# The text format every Prometheus 2.x parses (Debian's 2.42 included), not the library's newest default.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# From a few milliseconds (the pipeline keeping up) to minutes (Prefect down, a backlog).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)
FLOW_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)
BACKLOGS = {
    "inbox_total": "Alerts ever committed to the inbox (its highest id).",
    "inbox_pending": "Inbox alerts not decided yet.",
    "inbox_failed": "Inbox alerts set aside because deciding them failed (see their error).",
    "outbox_pending": "Decided responses not yet handed to Prefect as flow runs.",
    "incidents_open": "Incidents not resolved.",
}


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.accepted = Counter("alertflow_alerts_accepted", "Alerts committed to the inbox since start.", ["source"], registry=r)
        self.rejected = Counter("alertflow_requests_rejected", "Webhook and API requests refused, by status.", ["status"], registry=r)
        self.decided = Histogram(
            "alertflow_webhook_to_decided_seconds",
            "From an alert's webhook to its decision committed.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.first_page = Histogram(
            "alertflow_decided_to_first_page_seconds",
            "From an incident opening to its first page sent.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.flow_runs = Histogram(
            "alertflow_flow_run_duration_seconds",
            "Response flow runs run by this worker, by flow and final state.",
            ["flow", "state"],
            buckets=FLOW_BUCKETS,
            registry=r,
        )
        self.events_sent = Counter("alertflow_prefect_events_sent", "Events Prefect accepted from this process.", registry=r)
        self.events_failed = Counter(
            "alertflow_prefect_events_failed", "Attempts to send events to Prefect that failed (they are tried again).", registry=r
        )
        self.events_dropped = Counter(
            "alertflow_prefect_events_dropped",
            "Events given up: queue full while Prefect was away, rejected by Prefect, or held at stop.",
            ["reason"],
            registry=r,
        )
        self.events_queued = Gauge("alertflow_prefect_events_queued", "Events waiting to be sent to Prefect.", registry=r)
        self.pruned = Counter(
            "alertflow_retention_deleted_rows", "Rows retention deleted, by table (pipeline/retention.py).", ["table"], registry=r
        )
        self._backlog = {name: Gauge(f"alertflow_{name}", help, registry=r) for name, help in BACKLOGS.items()}

    def observe_decided(self, received: Iterable[datetime], now: datetime) -> None:
        for at in received:
            self.decided.observe(max(0.0, (now - at).total_seconds()))

    def render(self, backlogs: Mapping[str, int] | None = None) -> bytes:
        """The exposition text; ``backlogs`` (from ``Store.counts()``) set the gauges first."""
        for name, value in (backlogs or {}).items():
            if name in self._backlog:
                self._backlog[name].set(value)
        return generate_latest(self.registry)


_worker: Metrics | None = None


def worker_metrics() -> Metrics:
    """The worker process's metrics: flows running in it observe pages and durations here."""
    global _worker
    if _worker is None:
        _worker = Metrics()
    return _worker
