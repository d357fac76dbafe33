"""PagerDuty Events API v2 as an input, so anything that can page PagerDuty can page alertflow.

A sender keeps its PagerDuty integration and only changes the events URL to
``/v2/enqueue`` here (or ``/webhooks/pagerduty``). ``trigger`` becomes a firing
alert whose fingerprint is the ``dedup_key`` (or a hash of what identifies the
event, PagerDuty's own fallback being a random key), ``resolve`` a resolved
alert with that fingerprint, and ``acknowledge`` acknowledges the open incident
holding it (alertflow/api/webhooks.py). When ``routing_keys`` are configured, an
event with any other key is refused (403), compared in constant time.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr

from alertflow.errors import Forbidden, InputError, Unauthorized
from alertflow.integrations.sources.payloads import fit_fingerprint, json_text, label_fingerprint, validate
from alertflow.models import Alert, AlertStatus, Severity


class EventPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    summary: str = Field(min_length=1, max_length=1024)
    source: str = Field(min_length=1, max_length=255)
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: AwareDatetime | None = None
    component: str = ""
    group: str = ""
    class_: str = Field("", alias="class")
    custom_details: Any = None


class Link(BaseModel):
    href: str
    text: str = ""


class Event(BaseModel):
    model_config = ConfigDict(extra="ignore")

    routing_key: str = Field(min_length=1)
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: str | None = Field(None, min_length=1, max_length=255)
    payload: EventPayload | None = None
    client: str = Field("", max_length=128)  # an acknowledge is recorded as by "<source>:<client>", 256 characters at most
    client_url: str = ""
    links: list[Link] = []


class PagerDutySource:
    name = "pagerduty"

    def __init__(self, routing_keys: list[SecretStr] | None = None) -> None:
        self.routing_keys = routing_keys or []

    async def verify(self, payload: Any) -> str | None:
        if not self.routing_keys:
            return None
        sent = payload.get("routing_key") if isinstance(payload, dict) else None
        if not isinstance(sent, str) or not sent:
            raise Unauthorized("routing_key: missing", field="routing_key")
        if not any(hmac.compare_digest(sent.encode(), key.get_secret_value().encode()) for key in self.routing_keys):
            raise Forbidden("routing_key: not one of the configured routing keys", field="routing_key")
        return None

    def event(self, payload: Any) -> Event:
        event = validate(Event, payload)
        if event.event_action == "trigger" and event.payload is None:
            raise InputError("payload: a trigger event needs a payload (summary, source, severity)", field="payload")
        if event.event_action != "trigger" and not event.dedup_key:
            raise InputError(f"dedup_key: an {event.event_action} event needs the dedup_key of its trigger", field="dedup_key")
        return event

    def parse(self, payload: Any, received_at: datetime) -> list[Alert]:
        event = self.event(payload)
        if event.event_action == "acknowledge":
            return []
        raw = {key: value for key, value in payload.items() if key != "routing_key"}  # the key is a credential
        if event.event_action == "resolve":
            key = fit_fingerprint(event.dedup_key or "")
            return [
                Alert(
                    source=self.name, fingerprint=key, name=key, service="unknown", severity=Severity.info,
                    status=AlertStatus.resolved, labels={"alertname": key, "dedup_key": key}, starts_at=received_at,
                    ends_at=received_at, received_at=received_at, raw=raw,
                )
            ]  # fmt: skip
        body = event.payload
        assert body is not None  # the model requires it for triggers
        labels = {"alertname": body.class_ or body.summary[:200], "source": body.source, "severity": body.severity}
        labels.update({key: value for key, value in (("component", body.component), ("group", body.group)) if value})
        key = fit_fingerprint(event.dedup_key) if event.dedup_key else label_fingerprint({**labels, "summary": body.summary})
        labels["dedup_key"] = key
        annotations = {"summary": body.summary, **_details(body.custom_details)}
        annotations.update({f"link_{n}": link.href for n, link in enumerate(event.links)})
        if event.client_url:
            annotations["client_url"] = event.client_url
        return [
            Alert(
                source=self.name, fingerprint=key, name=labels["alertname"], service=body.component or body.group or body.source,
                severity=Severity.parse(body.severity), status=AlertStatus.firing, labels=labels, annotations=annotations,
                starts_at=body.timestamp or received_at, received_at=received_at, raw=raw,
            )
        ]  # fmt: skip


def _details(details: Any) -> dict[str, str]:
    """custom_details as annotations: scalars as text, anything nested as its JSON."""
    if details is None:
        return {}
    if isinstance(details, dict):
        return {str(key): json_text(value) for key, value in details.items()}
    return {"details": json_text(details)}
