"""What Prometheus posts to an Alertmanager (``POST /api/v2/alerts``) into alertflow ``Alert``s.

Why a source of its own: Prometheus can send straight to alertflow, with no
Alertmanager in between (alertflow/api/alertmanager_v2.py serves the URL). The
body is Alertmanager's ``postableAlerts``: a JSON list of alerts, each with
``labels``, ``annotations``, ``startsAt``, ``endsAt`` and ``generatorURL``, no
status and no fingerprint. As in Alertmanager, an alert whose ``endsAt`` is not
after the time it arrived is resolved (Prometheus sends the time it resolved);
a firing one carries an ``endsAt`` a few evaluation intervals ahead, kept as
the alert's ``ends_at``. Empty label values are dropped (Prometheus' rule: an
empty label is no label), and the fingerprint is Alertmanager's own (FNV-1a
over the sorted label set), so Prometheus' resends every evaluation interval,
and the same alert delivered through an Alertmanager's webhook, dedupe into
one incident. Any invalid alert refuses the whole body, naming its field:
nothing of a refused body is stored.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, RootModel, ValidationInfo, field_validator

from alertflow.integrations.sources.payloads import validate
from alertflow.models import Alert, AlertStatus, Severity

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")  # Alertmanager 0.25's (and Prometheus') label names
ZERO_TIME_YEAR = 1  # Go's zero time, 0001-01-01T00:00:00Z: "not given"
FNV_OFFSET, FNV_PRIME, MASK = 14695981039346656037, 1099511628211, (1 << 64) - 1
SEPARATOR = 0xFF  # prometheus/common model.SeparatorByte


def alertmanager_fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint of a label set (prometheus/common ``LabelSet.Fingerprint``), as 16 hex digits."""
    digest = FNV_OFFSET
    for name in sorted(labels):
        for part in (name.encode(), labels[name].encode()):
            for byte in (*part, SEPARATOR):
                digest = ((digest ^ byte) * FNV_PRIME) & MASK
    return f"{digest:016x}"


def _given(value: datetime | None) -> datetime | None:
    return value if value is not None and value.year > ZERO_TIME_YEAR else None


class PostableAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: AwareDatetime | None = None
    endsAt: AwareDatetime | None = None
    generatorURL: str = ""

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        labels = {name: value for name, value in labels.items() if value != ""}
        if not labels:
            raise ValueError("at least one label pair required")
        _check_names(labels)
        if not labels.get("alertname"):
            raise ValueError("every alert needs an alertname label")
        return labels

    @field_validator("annotations")
    @classmethod
    def _annotations(cls, annotations: dict[str, str]) -> dict[str, str]:
        _check_names(annotations)
        return annotations

    @field_validator("endsAt")
    @classmethod
    def _after_start(cls, ends: datetime | None, info: ValidationInfo) -> datetime | None:
        starts = _given(info.data.get("startsAt"))
        if starts is not None and _given(ends) is not None and ends < starts:  # type: ignore[operator]
            raise ValueError("start time must be before end time")
        return ends


def _check_names(names: dict[str, str]) -> None:
    for name in names:
        if not LABEL_NAME.match(name):
            raise ValueError(f"invalid name {name!r}: letters, digits and _, not starting with a digit")


class PostableAlerts(RootModel[list[PostableAlert]]):
    pass


class PrometheusSource:
    name = "prometheus"

    def parse(self, payload: Any, received_at: datetime) -> list[Alert]:
        alerts = validate(PostableAlerts, payload).root
        return [self._alert(alert, raw, received_at) for alert, raw in zip(alerts, payload, strict=True)]

    def _alert(self, alert: PostableAlert, raw: dict[str, Any], received_at: datetime) -> Alert:
        labels = alert.labels
        ends_at = _given(alert.endsAt)
        resolved = ends_at is not None and ends_at <= received_at
        return Alert(
            source=self.name,
            fingerprint=alertmanager_fingerprint(labels),
            name=labels["alertname"],
            service=labels.get("service") or labels.get("job") or "unknown",
            severity=Severity.parse(labels.get("severity")),
            status=AlertStatus.resolved if resolved else AlertStatus.firing,
            labels=labels,
            annotations=alert.annotations,
            starts_at=_given(alert.startsAt) or (ends_at if resolved else received_at),
            ends_at=ends_at,
            received_at=received_at,
            generator_url=alert.generatorURL or None,
            raw=raw,
        )
