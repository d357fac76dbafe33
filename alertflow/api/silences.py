"""Silences and suppressed alerts over HTTP: what is held back, by whom, until when.

Silences are people's: created with matchers, an end and a reason, ended by
hand or by time. Changes go through the pipeline (it owns the rule engine), so
an alert that a silence held back is evaluated again as soon as it ends.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from alertflow.api.access import ScopeCheck
from alertflow.config.api import Scope
from alertflow.errors import InputError
from alertflow.models import Silence
from alertflow.pipeline.stages import Stages


class NewSilence(BaseModel):
    matchers: list[str] = Field(min_length=1, description='Alertmanager matchers, e.g. service="db"')
    starts_at: AwareDatetime | None = Field(None, description="default: now")
    ends_at: AwareDatetime | None = None
    duration_seconds: float | None = Field(None, gt=0, description="instead of ends_at")
    author: str = Field(min_length=1, max_length=256)
    comment: str = Field("", max_length=2000)

    @model_validator(mode="after")
    def _one_end(self) -> NewSilence:
        if (self.ends_at is None) == (self.duration_seconds is None):
            raise ValueError("give exactly one of ends_at and duration_seconds")
        return self


def silences_router(stages: Stages, require_scope: ScopeCheck) -> APIRouter:
    router = APIRouter(tags=["silences"])

    @router.post("/silences", status_code=201, response_model=Silence)
    async def add_silence(body: NewSilence, request: Request) -> Silence:
        require_scope(request, Scope.operate)
        starts = body.starts_at or datetime.now(timezone.utc)
        ends = body.ends_at or starts + timedelta(seconds=body.duration_seconds or 0)
        if ends <= starts:
            raise InputError("ends_at must be after starts_at", field="ends_at")
        return await stages.commands.add_silence(body.matchers, starts, ends, body.author, body.comment)

    @router.get("/silences", response_model=list[Silence])
    async def list_silences(
        request: Request, active: Annotated[bool, Query(description="only silences not yet ended")] = True
    ) -> list[Silence]:
        require_scope(request, Scope.read)
        return await stages.store.silences(active_at=datetime.now(timezone.utc) if active else None)

    @router.delete("/silences/{silence_id}", status_code=204)
    async def expire_silence(silence_id: int, request: Request) -> Response:
        require_scope(request, Scope.operate)
        await stages.commands.expire_silence(silence_id)
        return Response(status_code=204)

    @router.get("/suppressed")
    async def suppressed(request: Request) -> list[dict[str, Any]]:
        """Alerts held back now (silenced, in a maintenance window, inhibited), and why."""
        require_scope(request, Scope.read)
        rows = await stages.store.engine_state(kind="suppressed")
        return [{"fingerprint": key, "kind": state["kind"], "reason": state["reason"], "alert": state["alert"]} for _, key, state in rows]

    return router
