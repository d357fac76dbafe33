"""Dead man's switches: an expected alert (a heartbeat) that stops arriving is itself an alert.

Monitoring that dies says nothing. A heartbeat rule names the alert that
should keep arriving (e.g. Alertmanager's always-firing ``Watchdog``) and how
long silence means trouble; per ``group_by`` key the engine remembers when it
last saw one, raises a synthetic alert when ``missing_after`` passes, and
resolves it when the heartbeat is seen again. The synthetic alert goes through
the rules like any other, so a rule decides what it pages.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from alertflow.durations import Duration
from alertflow.models import Alert, AlertStatus, Severity
from alertflow.rules.matchers import MatcherField


class MissingAlert(BaseModel):
    """The synthetic alert raised when the heartbeat is missing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "HeartbeatMissing"
    severity: Severity = Severity.critical
    labels: dict[str, str] = Field(default_factory=dict)
    summary: str | None = None


class Heartbeat(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    description: str = Field(min_length=1)
    matchers: list[MatcherField] = Field(min_length=1, description="the alert that should keep arriving")
    group_by: list[str] = Field(default_factory=list, description="one heartbeat per value of these labels")
    missing_after: Duration
    alert: MissingAlert = MissingAlert()

    def group_labels(self, labels: dict[str, str]) -> dict[str, str]:
        return {name: labels.get(name, "") for name in self.group_by}

    def synthetic(self, group_labels: dict[str, str], status: AlertStatus, now: datetime, last_seen: datetime) -> Alert:
        key = ",".join(f"{name}={value}" for name, value in sorted(group_labels.items()))
        labels = {**group_labels, **self.alert.labels, "alertname": self.alert.name, "heartbeat": self.id}
        silent = int((now - last_seen) / timedelta(seconds=1))
        summary = self.alert.summary or f"{self.description}: no heartbeat for {silent}s"
        return Alert(
            source="alertflow",
            fingerprint=f"heartbeat:{self.id}:{key}",
            name=self.alert.name,
            service=labels.get("service") or labels.get("job") or "monitoring",
            severity=self.alert.severity,
            status=status,
            labels=labels,
            annotations={"summary": summary},
            starts_at=last_seen + self.missing_after,
            ends_at=now if status is AlertStatus.resolved else None,
            received_at=now,
        )
