"""Webhook intake for every source: ``POST /webhooks/{name}`` and PagerDuty's ``POST /v2/enqueue``.

One path for all senders, in an order that spends nothing on strangers:
find the source (404), check the content type (415) and size (413), check the
request's auth on the raw bytes (401/403, alertflow/auth.py), parse
JSON (400), let the source verify what the body itself proves (SNS signature,
routing key) or handle a control message (SNS subscription), parse into alerts
(422 naming the field), and commit them all in one inbox write before the 202.
A refusal at any step writes nothing. A PagerDuty ``acknowledge`` acknowledges
the open incident holding its dedup_key, through the pipeline like a person's ack.
``take_in`` and ``commit`` are that path, shared with Alertmanager's
``POST /api/v2/alerts`` (alertflow/api/alertmanager_v2.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from alertflow.api.http import Accepted, check_content_type, json_response, parse_json, read_body, require_token
from alertflow.auth import check_request
from alertflow.errors import NotFound
from alertflow.integrations.sources import VerifyingSource
from alertflow.integrations.sources.pagerduty import PagerDutySource
from alertflow.integrations.sources.payloads import fit_fingerprint
from alertflow.integrations.sources.registry import Endpoint, build_endpoints, enqueue_source
from alertflow.models import Alert
from alertflow.pipeline.stages import Stages
from alertflow.store import tables as t

CATCH_UP_SECONDS = 5.0  # how long an acknowledge waits for its trigger still in the inbox


# Checks a request's credential on its headers and raw body, before parsing: raises Unauthorized or Forbidden.
Authorize = Callable[[Mapping[str, str], bytes, datetime], None]


@dataclass(frozen=True)
class Intake:
    payload: Any
    alerts: list[Alert]
    handled: str | None = None  # a control message the source handled (an SNS subscription confirmed): no alerts


async def take_in(stages: Stages, endpoint: Endpoint, request: Request, authorize: Authorize | None = None) -> Intake:
    """Everything before the commit, in the order above: content type, size, auth (the endpoint's own unless
    ``authorize`` is given), JSON, the source's own proof, its parse. Raises the refusal; nothing is written."""
    source = endpoint.source
    check_content_type(request.headers.get("content-type"), getattr(source, "content_types", ()))
    body = await read_body(request, stages.settings.max_body_bytes)
    now = datetime.now(timezone.utc)
    if authorize is None:
        check_request(endpoint.auth, request.headers, body, now)
    else:
        authorize(request.headers, body, now)
    payload = parse_json(body)
    if isinstance(source, VerifyingSource) and (handled := await source.verify(payload)):
        return Intake(payload, [], handled)
    return Intake(payload, source.parse(payload, now))


async def commit(stages: Stages, endpoint: Endpoint, alerts: list[Alert]) -> list[int]:
    """Append to the inbox; returns the ids once committed (group commit, alertflow/pipeline/inbox.py)."""
    ids = await stages.inbox.append(alerts)
    stages.metrics.accepted.labels(endpoint.name).inc(len(ids))
    return ids


def webhooks_router(stages: Stages) -> APIRouter:
    settings = stages.settings
    endpoints = build_endpoints(settings)
    router = APIRouter()

    async def accept(name: str, request: Request) -> Response:
        endpoint = endpoints.get(name)
        if endpoint is None:
            require_token(request, settings.webhook_token)
            raise NotFound(f"unknown source {name!r}; known sources: {', '.join(sorted(endpoints))}")
        intake = await take_in(stages, endpoint, request)
        if intake.handled:
            return json_response({"accepted": 0, "alert_ids": [], "message": intake.handled}, 200)
        extra: dict[str, Any] = {}
        if isinstance(endpoint.source, PagerDutySource):
            extra = await _pagerduty_reply(stages, endpoint, endpoint.source, intake.payload, intake.alerts)
        ids = await commit(stages, endpoint, intake.alerts)
        return json_response({"accepted": len(ids), "alert_ids": ids, **extra}, 202)

    responses: dict[int | str, dict[str, Any]] = {code: {} for code in (400, 401, 403, 404, 413, 415, 422)}

    @router.post("/webhooks/{name}", status_code=202, response_model=Accepted, responses=responses)
    async def receive_webhook(name: str, request: Request) -> Response:
        """Accept alerts from a sender; 202 means they are committed to disk. `alertflow sources` lists the names."""
        return await accept(name, request)

    pagerduty = enqueue_source(endpoints)
    if pagerduty is not None:

        @router.post("/v2/enqueue", status_code=202, response_model=Accepted, responses=responses)
        async def enqueue(request: Request) -> Response:
            """PagerDuty Events API v2, so any tool that can page PagerDuty can page alertflow."""
            return await accept(pagerduty, request)

    return router


async def _pagerduty_reply(
    stages: Stages, endpoint: Endpoint, source: PagerDutySource, payload: Any, alerts: list[Alert]
) -> dict[str, Any]:
    """PagerDuty's own reply fields; an acknowledge acknowledges the incident holding its dedup_key."""
    event = source.event(payload)
    if event.event_action != "acknowledge":
        return {"status": "success", "message": "Event processed", "dedup_key": alerts[0].fingerprint}
    key = fit_fingerprint(event.dedup_key or "")
    incident_id = await _open_incident_with(stages, key)
    if incident_id is None:
        return {"status": "success", "message": "no open incident holds this dedup_key; nothing acknowledged", "dedup_key": key}
    await stages.commands.acknowledge(incident_id, f"{endpoint.name}:{event.client or 'events-api'}")
    return {"status": "success", "message": "Event processed", "dedup_key": key, "incident_id": incident_id}


async def _open_incident_with(stages: Stages, fingerprint: str) -> int | None:
    """The newest unresolved incident holding ``fingerprint``; waits briefly while the inbox still has
    unprocessed alerts, since the trigger may have been accepted a moment ago and not decided yet."""
    query = (
        select(t.incident_alerts.c.incident_id)
        .join(t.incidents, t.incidents.c.id == t.incident_alerts.c.incident_id)
        .where(t.incident_alerts.c.fingerprint == fingerprint, t.incidents.c.status != "resolved")
        .order_by(t.incident_alerts.c.incident_id.desc())
        .limit(1)
    )
    undecided = select(t.inbox.c.id).where(t.inbox.c.processed_at.is_(None)).limit(1)
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while True:
        async with stages.store.read() as conn:
            found = (await conn.execute(query)).scalar()
            waiting = found is None and (await conn.execute(undecided)).first() is not None
        if not waiting or time.monotonic() > deadline:
            return found
        stages.pipeline.nudge()
        await asyncio.sleep(0.05)
