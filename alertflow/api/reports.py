"""``GET /reports?since=30d&service=S``: MTTA/MTTR, pages and the noisiest alerts over a window.

What ``alertflow report`` shows, and scripts read. The computation lives in
alertflow/store/reports.py, shared with the weekly ``alertflow-report`` flow;
this router reads the window and refuses one it cannot read with a 422 naming
``since``, before reading anything.
"""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, Request, Response

from alertflow.api.access import ScopeCheck
from alertflow.api.http import json_response
from alertflow.config.api import Scope
from alertflow.errors import InputError
from alertflow.pipeline.stages import Stages
from alertflow.store.report_fields import AfterHours, Report, report_window
from alertflow.store.reports import build_report


def reports_router(stages: Stages, require_scope: ScopeCheck) -> APIRouter:
    router = APIRouter(tags=["reports"])

    @router.get("/reports", response_model=Report)
    async def report(request: Request, since: str = "30d", service: str | None = None) -> Response:
        """Incidents opened and pages sent in the last ``since`` (12h, 7d, 30d, ...), per service and rule (docs/reports.md)."""
        require_scope(request, Scope.read)
        try:
            window = report_window(since)
        except ValueError as err:
            raise InputError(str(err), field="since") from None
        until = datetime.now(timezone.utc)
        settings = stages.settings
        found = await build_report(stages.store, until - window, until, service, AfterHours.of(settings), settings.reports.noisy_alerts)
        return json_response(found.model_dump(mode="json"))

    return router
