"""The inbox as recorded alerts: the input of ``alertflow replay`` for backtesting rules.

Streams one JSON alert per line (raw payload included), oldest first, so a
replay sees the alerts as the engine saw them, on their recorded clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from alertflow.api.access import ScopeCheck
from alertflow.config.api import Scope
from alertflow.pipeline.stages import Stages


def inbox_router(stages: Stages, require_scope: ScopeCheck) -> APIRouter:
    router = APIRouter(tags=["inbox"])

    @router.get("/inbox/export")
    async def export(
        request: Request,
        since: Annotated[AwareDatetime | None, Query(description="received at or after")] = None,
        until: Annotated[AwareDatetime | None, Query(description="received before")] = None,
    ) -> StreamingResponse:
        """Recorded alerts as JSON lines (application/x-ndjson)."""
        require_scope(request, Scope.read)

        async def lines() -> AsyncIterator[bytes]:
            async for alert in stages.store.inbox_alerts(since, until):
                yield orjson.dumps(alert.model_dump(mode="json")) + b"\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    return router
