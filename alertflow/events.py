"""The events alertflow tells Prefect about: their names, and the incident as the resource each concerns.

Prefect automations react to events (docs/automations.md), so each incident
transition, page and traffic move is one: ``alertflow.incident.opened`` and
its siblings below. The resource is the incident (``prefect.resource.id``
``alertflow.incident.<id>``) with labels an automation matches on: ``service``,
``severity``, ``rule``, ``status``, ``incident_id``; the rule and the service
are related resources (roles ``rule`` and ``service``). Events a flow run emits
also carry the flow run, its flow and deployment: Prefect adds them.

Plain dicts, no Prefect import: one spec is both ``prefect.events.emit_event``'s
keyword arguments (flows, flows/runtime.py) and an item of Prefect's events
API (the API process's background emitter, alertflow/pipeline/events.py).
Nothing here holds a secret: labels and payloads carry names, never addresses
or tokens.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from alertflow.models import Incident

OPENED = "alertflow.incident.opened"
REOPENED = "alertflow.incident.reopened"
ACKNOWLEDGED = "alertflow.incident.acknowledged"
ESCALATED = "alertflow.incident.escalated"  # moved on to the next step of its escalation policy (flows/paging.py)
HANDED_OVER = "alertflow.incident.handed-over"  # a response flow gave up and paged people with the reason
SEVERITY_CHANGED = "alertflow.incident.severity-changed"
FLAPPING = "alertflow.incident.flapping"
MITIGATED = "alertflow.incident.mitigated"
RESOLVED = "alertflow.incident.resolved"
PAGE_SENT = "alertflow.page.sent"
NAME_LIMIT = 200


def traffic(what: str, outcome: str) -> str:
    """A traffic move's event: ``alertflow.failover.shifted``, ``alertflow.failback.rolled-back``, ..."""
    return f"alertflow.{what}.{outcome}"


def incident_event(
    name: str, incident_id: int, *, service: str, severity: str, rule: str, status: str, title: str = "",
    at: datetime | None = None, payload: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One event about an incident, as ``emit_event``'s keyword arguments."""
    resource = {
        "prefect.resource.id": f"alertflow.incident.{incident_id}",
        "prefect.resource.name": f"incident {incident_id}: {title}"[:NAME_LIMIT] if title else f"incident {incident_id}",
        "incident_id": str(incident_id),
        "service": service,
        "severity": severity,
        "rule": rule,
        "status": status,
    }
    related = [
        {"prefect.resource.id": f"alertflow.rule.{rule}", "prefect.resource.role": "rule", "prefect.resource.name": rule},
        {"prefect.resource.id": f"alertflow.service.{service}", "prefect.resource.role": "service", "prefect.resource.name": service},
    ]
    return {
        "id": uuid.uuid4(),
        "event": name,
        "occurred": at or datetime.now(timezone.utc),
        "resource": resource,
        "related": related,
        "payload": payload or {},
    }


def event_for(name: str, incident: Incident, *, at: datetime | None = None, **payload: Any) -> dict[str, Any]:
    """``incident_event`` for a stored incident, labelled as it stands."""
    return incident_event(
        name, incident.id, service=incident.service, severity=incident.severity.value, rule=incident.rule_id,
        status=incident.status.value, title=incident.title, at=at, payload={k: v for k, v in payload.items() if v is not None},
    )  # fmt: skip


def incident_of(event: dict[str, Any]) -> int | None:
    """The incident id an event is about (for log lines)."""
    value = event.get("resource", {}).get("incident_id")
    return int(value) if value else None
