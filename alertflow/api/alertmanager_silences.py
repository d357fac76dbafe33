"""Alertmanager API v2 silences over alertflow's own: what ``amtool silence add|query|expire|update`` calls.

Why a second face on the same silences: people manage silences with the tools
they have. These are alertflow's silences (the ones ``alertflow silence`` and
``/silences`` show), in Alertmanager's shapes (alertflow/api/alertmanager_shapes.py):
ids are alertflow's numbers written as strings. Adding and expiring go through
the pipeline leader like every person's command (``stages.commands``), so a
silence holds back the next matching alert on whichever replica it arrives,
and an alert it held is evaluated again as soon as it ends. As in
Alertmanager, a start in the past starts now, an end in the past is refused,
a POST with an ``id`` replaces that silence (ends it, adds the new one: a new
id), and expired silences are listed for 5 days (Alertmanager's retention).
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta, timezone

from fastapi import APIRouter, Request, Response

from alertflow.api.access import ApiAccess
from alertflow.api.alertmanager_shapes import (
    PostableSilence,
    gettable_silence,
    matcher_text,
    parse_filter,
    silence_in_filter,
    silence_order,
)
from alertflow.api.alertmanager_v2 import Filters
from alertflow.api.http import check_content_type, error_response, json_response, parse_json, read_body
from alertflow.config.api import Scope
from alertflow.errors import InputError, NotFound
from alertflow.integrations.sources.payloads import validate
from alertflow.models import Silence
from alertflow.pipeline.stages import Stages

EXPIRED_SHOWN = timedelta(days=5)


def alertmanager_silences_router(stages: Stages, access: ApiAccess) -> APIRouter:
    router = APIRouter(prefix="/api/v2", tags=["alertmanager"])

    async def find(silence_id: str) -> Silence:
        number = _number(silence_id)
        found = next((s for s in await stages.store.silences() if s.id == number), None)
        if found is None:
            raise NotFound(f"silence {silence_id!r} does not exist (alertflow's silence ids are numbers)")
        return found

    @router.get("/silences")
    async def get_silences(request: Request, filters: Filters = None) -> Response:
        """alertflow's silences (gettableSilences): active, pending, then those expired in the last 5 days."""
        access.check(request, Scope.read, basic=True)
        matchers = parse_filter(filters or [])
        now = datetime.now(timezone.utc)
        silences = [s for s in await stages.store.silences(active_at=now - EXPIRED_SHOWN) if silence_in_filter(s, matchers)]
        silences.sort(key=lambda s: silence_order(s, now))
        return json_response([gettable_silence(s, now) for s in silences])

    @router.post("/silences", responses={code: {} for code in (400, 401, 403, 404, 413, 415, 422)})
    async def post_silence(request: Request) -> Response:
        """Add a silence (postableSilence), or replace the one named by ``id``; answers its ``silenceID``."""
        access.check(request, Scope.operate, basic=True)
        check_content_type(request.headers.get("content-type"))
        body = validate(PostableSilence, parse_json(await read_body(request, stages.settings.max_body_bytes)))
        matchers = [matcher_text(index, matcher) for index, matcher in enumerate(body.matchers)]
        now = datetime.now(timezone.utc)
        if body.endsAt < now:
            raise InputError("endsAt: end time can't be in the past", field="endsAt")
        starts = max(body.startsAt, now)
        if body.endsAt <= starts:
            raise InputError("endsAt: start time must be before end time", field="endsAt")
        replaced = None
        if body.id is not None:
            try:
                replaced = await find(body.id)
            except NotFound as err:
                return error_response(404, str(err), "id")
        silence = await stages.commands.add_silence(matchers, starts, body.endsAt, body.createdBy, body.comment)
        if replaced is not None and replaced.ends_at > now:  # after the new one holds: no alert slips out between the two
            with suppress(NotFound):  # ended meanwhile
                await stages.commands.expire_silence(replaced.id)
        return json_response({"silenceID": str(silence.id)})

    @router.get("/silence/{silence_id}")
    async def get_silence(silence_id: str, request: Request) -> Response:
        """One silence (gettableSilence), whatever its state."""
        access.check(request, Scope.read, basic=True)
        try:
            silence = await find(silence_id)
        except NotFound as err:
            return error_response(404, str(err), "silenceID")
        return json_response(gettable_silence(silence, datetime.now(timezone.utc)))

    @router.delete("/silence/{silence_id}")
    async def delete_silence(silence_id: str, request: Request) -> Response:
        """Expire a silence now (it stays listed as expired); 404 when it does not exist or has already ended."""
        access.check(request, Scope.operate, basic=True)
        try:
            number = _number(silence_id)
            if number is None:
                raise NotFound(f"silence {silence_id!r} does not exist (alertflow's silence ids are numbers)")
            await stages.commands.expire_silence(number)
        except NotFound as err:
            return error_response(404, str(err), "silenceID")
        return Response(status_code=200)

    return router


def _number(silence_id: str) -> int | None:
    """alertflow's id in Alertmanager's string, or None when it cannot be one (a UUID, or beyond a BIGINT)."""
    return int(silence_id) if silence_id.isascii() and silence_id.isdigit() and len(silence_id) <= 18 else None
