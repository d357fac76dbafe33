"""Acknowledge links from emails: ``GET /ack/{id}`` shows a confirmation page, ``POST /ack/{id}`` acknowledges.

An email page (integrations/notifiers/email.py) carries a link signed with
``ack_links.secret`` over the incident, who it is for and its expiry
(alertflow/auth.py, the one way to sign). The link is its own credential, so
these routes need no API token, like Slack's signed clicks. Mail scanners
and link previews fetch links with GET, so a GET changes nothing: it checks
the link and shows the incident with one button, whose POST acknowledges
through the pipeline leader exactly like a Slack button (``commands``), which
stops the escalation. Refusals name the field: 403 for a link we did not sign
(``sig``, ``expires``), 410 once expired, 404 when links are off or the
incident is gone, 409 after a resolve; as a small page for a browser, as JSON
(``{"error", "field"}``) otherwise.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from alertflow.api.http import error_response, json_response
from alertflow.auth import check_ack_link
from alertflow.errors import InputError, NotFound
from alertflow.models import Incident
from alertflow.pipeline.stages import Stages

PAGE = """<!doctype html><html><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>{title}</title></head><body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>{title}</h1><p>{body}</p>{form}</body></html>"""


def page(status: int, title: str, body: str, form: str = "") -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=html.escape(title), body=html.escape(body), form=form), status_code=status)


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def acklinks_router(stages: Stages) -> APIRouter:
    router = APIRouter(tags=["ack links"])
    settings = stages.settings

    def checked(request: Request, incident_id: int) -> str:
        """The link's person once it is ours and unexpired; else the refusal, naming the field."""
        if settings.ack_links is None:
            raise NotFound("acknowledge links are not enabled here (ack_links: in the config)")
        query = request.query_params
        for field in ("by", "expires", "sig"):
            if not query.get(field):
                raise InputError(f"the link lacks its {field} parameter (copy the whole link from the email)", field=field)
        by = query["by"]
        check_ack_link(settings.ack_links.secret, incident_id, by, query["expires"], query["sig"], datetime.now(timezone.utc))
        return by

    def refused(request: Request, err: InputError | NotFound) -> Response:
        status = err.status_code if isinstance(err, InputError) else 404
        if wants_html(request):
            return page(status, "This link does not acknowledge", str(err))
        return error_response(status, str(err), getattr(err, "field", None))

    @router.get("/ack/{incident_id}", response_class=HTMLResponse, responses={403: {}, 404: {}, 410: {}, 422: {}})
    async def confirm(incident_id: int, request: Request) -> Response:
        """A page with the incident and an Acknowledge button; nothing changes (link scanners GET links)."""
        try:
            by = checked(request, incident_id)
            incident = await stages.store.get_incident(incident_id)
        except (InputError, NotFound) as err:
            return refused(request, err)
        title = f"Incident #{incident.id}: {incident.title}"
        if incident.acknowledged_by or incident.resolved_by:
            return page(200, title, said(incident))
        query = urlencode({k: request.query_params[k] for k in ("by", "expires", "sig")}, quote_via=quote)
        button = f'<button type="submit" style="font-size: 1.2em">Acknowledge as {html.escape(by)}</button>'
        form = f'<form method="post" action="/ack/{incident.id}?{html.escape(query)}">{button}</form>'
        body = f"{incident.severity.value} · {incident.service} · {incident.status.value}: acknowledging stops the escalation."
        return page(200, title, body, form)

    @router.post("/ack/{incident_id}", responses={403: {}, 404: {}, 409: {}, 410: {}, 422: {}})
    async def acknowledge(incident_id: int, request: Request) -> Response:
        """Acknowledge as the link's person, through the pipeline leader (like a Slack button)."""
        try:
            incident = await stages.commands.acknowledge(incident_id, checked(request, incident_id))
        except (InputError, NotFound) as err:
            return refused(request, err)
        if wants_html(request):
            return page(200, f"Incident #{incident.id}: {incident.title}", said(incident))
        return json_response({"incident_id": incident.id, "status": incident.status.value, "acknowledged_by": incident.acknowledged_by})

    return router


def said(incident: Incident) -> str:
    if incident.resolved_by:
        return f"Resolved by {incident.resolved_by}."
    return f"Acknowledged by {incident.acknowledged_by}: the escalation has stopped."
