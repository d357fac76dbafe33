"""A PagerDuty-compatible Events API v2 server on loopback, for tests.

It answers ``POST /v2/enqueue`` the way PagerDuty documents: 202 with
``{"status": "success", "message": "Event processed", "dedup_key": ...}``; 400
"invalid event" with an ``errors`` list for a routing key that is not 32
characters, an unknown ``event_action``, or a trigger without summary, source
or a valid severity; and, when scripted with ``fail_next``, 429 (with
Retry-After) or 5xx. It records every event and keeps each alert's state by
dedup key, so a test asserts what PagerDuty would show.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from alertflow.cli.sandbox import LoopbackServer

ROUTING_KEY = "e93facc04764012d7bfb002500d5d1a6"
SEVERITIES = {"critical", "error", "warning", "info"}
STATES = {"trigger": "triggered", "acknowledge": "acknowledged", "resolve": "resolved"}
THROTTLED = {"status": "throttle event", "message": "Requests for this service are arriving too quickly.  Please retry later."}


@dataclass
class PagerDutyState:
    events: list[dict[str, Any]] = field(default_factory=list)  # every request body, answered or not
    accepted: list[dict[str, Any]] = field(default_factory=list)
    alerts: dict[str, str] = field(default_factory=dict)  # dedup_key -> triggered / acknowledged / resolved
    failures: list[tuple[int, float | None]] = field(default_factory=list)  # (status, Retry-After)


def problems(event: Any) -> list[str]:
    """What PagerDuty would say is wrong with the event (empty when valid)."""
    if not isinstance(event, dict):
        return ["Event object is not a JSON object"]
    found = []
    if not isinstance(event.get("routing_key"), str) or len(event["routing_key"]) != 32:
        found.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    if event.get("event_action") not in STATES:
        found.append("'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')")
    if event.get("event_action") != "trigger" and not event.get("dedup_key"):
        found.append("'dedup_key' is required for acknowledge and resolve events")
    if len(str(event.get("dedup_key", ""))) > 255:
        found.append("'dedup_key' is too long (maximum is 255 characters)")
    if event.get("event_action") == "trigger":
        payload = event.get("payload") if isinstance(event.get("payload"), dict) else {}
        found += [f"'payload.{name}' is missing or blank" for name in ("summary", "source") if not payload.get(name)]
        if payload.get("severity") not in SEVERITIES:
            found.append("'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')")
    return found


def build_app(state: PagerDutyState) -> Starlette:
    async def enqueue(request: Request) -> JSONResponse:
        raw = await request.body()
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return JSONResponse({"status": "invalid event", "message": "Event object is invalid", "errors": ["invalid JSON"]}, 400)
        state.events.append({"body": event, "at": time.time()})
        if state.failures:
            status, retry_after = state.failures.pop(0)
            headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
            body = THROTTLED if status == 429 else {"status": "error", "message": "Internal Server Error"}
            return JSONResponse(body, status, headers=headers)
        errors = problems(event)
        if errors:
            return JSONResponse({"status": "invalid event", "message": "Event object is invalid", "errors": errors}, 400)
        dedup_key = event.get("dedup_key") or uuid.uuid4().hex
        state.accepted.append(event)
        state.alerts[dedup_key] = STATES[event["event_action"]]
        return JSONResponse({"status": "success", "message": "Event processed", "dedup_key": dedup_key}, 202)

    return Starlette(routes=[Route("/v2/enqueue", enqueue, methods=["POST"])])


class FakePagerDuty(LoopbackServer):
    def __init__(self) -> None:
        self.state = PagerDutyState()
        super().__init__(build_app(self.state))

    @property
    def events_url(self) -> str:
        return f"{self.url}/v2/enqueue"

    def fail_next(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        """The next ``times`` events answer ``status`` (429 with Retry-After when given, or 5xx)."""
        self.state.failures.extend([(status, retry_after)] * times)
