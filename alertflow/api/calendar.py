"""``GET /oncall/{schedule}.ics``: a schedule's shifts as an iCalendar feed, so people see their on-call in their calendar.

Why: a terminal table is read once; a calendar subscription is in front of
people all week. The feed is the same answer paging uses
(``current_schedules``: layers, the config's overrides and the stored ones),
one VEVENT per shift with the person in SUMMARY (and as ATTENDEE when they
have an email); a shift split by an override shows as its pieces. Times are
UTC (``...Z``), which every calendar app converts to its own zone; the
schedule's zone is named in ``X-WR-TIMEZONE``.

A calendar app refreshes a subscription by its URL and matches events by UID,
so a UID is the schedule and the shift's start: a refresh after an override
changes the piece in place (same start) and adds the new pieces, rather than
duplicating the week. The window (``past_days`` back from today's UTC
midnight, ``future_days`` ahead; bounded) starts at a day boundary, and the
shift already under way then keeps its real start, so its UID is stable too.

Auth: calendar apps send no Authorization header, so the feed also takes a
signed link, ``?sig=``, an HMAC over the schedule's name with
``calendar_links.secret`` (alertflow/auth.py, the one way to sign). It does
not expire: a subscription lasts, and changing the secret revokes every link.
Without ``sig`` the feed needs a token with the ``read`` scope, like every
read. ``GET /oncall/calendar-url?schedule=S`` (``read``) hands out the link.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Query, Request, Response
from icalendar import Calendar, Event, vCalAddress

from alertflow.api.access import ApiAccess
from alertflow.api.http import json_response
from alertflow.auth import calendar_link_signature, check_calendar_link
from alertflow.config.api import Scope
from alertflow.config.oncall import Shift, shifts
from alertflow.config.people import Person
from alertflow.errors import InputError, NotFound
from alertflow.pipeline.stages import Stages
from alertflow.store.overrides import current_schedules

LOOKBACK = timedelta(days=35)  # how far before the window a shift under way may have started (and keep its real start)
NOT_ENABLED = "calendar links are not enabled here: set calendar_links.secret in the config (docs/oncall.md)"


def calendar_router(stages: Stages, access: ApiAccess) -> APIRouter:
    router = APIRouter(tags=["on-call"])
    settings = stages.settings
    base_url = ((settings.calendar_links and settings.calendar_links.base_url) or settings.resolved_api_url).rstrip("/")

    @router.get("/oncall/calendar-url")
    async def calendar_url(request: Request, schedule: str) -> Response:
        """The link a calendar app subscribes to: signed with ``calendar_links.secret``, or plain on an open API."""
        access.check(request, Scope.read)
        if schedule not in settings.schedules:
            raise InputError(f"no schedule {schedule!r} (have: {', '.join(settings.schedules) or 'none'})", field="schedule")
        url = f"{base_url}/oncall/{quote(schedule, safe='')}.ics"
        if settings.calendar_links is not None:
            url += f"?sig={calendar_link_signature(settings.calendar_links.secret, schedule)}"
        elif not access.open:
            raise NotFound(NOT_ENABLED)
        return json_response({"schedule": schedule, "url": url, "signed": settings.calendar_links is not None})

    @router.get("/oncall/{schedule}.ics", response_class=Response, responses={200: {"content": {"text/calendar": {}}}})
    async def feed(
        schedule: str,
        request: Request,
        past_days: Annotated[int, Query(ge=0, le=31, description="days before today (UTC) the feed starts")] = 14,
        future_days: Annotated[int, Query(ge=1, le=90, description="days after today (UTC) it ends")] = 56,
        sig: str | None = None,
    ) -> Response:
        """The schedule's shifts as iCalendar: one event per shift, overrides applied, UTC times, stable UIDs."""
        if sig is None:
            access.check(request, Scope.read)
        elif settings.calendar_links is None:
            raise NotFound(NOT_ENABLED)
        else:
            check_calendar_link(settings.calendar_links.secret, schedule, sig)
        if schedule not in settings.schedules:
            raise NotFound(f"no schedule {schedule!r}")
        now = datetime.now(timezone.utc)
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        start, end = today - timedelta(days=past_days), today + timedelta(days=future_days)
        sched = (await current_schedules(stages.store, settings, start - LOOKBACK))[schedule]
        shown = [s for s in shifts(sched, start - LOOKBACK, end) if s.end > start and s.person is not None]
        body = ics(schedule, sched.time_zone, shown, settings.people, urlsplit(base_url).hostname or "alertflow", now)
        headers = {"Content-Disposition": f'inline; filename="{quote(schedule, safe="")}.ics"', "Cache-Control": "no-cache"}
        return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)

    return router


def ics(schedule: str, time_zone: str, found: list[Shift], people: dict[str, Person], host: str, now: datetime) -> bytes:
    """The feed: a VCALENDAR with one VEVENT per shift (person in SUMMARY, ATTENDEE by email), UTC times."""
    calendar = Calendar()
    calendar.add("prodid", "-//alertflow//on-call calendar//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"On call: {schedule}")
    calendar.add("x-wr-timezone", time_zone)
    calendar.add("x-published-ttl", "PT1H")  # a hint to refresh hourly (Outlook, Apple Calendar)
    for shift in found:
        assert shift.person is not None
        event = Event()
        event.add("uid", f"{schedule}/{shift.start.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}@{host}")
        event.add("dtstamp", now)
        event.add("dtstart", shift.start.astimezone(timezone.utc))
        event.add("dtend", shift.end.astimezone(timezone.utc))
        event.add("summary", f"{shift.person} on call ({schedule})")
        event.add("description", f"{shift.person} is on call for {schedule} ({shift.source})")
        event.add("categories", ["on-call", schedule])
        event.add("transp", "TRANSPARENT")  # being on call does not make anyone busy
        person = people.get(shift.person)
        if person is not None and person.email:
            event.add("attendee", vCalAddress(f"mailto:{person.email}"), parameters={"cn": shift.person, "role": "REQ-PARTICIPANT"})
        calendar.add_component(event)
    return calendar.to_ical()
