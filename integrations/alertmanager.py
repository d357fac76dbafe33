"""Prometheus Alertmanager webhook (payload version 4) into alertflow ``Alert``s.

Alertmanager sends a whole group per request and resends it every
``repeat_interval``, with each alert's ``fingerprint`` (a hash of its labels) and
``endsAt`` of ``0001-01-01T00:00:00Z`` while firing. We keep the fingerprint,
so resends dedupe in the engine, and keep each alert's own JSON as ``raw``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from alertflow.errors import InputError
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


class WebhookPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupKey: str = ""
    truncatedAlerts: int = 0
    alerts: list[WebhookAlert] = Field(min_length=1)


class AlertmanagerSource:
    name = "alertmanager"

    def parse(self, payload: Any, received_at: datetime) -> list[Alert]:
        try:
            body = WebhookPayload.model_validate(payload)
        except ValidationError as err:
            first = err.errors(include_url=False)[0]
            field = ".".join(str(part) for part in first["loc"]) or "body"
            raise InputError(f"{field}: {first['msg'].removeprefix('Value error, ')}", field=field) from None
        raws = payload["alerts"]
        return [self._alert(alert, raw, received_at) for alert, raw in zip(body.alerts, raws, strict=True)]

    def _alert(self, alert: WebhookAlert, raw: dict[str, Any], received_at: datetime) -> Alert:
        labels = alert.labels
        ends_at = alert.endsAt if alert.endsAt and alert.endsAt.year > ZERO_TIME_YEAR else None
        return Alert(
            source=self.name,
            fingerprint=alert.fingerprint or label_fingerprint(labels),
            name=labels["alertname"],
            service=labels.get("service") or labels.get("job") or "unknown",
            severity=Severity.parse(labels.get("severity")),
            status=AlertStatus(alert.status),
            labels=labels,
            annotations=alert.annotations,
            starts_at=alert.startsAt,
            ends_at=ends_at,
            received_at=received_at,
            generator_url=alert.generatorURL or None,
            raw=raw,
        )


def label_fingerprint(labels: dict[str, str]) -> str:
    """A stable identity for an alert without Alertmanager's own fingerprint."""
    canonical = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
