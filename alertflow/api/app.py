"""The HTTP face of alertflow: webhooks in, incidents out, people's commands.

``POST /webhooks/{source}`` answers 202 only after the alerts are committed to
the inbox; it never waits on the rule engine or Prefect. Every refusal is a
4xx whose JSON names the problem (``{"error": ..., "field": ...}``) and
writes nothing. Tokens are compared in constant time and never echoed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.requests import ClientDisconnect

from alertflow.api.access import ApiAccess
from alertflow.api.acklinks import acklinks_router
from alertflow.api.alertmanager_silences import alertmanager_silences_router
from alertflow.api.alertmanager_v2 import alertmanager_router
from alertflow.api.calendar import calendar_router
from alertflow.api.http import Actor, error_for, error_response, json_response
from alertflow.api.inbox import inbox_router
from alertflow.api.oncall import oncall_router
from alertflow.api.reports import reports_router
from alertflow.api.responses import responses_router
from alertflow.api.silences import silences_router
from alertflow.api.slack import slack_router
from alertflow.api.webhooks import Intake, webhooks_router
from alertflow.config.api import Scope
from alertflow.errors import AlertflowError, StoreError
from alertflow.metrics import CONTENT_TYPE
from alertflow.models import Incident, IncidentStatus, TimelineEntry
from alertflow.pipeline.stages import Stages

# An incident's page stays small whatever its size (the 100,000-alert storm: bench/storm_incident.py):
# the timeline comes a page at a time, and the alerts as the first few fingerprints and a count.
TIMELINE_PAGE = 100
TIMELINE_PAGE_MAX = 1000
FINGERPRINTS_SHOWN = 100

log = logging.getLogger("alertflow.api")


class IncidentDetail(BaseModel):
    incident: Incident
    timeline: list[TimelineEntry]
    timeline_total: int  # entries in the whole timeline
    next_cursor: int | None  # ?cursor= for the next page of the timeline; None on its last page
    flow_runs: list[dict[str, Any]]


class AlertflowApp(FastAPI):
    """FastAPI, except that webhooks skip its machinery (alertflow/api/webhooks.py ``Intake.asgi``)."""

    intake: Intake

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (name := self.intake.source_of(scope)) is not None:
            await self.intake.asgi(name, scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(stages: Stages) -> FastAPI:
    metrics = stages.metrics
    access = ApiAccess(stages.settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await stages.start()
        try:
            yield
        finally:
            await stages.stop()

    app = AlertflowApp(title="alertflow", version="0.1.0", lifespan=lifespan)
    app.state.stages = stages
    app.intake = Intake(stages)

    @app.exception_handler(AlertflowError)
    async def on_alertflow_error(request: Request, err: AlertflowError) -> Response:
        return error_for(err, metrics)

    @app.exception_handler(ClientDisconnect)
    async def on_client_gone(request: Request, err: ClientDisconnect) -> Response:
        # A sender that hangs up mid-body (or was cut off as too slow) gets no answer and stored
        # nothing: worth one line, not uvicorn's traceback of an "Exception in ASGI application".
        client = request.client.host if request.client else "?"
        log.info("%s %s: client %s went away before sending the whole body; nothing stored", request.method, request.url.path, client)
        return Response(status_code=400)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, err: RequestValidationError) -> Response:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        return error_response(422, f"{field}: {first['msg']}", field)

    @app.get("/incidents", response_model=list[Incident])
    async def list_incidents(
        request: Request, status: Annotated[list[IncidentStatus] | None, Query()] = None, limit: int = 100
    ) -> Response:
        access.check(request, Scope.read)
        incidents = await stages.store.list_incidents(status or (), min(max(limit, 1), 1000))
        return json_response([i.model_dump(mode="json") for i in incidents])

    @app.get("/incidents/{incident_id}", response_model=IncidentDetail)
    async def show_incident(
        incident_id: int, request: Request, limit: Annotated[int, Query(ge=1, le=TIMELINE_PAGE_MAX)] = TIMELINE_PAGE,
        cursor: int | None = None,
    ) -> Response:  # fmt: skip
        """The incident, its response runs and one page of its timeline (oldest first; ``cursor`` from the last page)."""
        access.check(request, Scope.read)
        incident = await stages.store.get_incident(incident_id, fingerprint_limit=FINGERPRINTS_SHOWN)
        page = await stages.store.timeline_page(incident_id, limit, after=cursor)
        detail = IncidentDetail(
            incident=incident,
            timeline=page.entries,
            timeline_total=page.total,
            next_cursor=page.next_cursor,
            flow_runs=await stages.store.outbox_for(incident_id),
        )
        return json_response(detail.model_dump(mode="json"))

    @app.post("/incidents/{incident_id}/ack", response_model=Incident)
    async def acknowledge(incident_id: int, body: Actor, request: Request) -> Incident:
        access.check(request, Scope.respond)
        return await stages.commands.acknowledge(incident_id, body.actor)

    @app.post("/incidents/{incident_id}/resolve", response_model=Incident)
    async def resolve(incident_id: int, body: Actor, request: Request) -> Incident:
        access.check(request, Scope.respond)
        return await stages.commands.resolve(incident_id, body.actor)

    app.include_router(webhooks_router(app.intake))
    app.include_router(responses_router(stages, access.check))
    app.include_router(slack_router(stages))
    app.include_router(acklinks_router(stages))
    app.include_router(silences_router(stages, access.check))
    app.include_router(inbox_router(stages, access.check))
    app.include_router(alertmanager_router(stages, access))
    app.include_router(alertmanager_silences_router(stages, access))
    app.include_router(reports_router(stages, access.check))
    app.include_router(oncall_router(stages, access.check))
    app.include_router(calendar_router(stages, access))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        """Readiness: the store answers. Prefect being down does not stop intake."""
        try:
            counts = await stages.store.counts()
        except StoreError as err:
            return error_response(503, str(err))
        pipeline = "leader" if stages.leadership.is_leader else "standby"
        return json_response({"status": "ready", "pipeline": pipeline, "prefect_reachable": stages.dispatcher.prefect_reachable, **counts})

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        counts = await stages.store.counts()
        return Response(metrics.render(counts), media_type=CONTENT_TYPE)

    return app
