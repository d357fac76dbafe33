"""Prometheus Alertmanager webhook (payload version 4) into alertflow ``Alert``s.

Alertmanager sends a whole group per request and resends it every
``repeat_interval``, with each alert's ``fingerprint`` (a hash of its labels) and
``endsAt`` of ``0001-01-01T00:00:00Z`` while firing. We keep the fingerprint,
so resends (and the same group from each Alertmanager of an HA pair) dedupe in
the engine, and keep each alert's own JSON as ``raw``. When Alertmanager cut the
group short (``max_alerts``), ``truncatedAlerts`` is kept on every alert as the
``alertflow_truncated_alerts`` annotation, so people see that some are missing.
Grafana's webhook is this format plus a few fields (integrations/sources/grafana.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from alertflow.integrations.sources.payloads import label_fingerprint, validate
from alertflow.models import Alert, AlertStatus, Severity

ZERO_TIME_YEAR = 1  # Alertmanager's "no end yet": 0001-01-01T00:00:00Z


class WebhookAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: AwareDatetime
    endsAt: AwareDatetime | None = None
    generatorURL: str = ""
    fingerprint: str | None = Field(None, max_length=128)

    @field_validator("labels")
    @classmethod
    def _has_alertname(cls, labels: dict[str, str]) -> dict[str, str]:
        if not labels.get("alertname"):
            raise ValueError("every alert needs an alertname label")
        return labels

    def extra_annotations(self) -> dict[str, str]:
        """Vendor fields worth showing people, as annotations (none for Alertmanager)."""
        return {}


class WebhookPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupKey: str = ""
    truncatedAlerts: int = Field(0, ge=0)
    alerts: list[WebhookAlert] = Field(min_length=1)


class AlertmanagerSource:
    name = "alertmanager"
    payload_model: type[WebhookPayload] = WebhookPayload

    def parse(self, payload: Any, received_at: datetime) -> list[Alert]:
        body = validate(self.payload_model, payload)
        truncated = {"alertflow_truncated_alerts": str(body.truncatedAlerts)} if body.truncatedAlerts else {}
        raws = payload["alerts"]
        return [self._alert(alert, raw, received_at, truncated) for alert, raw in zip(body.alerts, raws, strict=True)]

    def _alert(self, alert: WebhookAlert, raw: dict[str, Any], received_at: datetime, extra: dict[str, str]) -> Alert:
        labels = alert.labels
        ends_at = alert.endsAt if alert.endsAt and alert.endsAt.year > ZERO_TIME_YEAR else None
        return Alert.from_checked(  # every value below comes from the validated payload
            source=self.name,
            fingerprint=alert.fingerprint or label_fingerprint(labels),
            name=labels["alertname"],
            service=labels.get("service") or labels.get("job") or "unknown",
            severity=Severity.parse(labels.get("severity")),
            status=AlertStatus(alert.status),
            labels=labels,
            annotations={**alert.annotations, **alert.extra_annotations(), **extra},
            starts_at=alert.startsAt,
            ends_at=ends_at,
            received_at=received_at,
            generator_url=alert.generatorURL or None,
            raw=raw,
        )
