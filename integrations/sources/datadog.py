"""Datadog monitor notifications (the Webhooks integration) into ``Alert``s.

Datadog sends whatever JSON template the webhook is configured with, filled
from its ``$`` variables. We accept its default template (``title``, ``body``,
``date``, ``id``, ``org``...) and the fuller one in docs/sources.md, which adds
``alert_id``, ``aggregation_key``, ``transition``, ``priority``, ``alert_type``,
``hostname`` and ``tags``. Tags (``env:prod,service:checkout``) become labels,
so rules match Datadog alerts like any other. With only the default template,
status and priority are read from the title (``[Recovered] [P2] ...``). The
aggregation key (one per monitor and group) is the fingerprint, else a hash of
the name and tags (with the title's scope, ``on {host:web-1}``), so a
monitor's re-notifications and its recovery land on the same alert.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alertflow.errors import InputError
from alertflow.integrations.sources.payloads import fit_fingerprint, label_fingerprint, validate
from alertflow.models import Alert, AlertStatus, Severity

_TITLE_TAGS = re.compile(r"^\s*\[([^\]]*)\]\s*")
_PRIORITY = re.compile(r"[Pp][1-5]")
_RESOLVED = {"recovered", "recovery", "ok", "resolved", "success"}
_ALERT_TYPES = {"error": Severity.error, "warning": Severity.warning, "info": Severity.info, "success": Severity.info}


class DatadogPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    id: str = ""
    title: str = Field("", max_length=2000)
    alert_title: str = Field("", max_length=2000)
    body: str = ""
    alert_id: str = ""
    aggregation_key: str = Field("", max_length=256)
    transition: str = ""
    priority: str = ""
    alert_type: str = ""
    alert_status: str = ""
    hostname: str = ""
    link: str = ""
    event_type: str = ""
    tags: str | list[str] = ""
    date: str = ""
    last_updated: str = ""

    @field_validator("date", "last_updated")
    @classmethod
    def _epoch(cls, value: str) -> str:
        if value and not value.strip().isdigit():
            raise ValueError("expected Datadog's epoch milliseconds ($DATE), e.g. 1764237511000")
        return value.strip()


class DatadogSource:
    name = "datadog"

    def parse(self, payload: Any, received_at: datetime) -> list[Alert]:
        body = validate(DatadogPayload, payload)
        markers, scope, title = _title_markers(body.title)
        name = body.alert_title.strip() or title
        if not name:
            raise InputError("title: a Datadog notification needs $EVENT_TITLE (title) or $ALERT_TITLE (alert_title)", field="title")
        transition = body.transition or next((m for m in markers if not _PRIORITY.fullmatch(m)), "")
        priority = body.priority or next((m for m in markers if _PRIORITY.fullmatch(m)), "")
        status = AlertStatus.resolved if transition.strip().lower() in _RESOLVED else AlertStatus.firing
        labels = {**scope, **_tag_labels(body.tags), "alertname": name}
        if body.hostname:
            labels.setdefault("host", body.hostname)
        identity = label_fingerprint(labels)  # before what changes between notifications of one alert
        for key, value in (("monitor_id", body.alert_id), ("priority", priority), ("transition", transition)):
            if value:
                labels.setdefault(key, value)
        when = _from_epoch_ms(body.date, "date") or received_at
        annotations = {"summary": body.alert_status or name, "description": body.body, "link": body.link}
        return [
            Alert(
                source=self.name,
                fingerprint=fit_fingerprint(body.aggregation_key) or identity,
                name=name,
                service=labels.get("service") or "unknown",
                severity=Severity.parse(priority) if priority else _ALERT_TYPES.get(body.alert_type.lower(), Severity.warning),
                status=status,
                labels=labels,
                annotations={key: value for key, value in annotations.items() if value},
                starts_at=when,
                ends_at=(_from_epoch_ms(body.last_updated, "last_updated") or when) if status is AlertStatus.resolved else None,
                received_at=received_at,
                generator_url=body.link or None,
                raw=payload,
            )
        ]


def _title_markers(title: str) -> tuple[list[str], dict[str, str], str]:
    """``[Triggered on {host:a}] [P1] CPU high`` -> (["Triggered", "P1"], {"host": "a"}, "CPU high")."""
    markers, scope = [], {}
    while found := _TITLE_TAGS.match(title):
        marker, _, where = found[1].partition(" on ")
        markers.append(marker.strip())
        scope.update(_tag_labels(where.strip().strip("{}")))
        title = title[found.end() :]
    return markers, scope, title.strip()


def _tag_labels(tags: str | list[str]) -> dict[str, str]:
    """``env:prod, service:checkout, canary`` -> {"env": "prod", "service": "checkout", "canary": ""}."""
    items = tags.split(",") if isinstance(tags, str) else tags
    labels: dict[str, str] = {}
    for item in items:
        key, _, value = item.strip().partition(":")
        if key:
            labels.setdefault(key, value)
    return labels


def _from_epoch_ms(value: str, field: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)
    except (OverflowError, ValueError, OSError):
        raise InputError(f"{field}: {value} is not a time Datadog could have sent", field=field) from None
