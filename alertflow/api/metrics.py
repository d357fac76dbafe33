"""Prometheus exposition for alertflow, written by hand: a few counters need no library.

Counters live in the API process (accepted alerts per source, refusals per
status); backlogs come from the store at scrape time, so they are true after a
restart. Alert on ``alertflow_outbox_pending`` staying high: Prefect is down or
no worker serves the deployments.
"""

from __future__ import annotations

from collections import Counter


class Metrics:
    def __init__(self) -> None:
        self._accepted: Counter[str] = Counter()
        self._rejected: Counter[int] = Counter()

    def accepted(self, source: str, count: int) -> None:
        self._accepted[source] += count

    def rejected(self, status: int) -> None:
        self._rejected[status] += 1

    def render(self, counts: dict[str, int]) -> str:
        lines = [
            "# HELP alertflow_alerts_accepted_total Alerts committed to the inbox since start.",
            "# TYPE alertflow_alerts_accepted_total counter",
            *(f'alertflow_alerts_accepted_total{{source="{s}"}} {n}' for s, n in sorted(self._accepted.items())),
            "# HELP alertflow_requests_rejected_total Webhook and API requests refused, by status.",
            "# TYPE alertflow_requests_rejected_total counter",
            *(f'alertflow_requests_rejected_total{{status="{s}"}} {n}' for s, n in sorted(self._rejected.items())),
        ]
        for name, value in sorted(counts.items()):
            lines += [f"# TYPE alertflow_{name} gauge", f"alertflow_{name} {value}"]
        return "\n".join(lines) + "\n"
