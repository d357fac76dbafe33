"""Slack's button clicks: ``POST /slack/interactions``, the Slack app's interactivity request URL.

The page message's buttons (integrations/notifiers/slack.py) come back here as Slack
delivers them: form-encoded ``payload=`` with a ``block_actions`` JSON. Anyone
who can reach the URL could post such a form, so nothing is read before the
request is proven to be Slack's: ``X-Slack-Signature`` must equal
``v0=`` + hex HMAC-SHA256 of ``v0:{X-Slack-Request-Timestamp}:{raw body}`` with
the app's signing secret (checked by slack-sdk's ``SignatureVerifier``, in
constant time), and the timestamp must be within five minutes of now, so a
captured request cannot be replayed later.

A click means the same as the CLI or the API: ack and resolve go through the
pipeline with the clicking person as actor (their name from ``people:`` when
their Slack id is known, else ``slack:<username>``); "Escalate now" is a
timeline entry the paging flow acts on. Updating the Slack message is the
paging flow's job, for every kind of ack alike, so this answers within
Slack's three seconds after one database transaction. Slack shows nothing of
that answer to the person who clicked, so a line for them (done, or why not:
no such incident, already resolved) goes to the click's ``response_url``
afterwards, best effort.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import datetime, timezone
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from slack_sdk.signature import Clock, SignatureVerifier

from alertflow.api.http import json_response, read_body
from alertflow.config.people import person_for_slack_user
from alertflow.config.secrets import resolve_secrets
from alertflow.config.settings import SlackSettings
from alertflow.errors import Conflict, IntegrationError, MalformedBody, NotFound, Unauthorized
from alertflow.integrations.notifiers.message import ACK, ESCALATE, RESOLVE
from alertflow.integrations.notifiers.slack import SlackNotifier
from alertflow.models import Incident, IncidentStatus, TimelineEntry, TimelineKind
from alertflow.pipeline.stages import Stages

MAX_AGE_SECONDS = 300
UNIX_SECONDS = re.compile(r"[0-9]{1,12}")  # ASCII only: str.isdigit() also takes "²", which int() refuses
INCIDENT_ID = re.compile(r"[1-9][0-9]{0,8}")  # fits the 32-bit id column
log = logging.getLogger("alertflow.api.slack")
_responding: set[asyncio.Task[None]] = set()


class _SlackModel(BaseModel):
    model_config = ConfigDict(extra="ignore")  # Slack sends much more than we read


class SlackUser(_SlackModel):
    id: str = Field(min_length=1)
    username: str | None = None
    name: str | None = None


class SlackAction(_SlackModel):
    action_id: str
    value: str


class BlockActions(_SlackModel):
    type: str
    user: SlackUser
    actions: list[SlackAction] = Field(min_length=1)
    response_url: str | None = None  # where to answer the person who clicked


class InteractionResult(BaseModel):
    action: str
    incident_id: int
    actor: str
    status: IncidentStatus


def verify_signature(secret: SecretStr, body: bytes, timestamp: str | None, signature: str | None, now: float) -> None:
    """Raise ``Unauthorized`` unless Slack signed exactly this body within the last five minutes."""
    if not timestamp or not signature:
        missing = "x-slack-request-timestamp" if not timestamp else "x-slack-signature"
        raise Unauthorized(f"missing {missing} header: only Slack's signed requests are accepted", field=missing)
    if not UNIX_SECONDS.fullmatch(timestamp):
        raise Unauthorized("x-slack-request-timestamp must be Unix seconds", field="x-slack-request-timestamp")
    if abs(now - int(timestamp)) > MAX_AGE_SECONDS:
        raise Unauthorized("x-slack-request-timestamp is more than 5 minutes from now (replayed?)", field="x-slack-request-timestamp")
    if not _slack_signed(secret, body, timestamp, signature, now):
        raise Unauthorized("x-slack-signature does not match the body (is slack.signing_secret the app's?)", field="x-slack-signature")


class _At(Clock):
    """slack-sdk's clock, stopped at the request's arrival (so the window check and ours agree)."""

    def __init__(self, now: float) -> None:
        self.at = now

    def now(self) -> float:
        return self.at


def _slack_signed(secret: SecretStr, body: bytes, timestamp: str, signature: str, now: float) -> bool:
    """slack-sdk's ``SignatureVerifier`` (Slack's v0 scheme, constant-time), after it would trip on input.

    It decodes the body as UTF-8 and compares ``str``s, which refuses non-ASCII: neither is a
    request Slack signed, so both are a mismatch (401), not an exception (500).
    """
    if not signature.isascii() or not secret.get_secret_value().strip():
        return False
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return SignatureVerifier(secret.get_secret_value(), clock=_At(now)).is_valid(body, timestamp, signature)


def parse_click(body: bytes) -> BlockActions:
    """The ``payload=`` form field as a button click, or ``MalformedBody`` naming the field."""
    try:
        values = parse_qs(body.decode(), strict_parsing=True).get("payload")
    except (UnicodeDecodeError, ValueError):
        values = None
    if not values:
        raise MalformedBody("expected a form body with a payload= field, as Slack sends", field="payload")
    try:
        payload = orjson.loads(values[0])
    except orjson.JSONDecodeError as err:
        raise MalformedBody(f"payload is not JSON: {err}", field="payload") from None
    try:
        click = BlockActions.model_validate(payload)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        field = ".".join(["payload", *(str(part) for part in first["loc"])])
        raise MalformedBody(f"{field}: {first['msg']}", field=field) from None
    if click.type != "block_actions":
        raise MalformedBody(f"payload.type {click.type!r} is not handled; only block_actions (button clicks)", field="payload.type")
    return click


def slack_router(stages: Stages) -> APIRouter:
    router = APIRouter(tags=["slack"])
    settings = stages.settings

    @router.post("/slack/interactions", response_model=InteractionResult, responses={400: {}, 401: {}, 404: {}, 409: {}})
    async def interactions(request: Request) -> Response:
        """A button click on a page message: acknowledge, resolve or escalate now."""
        secret = await resolve_secrets(settings.slack.signing_secret)  # prefect-secret:NAME is read per click
        if secret is None or not secret.get_secret_value().strip():  # a blank secret would sign for anyone
            raise Unauthorized("slack.signing_secret is not configured, so no click can be verified", field="x-slack-signature")
        body = await read_body(request, settings.max_body_bytes)
        headers = request.headers
        verify_signature(secret, body, headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature"), time.time())
        click = parse_click(body)
        action = click.actions[0]
        if not INCIDENT_ID.fullmatch(action.value):
            raise MalformedBody("payload.actions.0.value must be an incident id", field="payload.actions.0.value")
        incident_id = int(action.value)
        user = click.user
        actor = person_for_slack_user(settings.people, user.id) or f"slack:{user.username or user.name or user.id}"
        kind = action.action_id.split(":", 1)[0]  # a digest's buttons carry their incident: alertflow_ack:12
        if kind not in (ACK, RESOLVE, ESCALATE):
            field = "payload.actions.0.action_id"
            raise MalformedBody(f"{field} {action.action_id!r} is not one of {ACK}, {RESOLVE}, {ESCALATE}", field=field)
        try:
            incident, said = await perform(stages, kind, incident_id, actor, user.id)
        except (NotFound, Conflict) as err:
            tell_clicker(settings.slack, click.response_url, str(err))
            raise
        tell_clicker(settings.slack, click.response_url, said)
        result = InteractionResult(action=kind, incident_id=incident_id, actor=actor, status=incident.status)
        return json_response(result.model_dump(mode="json"))

    return router


async def perform(stages: Stages, action_id: str, incident_id: int, actor: str, slack_user_id: str) -> tuple[Incident, str]:
    """Do what the button says; the incident afterwards and a line for the person who clicked."""
    if action_id == ACK:
        incident = await stages.commands.acknowledge(incident_id, actor)
        return incident, f"Incident #{incident_id} is acknowledged (by {incident.acknowledged_by})."
    if action_id == RESOLVE:
        incident = await stages.commands.resolve(incident_id, actor)
        return incident, f"Incident #{incident_id} is resolved (by {incident.resolved_by})."
    incident = await request_escalation(stages, incident_id, actor, slack_user_id)
    return incident, f"Escalation of incident #{incident_id} requested: the next escalation step is paged now."


def tell_clicker(slack: SlackSettings, response_url: str | None, text: str) -> None:
    """Answer only the person who clicked, after the HTTP answer (Slack shows none for button clicks).
    Best effort: a failure is logged, the click's effect stands."""
    if not response_url:
        return

    async def respond() -> None:
        try:
            await SlackNotifier(slack).respond(response_url, text)
        except IntegrationError as err:
            log.warning("could not answer the Slack click: %s", err)

    task = asyncio.create_task(respond(), name="slack-response")
    _responding.add(task)  # a reference until done, so the task is not collected mid-flight
    task.add_done_callback(_responding.discard)


async def request_escalation(stages: Stages, incident_id: int, actor: str, slack_user_id: str) -> Incident:
    """Record that someone wants the next escalation step now; the paging flow watches for it."""
    incident = await stages.store.get_incident(incident_id)
    if incident.status is IncidentStatus.resolved:
        raise Conflict(f"incident {incident_id} is already resolved; nothing to escalate")
    if incident.acknowledged_at is not None:  # escalation stops at an ack; a request now would page nobody
        raise Conflict(f"incident {incident_id} was acknowledged by {incident.acknowledged_by}; escalation has stopped")
    entry = TimelineEntry(
        incident_id=incident_id,
        at=datetime.now(timezone.utc),
        kind=TimelineKind.escalate_requested,
        summary=f"escalation requested by {actor}",
        data={"via": "slack", "slack_user_id": slack_user_id},
        actor=actor,
    )
    await stages.store.add_timeline(entry)
    return incident
