"""``/oncall/*``: who is on call, the coming shifts, and the overrides people add and remove, on the record.

Why here: schedules live in the config, overrides in the database (any
replica writes them; they are not the rule engine's state), and every answer
comes from ``current_schedules`` (alertflow/store/overrides.py), the one
function paging uses too. ``alertflow oncall`` reads these routes, as the
other commands read theirs. Times given without an offset are in the
schedule's zone, as in the config; answers carry the zone's offset.

Bad input changes nothing and is a 4xx naming the field: 422 for an unknown
schedule or person, an override that ends before it starts or in the past,
an unreadable time; 404 for no such override, 409 when it was removed already.
Adding and removing need the ``operate`` scope, reading ``read``; the record
keeps the credential's name next to the person the caller named.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from alertflow.api.access import ScopeCheck
from alertflow.api.http import json_response
from alertflow.config.api import Scope
from alertflow.config.oncall import Schedule, on_call, shifts
from alertflow.errors import InputError
from alertflow.pipeline.stages import Stages
from alertflow.store.overrides import OverrideStore, current_schedules

UNTIL_HORIZON = timedelta(days=60)  # "until" further than this is shown as null


class NewOverride(BaseModel):
    schedule: str = Field(min_length=1, max_length=200)
    person: str = Field(min_length=1, max_length=200)
    start: datetime = Field(description="ISO time; in the schedule's zone unless it carries an offset")
    end: datetime
    reason: str = Field("", max_length=2000)
    actor: str = Field("api", min_length=1, max_length=256, description="who adds it (the CLI sends --by)")


def iso(schedule: Schedule, at: datetime) -> str:
    return at.astimezone(schedule.zone).isoformat()


def oncall_router(stages: Stages, require_scope: ScopeCheck) -> APIRouter:
    router = APIRouter(tags=["on-call"])
    settings, overrides = stages.settings, OverrideStore(stages.store)

    def selected(schedule: str | None) -> dict[str, Schedule]:
        if schedule is not None and schedule not in settings.schedules:
            have = ", ".join(settings.schedules) or "none"
            raise InputError(f"no schedule {schedule!r} (have: {have})", field="schedule")
        return {schedule: settings.schedules[schedule]} if schedule else dict(settings.schedules)

    def instants(chosen: dict[str, Schedule], at: str | None) -> dict[str, datetime]:
        """``at`` (default now) as an instant per schedule: a time without an offset is in each schedule's zone."""
        try:
            given = datetime.fromisoformat(at) if at is not None else datetime.now(timezone.utc)
        except ValueError:
            raise InputError(f"not an ISO time: {at!r}", field="at") from None
        return {name: schedule.aware(given) for name, schedule in chosen.items()}

    async def current(since: dict[str, datetime]) -> dict[str, Schedule]:
        return await current_schedules(stages.store, settings, min(since.values(), default=datetime.now(timezone.utc)))

    @router.get("/oncall/who")
    async def who(request: Request, schedule: str | None = None, at: str | None = None) -> Response:
        """Per schedule: who is on call at ``at`` (default now), from which layer or override, and until when."""
        require_scope(request, Scope.read)
        when = instants(selected(schedule), at)
        found, schedules = [], await current(when)
        for name, instant in when.items():
            sched = schedules[name]
            person, source = on_call(sched, instant)
            coming = shifts(sched, instant, instant + UNTIL_HORIZON)
            end = coming[0].end if coming and coming[0].end < instant + UNTIL_HORIZON else None
            found.append({"schedule": name, "time_zone": sched.time_zone, "at": iso(sched, instant), "person": person, "source": source,
                          "until": iso(sched, end) if end else None})  # fmt: skip
        return json_response(found)

    @router.get("/oncall/shifts")
    async def coming_shifts(
        request: Request, schedule: str | None = None, at: str | None = None, days: Annotated[int, Query(ge=1, le=90)] = 7
    ) -> Response:
        """The shifts from ``at`` (default now) for ``days``: start, end, person, and which layer or override."""
        require_scope(request, Scope.read)
        when = instants(selected(schedule), at)
        schedules = await current(when)
        return json_response([
            {"schedule": name, "time_zone": schedules[name].time_zone, "start": iso(schedules[name], s.start),
             "end": iso(schedules[name], s.end), "person": s.person, "source": s.source}
            for name, start in when.items() for s in shifts(schedules[name], start, start + timedelta(days=days))
        ])  # fmt: skip

    @router.post("/oncall/overrides", status_code=201)
    async def add_override(body: NewOverride, request: Request) -> Response:
        """Put ``person`` on call for ``schedule`` from ``start`` to ``end``; it wins over the layers and older overrides."""
        via = require_scope(request, Scope.operate)
        sched = selected(body.schedule)[body.schedule]
        if body.person not in settings.people:
            raise InputError(f"no person {body.person!r} under people: ({', '.join(settings.people) or 'none'})", field="person")
        start, end, now = sched.aware(body.start), sched.aware(body.end), datetime.now(timezone.utc)
        if end <= start:
            raise InputError(f"the override ends ({iso(sched, end)}) before it starts ({iso(sched, start)})", field="end")
        if end <= now:
            raise InputError(f"the override ends in the past ({iso(sched, end)}): it would change nothing", field="end")
        stored = await overrides.add(body.schedule, body.person, start, end, body.reason, body.actor, via, now)
        return json_response(stored.model_dump(mode="json"), 201)

    @router.get("/oncall/overrides")
    async def list_overrides(request: Request, schedule: str | None = None) -> Response:
        """Stored overrides not removed and not yet ended, oldest first (the audit has the rest)."""
        require_scope(request, Scope.read)
        selected(schedule)
        found = await overrides.live(datetime.now(timezone.utc), schedule)
        return json_response([o.model_dump(mode="json") for o in found])

    @router.delete("/oncall/overrides/{override_id}")
    async def remove_override(
        override_id: int, request: Request, actor: Annotated[str, Query(min_length=1, max_length=256)] = "api"
    ) -> Response:
        """Remove an override now: paging stops using it; the row stays on the record with who removed it."""
        via = require_scope(request, Scope.operate)
        removed = await overrides.remove(override_id, actor, via, datetime.now(timezone.utc))
        return json_response(removed.model_dump(mode="json"))

    @router.get("/oncall/audit")
    async def audit(request: Request, schedule: str | None = None) -> Response:
        """Every override added or removed, oldest first: when, what, by whom and with which credential (also of
        schedules since taken out of the config)."""
        require_scope(request, Scope.read)
        return json_response([entry.model_dump(mode="json") for entry in await overrides.audit(schedule)])

    return router
