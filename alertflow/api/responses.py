"""API routes that start response flows by hand: for one incident, or failback by service.

``alertflow run FLOW --incident ID`` and ``alertflow failback SERVICE`` post here. A failback belongs to the service's
most recent incident (its timeline tells the whole story, failover and back),
and is queued through the pipeline and the outbox like every other flow run,
with the switch and target of that incident's rule's failover action.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from alertflow.api.access import ScopeCheck
from alertflow.api.http import RunRequest
from alertflow.config.api import Scope
from alertflow.models import FlowName
from alertflow.pipeline.stages import Stages


def responses_router(stages: Stages, require_scope: ScopeCheck) -> APIRouter:
    router = APIRouter()

    @router.post("/incidents/{incident_id}/run/{flow}", status_code=202)
    async def run_flow(incident_id: int, flow: FlowName, body: RunRequest, request: Request) -> dict[str, int]:
        """Queue a response flow by hand; it is dispatched to Prefect like any other."""
        require_scope(request, Scope.operate)
        return {"outbox_id": await stages.commands.request_run(incident_id, flow, body.actor, dry_run=body.dry_run)}

    @router.post("/services/{name}/failback", status_code=202)
    async def fail_back(name: str, body: RunRequest, request: Request) -> dict[str, int]:
        """Queue a failback for the service now (no hysteresis wait), or a dry run of it."""
        require_scope(request, Scope.operate)
        incident = await stages.store.latest_incident(name)
        outbox_id = await stages.commands.request_run(incident.id, FlowName.failback, body.actor, dry_run=body.dry_run)
        return {"outbox_id": outbox_id, "incident_id": incident.id}

    return router
