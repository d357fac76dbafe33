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
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from starlette.requests import ClientDisconnect

from alertflow.api.http import Accepted, check_content_type, error_for, json_response, parse_json, read_stream
from alertflow.auth import check_bearer, check_request
from alertflow.errors import AlertflowError, NotFound
from alertflow.integrations.sources import VerifyingSource
from alertflow.integrations.sources.pagerduty import PagerDutySource
from alertflow.integrations.sources.payloads import fit_fingerprint
from alertflow.integrations.sources.registry import Endpoint, build_endpoints, enqueue_source
from alertflow.models import Alert
from alertflow.pipeline.stages import Stages
from alertflow.store import tables as t

log = logging.getLogger("alertflow.api")

CATCH_UP_SECONDS = 5.0  # how long an acknowledge waits for its trigger still in the inbox
ACCEPTED_HEADERS = [(b"content-type", b"application/json")]


# Checks a request's credential on its headers and raw body, before parsing: raises Unauthorized or Forbidden.
Authorize = Callable[[Mapping[str, str], bytes, datetime], None]


@dataclass(frozen=True)
class TakenIn:
    payload: Any
    alerts: list[Alert]
    handled: str | None = None  # a control message the source handled (an SNS subscription confirmed): no alerts


async def take_in(
    stages: Stages, endpoint: Endpoint, headers: Mapping[str, str], body: AsyncIterator[bytes], authorize: Authorize | None = None,
    verifying: bool | None = None,
) -> TakenIn:  # fmt: skip
    """Everything before the commit, in the order above: content type, size, auth (the endpoint's own unless
    ``authorize`` is given), JSON, the source's own proof, its parse. Raises the refusal; nothing is written.
    ``verifying``: whether the source proves itself in the body, when the caller knows it already."""
    source = endpoint.source
    check_content_type(headers.get("content-type"), getattr(source, "content_types", ()))
    raw = await read_stream(body, headers.get("content-length"), stages.settings.max_body_bytes)
    now = datetime.now(timezone.utc)
    if authorize is None:
        check_request(endpoint.auth, headers, raw, now)
    else:
        authorize(headers, raw, now)
    payload = parse_json(raw)
    if verifying is None:
        verifying = isinstance(source, VerifyingSource)
    if verifying and (handled := await source.verify(payload)):  # type: ignore[attr-defined]
        return TakenIn(payload, [], handled)
    return TakenIn(payload, source.parse(payload, now))


async def commit(stages: Stages, endpoint: Endpoint, alerts: list[Alert]) -> list[int]:
    """Append to the inbox; returns the ids once committed (group commit, alertflow/pipeline/inbox.py)."""
    ids = await stages.inbox.append(alerts)
    stages.metrics.accepted.labels(endpoint.name).inc(len(ids))
    return ids


class Intake:
    """``POST /webhooks/{name}`` (and ``/v2/enqueue``), whatever serves it: the FastAPI route (for the
    OpenAPI schema) or ``asgi``, which the app calls first, without FastAPI's routing, middleware and
    dependency machinery: at one alert per request that machinery was a third of the process."""

    def __init__(self, stages: Stages) -> None:
        self.stages = stages
        self.settings = stages.settings
        self.endpoints = build_endpoints(stages.settings)
        self.enqueue = enqueue_source(self.endpoints)
        # isinstance against a runtime-checkable Protocol inspects the class every time: decided once per source.
        self.verifying = {name for name, e in self.endpoints.items() if isinstance(e.source, VerifyingSource)}

    def source_of(self, scope: dict[str, Any]) -> str | None:
        """The source a request posts to, when ``asgi`` serves it; else None (FastAPI answers)."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        path: str = scope["path"]
        if path.startswith("/webhooks/") and "/" not in (name := path[10:]) and name:
            return name
        return self.enqueue if path == "/v2/enqueue" else None

    async def asgi(self, name: str, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in reversed(scope["headers"])}

        async def stream() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                yield message.get("body", b"")
                if not message.get("more_body", False):
                    return

        try:
            status, content = await self.accept(name, headers, stream())
        except AlertflowError as err:
            await error_for(err, self.stages.metrics)(scope, receive, send)
            return
        except ClientDisconnect:
            client = scope.get("client") or ("?",)
            log.info("POST %s: client %s went away before sending the whole body; nothing stored", scope["path"], client[0])
            return
        body = orjson.dumps(content)
        headers_out = [*ACCEPTED_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers_out})
        await send({"type": "http.response.body", "body": body})

    async def accept(self, name: str, headers: Mapping[str, str], body_stream: AsyncIterator[bytes]) -> tuple[int, dict[str, Any]]:
        """(status, JSON answer) for a webhook request; refusals raise the ``InputError`` that names the field."""
        settings, stages = self.settings, self.stages
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            if settings.webhook_token is not None:
                check_bearer(settings.webhook_token, headers)
            raise NotFound(f"unknown source {name!r}; known sources: {', '.join(sorted(self.endpoints))}")
        taken = await take_in(stages, endpoint, headers, body_stream, verifying=name in self.verifying)
        if taken.handled:
            return 200, {"accepted": 0, "alert_ids": [], "message": taken.handled}
        extra: dict[str, Any] = {}
        if isinstance(endpoint.source, PagerDutySource):
            extra = await _pagerduty_reply(stages, endpoint, endpoint.source, taken.payload, taken.alerts)
        ids = await commit(stages, endpoint, taken.alerts)
        return 202, {"accepted": len(ids), "alert_ids": ids, **extra}


def webhooks_router(intake: Intake) -> APIRouter:
    """The same path in FastAPI, for the OpenAPI schema (and any request ``asgi`` leaves to it)."""
    router = APIRouter()

    async def accept(name: str, request: Request) -> Response:
        status, content = await intake.accept(name, request.headers, request.stream())
        return json_response(content, status)

    responses: dict[int | str, dict[str, Any]] = {code: {} for code in (400, 401, 403, 404, 413, 415, 422)}

    @router.post("/webhooks/{name}", status_code=202, response_model=Accepted, responses=responses)
    async def receive_webhook(name: str, request: Request) -> Response:
        """Accept alerts from a sender; 202 means they are committed to disk. `alertflow sources` lists the names."""
        return await accept(name, request)

    if intake.enqueue is not None:
        pagerduty = intake.enqueue

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
