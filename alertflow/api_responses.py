"""API routes for the automated responses that are not about one incident: failback by service.

``alertflow failback SERVICE`` posts here. A failback belongs to the service's
most recent incident (its timeline tells the whole story, failover and back),
and is queued through the pipeline and the outbox like every other flow run,
with the switch and target of that incident's rule's failover action.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from alertflow.api import RunRequest, require_token
from alertflow.models import FlowName
from alertflow.service import Service


def responses_router(service: Service) -> APIRouter:
    router = APIRouter()

    @router.post("/services/{name}/failback", status_code=202)
    async def fail_back(name: str, body: RunRequest, request: Request) -> dict[str, int]:
        """Queue a failback for the service now (no hysteresis wait), or a dry run of it."""
        require_token(request, service.settings.api_token)
        incident = await service.store.latest_incident(name)
        outbox_id = await service.pipeline.request_run(incident.id, FlowName.failback, body.actor, dry_run=body.dry_run)
        return {"outbox_id": outbox_id, "incident_id": incident.id}

    return router
