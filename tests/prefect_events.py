"""Reading alertflow's events back from the real Prefect server, through the events API its UI's event feed reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from tests.conftest import wait_for


def read_events(api_url: str, since: datetime, resource_id: str | None = None, prefix: str = "alertflow.") -> list[dict[str, Any]]:
    """Events named ``prefix...`` that occurred since ``since`` (about ``resource_id``, if given), oldest first."""
    event_filter: dict[str, Any] = {"occurred": {"since": since.isoformat()}, "event": {"prefix": [prefix]}, "order": "ASC"}
    if resource_id is not None:
        event_filter["resource"] = {"id": [resource_id]}
    response = httpx.post(f"{api_url}/events/filter", json={"filter": event_filter, "limit": 50}, timeout=10)
    response.raise_for_status()
    return response.json()["events"]


def wait_for_events(api_url: str, since: datetime, names: list[str], resource_id: str | None = None, timeout: float = 30) -> list[dict]:  # type: ignore[type-arg]
    """Wait until every one of ``names`` is in the feed (Prefect persists events in batches); returns the events read."""

    def arrived() -> list[dict[str, Any]] | None:
        events = read_events(api_url, since, resource_id)
        return events if set(names) <= {e["event"] for e in events} else None

    return wait_for(arrived, timeout, f"events {names} in Prefect", interval=0.5)


def by_name(events: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The first event called ``name``."""
    return next(e for e in events if e["event"] == name)


def related_roles(event: dict[str, Any]) -> dict[str, str]:
    """role -> resource id of an event's related resources (the last of each role)."""
    return {r["prefect.resource.role"]: r["prefect.resource.id"] for r in event["related"]}
