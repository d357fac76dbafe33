"""Slack as a notifier, through slack-sdk's ``WebClient``.

``base_url`` comes from settings, so tests and air-gapped users point it at a
Slack-compatible server. Attempts are counted in one place: the paging flow's
retry policy (from the rules file) retries 5xx and timeouts, so slack-sdk's
connection and server-error handlers stay off. The one exception is a 429,
which Slack answers with Retry-After: slack-sdk's own rate-limit handler waits
it out a few times (a rate limit is not a failure of the attempt), bounded so
a Retry-After longer than we wait is raised, retryable, to the flow at once
(``RateLimitWait``). Errors retrying cannot fix
(``invalid_auth``, ``channel_not_found``, ``not_in_channel``...) are permanent, so
the caller falls through to the next escalation step instead of retrying.
The sync client runs in a worker thread because slack-sdk's async client needs
aiohttp, which we do not ship; so its rate-limit waits happen in that thread too.

The page message is Block Kit: title, severity, service, firing count, links,
and Acknowledge / Resolve / Escalate-now buttons (``alertflow_ack``,
``alertflow_resolve``, ``alertflow_escalate``, value = the incident id) that
``POST /slack/interactions`` (alertflow/api/slack.py) receives. Once someone
acknowledges or resolves, the message is updated in place and the buttons give
way to who did it and when. Alert text is plain in our models and escaped on
the way out, so an alert titled ``<!channel>`` cannot notify a whole channel.
"""

from __future__ import annotations

import asyncio
import re
import urllib.error
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import HttpRequest, HttpResponse, RateLimitErrorRetryHandler, RetryState

from alertflow.config.settings import SlackSettings
from alertflow.errors import PermanentIntegrationError, RetryableIntegrationError
from alertflow.integrations.http import request, retry_after_seconds, safe_url
from alertflow.integrations.notifiers import PageRef
from alertflow.models import Incident, Severity

# Slack errors that a retry can fix; every other ``ok: false`` is permanent.
RETRYABLE_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
SEVERITY_EMOJI = {
    Severity.critical: ":red_circle:",
    Severity.error: ":large_orange_circle:",
    Severity.warning: ":large_yellow_circle:",
    Severity.info: ":large_blue_circle:",
}
ACK, RESOLVE, ESCALATE = "alertflow_ack", "alertflow_resolve", "alertflow_escalate"
MAX_DETAIL = 2500  # a section's text holds 3000 characters
WHOLE_SECONDS = re.compile(r"[0-9]{1,9}")  # the Retry-After slack-sdk can read (it int()s the value)
BUTTONS = ((ACK, "Acknowledge", "primary"), (RESOLVE, "Resolve", None), (ESCALATE, "Escalate now", "danger"))


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: an alert title with ``<`` must not become a link or a mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_time(at: datetime) -> str:
    """A time each reader sees in their own time zone, with a UTC fallback for old clients."""
    fallback = at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


class PageMessage(BaseModel):
    incident_id: int
    key: str | None = None  # the incident key: PagerDuty's dedup key, a webhook's correlation key
    title: str
    severity: Severity
    service: str
    status: str
    link: str | None = None  # the Prefect flow run; shown first among the links
    links: dict[str, str] = {}  # label -> URL: generator URL, runbook, ...
    firing_count: int = 0
    step: str | None = None  # where escalation is, e.g. "step 2/3, repeat 1/2"
    reason: str | None = None  # an escalation: why automation handed over to a person
    detail: str | None = None
    acked_by: str | None = None
    acked_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None

    @classmethod
    def for_incident(cls, incident: Incident, **extra: Any) -> PageMessage:
        """The page for the incident as it stands: status, and who acknowledged or resolved it and when
        (what ``update`` shows after an ack from anywhere). ``extra`` sets links, firing_count, step..."""
        state = {
            "incident_id": incident.id,
            "key": incident.key,
            "title": incident.title,
            "severity": incident.severity,
            "service": incident.service,
            "status": incident.status.value,
            "acked_by": incident.acknowledged_by,
            "acked_at": incident.acknowledged_at,
            "resolved_by": incident.resolved_by,
            "resolved_at": incident.resolved_at,
        }
        return cls(**(state | extra))

    def text(self) -> str:
        """Plain text: Slack's notification and fallback (escaped when sent), PagerDuty's summary."""
        escalation = f" ESCALATION: {self.reason}" if self.reason else ""
        done = f" (resolved by {self.resolved_by})" if self.resolved_by else f" (acknowledged by {self.acked_by})" if self.acked_by else ""
        return f"[{self.severity.value.upper()}] Incident #{self.incident_id}: {self.title} ({self.service}){escalation}{done}"

    def blocks(self) -> list[dict[str, Any]]:
        heading = f"{SEVERITY_EMOJI[self.severity]} *Incident #{self.incident_id}: {escape(self.title)}*"
        fields = [f"*Severity*\n{self.severity.value}", f"*Service*\n{escape(self.service)}", f"*Status*\n{self.status}"]
        if self.firing_count:
            fields.append(f"*Firing alerts*\n{self.firing_count}")
        if self.step:
            fields.append(f"*Escalation*\n{escape(self.step)}")
        blocks: list[dict[str, Any]] = [section(heading), {"type": "section", "fields": [mrkdwn(f) for f in fields]}]
        if self.reason:
            text = f"*Escalation:* {escape(self.reason)}" + (f"\n```{escape(self.detail[:MAX_DETAIL])}```" if self.detail else "")
            blocks.append(section(text))
        links = ({"Prefect flow run": self.link} if self.link else {}) | self.links
        if links:
            text = " · ".join(f"<{escape(url)}|{escape(label)}>" for label, url in links.items())
            blocks.append({"type": "context", "elements": [mrkdwn(text)]})
        done = self._done()
        blocks.append({"type": "context", "elements": [mrkdwn(line) for line in done]} if done else self._buttons())
        return blocks

    def _done(self) -> list[str]:
        lines = []
        if self.acked_by:
            lines.append(
                f":white_check_mark: Acknowledged by {escape(self.acked_by)}"
                + (f" at {slack_time(self.acked_at)}" if self.acked_at else "")
            )
        if self.resolved_by:
            lines.append(
                f":large_green_circle: Resolved by {escape(self.resolved_by)}"
                + (f" at {slack_time(self.resolved_at)}" if self.resolved_at else "")
            )
        return lines

    def _buttons(self) -> dict[str, Any]:
        elements = []
        for action_id, label, style in BUTTONS:
            button = {
                "type": "button",
                "action_id": action_id,
                "text": {"type": "plain_text", "text": label},
                "value": str(self.incident_id),
            }
            elements.append(button | ({"style": style} if style else {}))
        return {"type": "actions", "block_id": f"alertflow_incident_{self.incident_id}", "elements": elements}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text)}


def mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


class MessageRef(PageRef):
    channel: str
    ts: str


class SlackNotifier:
    """Posts, updates and threads page messages; ``rate_limit_retries`` waits of at most ``max_retry_after`` s each."""

    def __init__(
        self, settings: SlackSettings, client: WebClient | None = None, rate_limit_retries: int = 2, max_retry_after: float = 30.0
    ) -> None:
        self.settings = settings
        self.rate_limit_retries = rate_limit_retries
        self.max_retry_after = max_retry_after
        token = settings.token.get_secret_value() if settings.token else None
        handlers = [RateLimitWait(max_retry_count=rate_limit_retries, max_wait=max_retry_after)]
        self.client = client or WebClient(
            token=token, base_url=settings.base_url, timeout=int(settings.timeout_seconds), retry_handlers=handlers
        )

    async def send(self, message: PageMessage, channel: str | None = None) -> MessageRef:
        target = channel or self.settings.channel
        response = await self._call("chat_postMessage", channel=target, text=escape(message.text()), blocks=message.blocks())
        return MessageRef(channel=response["channel"], ts=response["ts"])

    async def update(self, ref: MessageRef, message: PageMessage) -> None:
        await self._call("chat_update", channel=ref.channel, ts=ref.ts, text=escape(message.text()), blocks=message.blocks())

    async def reply(self, ref: MessageRef, text: str) -> MessageRef:
        """A reply in the page message's thread (major timeline events); ``text`` is plain, sent escaped."""
        response = await self._call("chat_postMessage", channel=ref.channel, thread_ts=ref.ts, text=escape(text))
        return MessageRef(channel=response["channel"], ts=response["ts"])

    async def respond(self, response_url: str, text: str) -> None:
        """Tell only the person who clicked (a click's ``response_url``), leaving the page message as it is.

        The URL comes from the click's payload, so it is used only when it is Slack's own
        (https://hooks.slack.com) or on the Slack-compatible server ``base_url`` points at.
        Its path is a credential (anyone holding it may post for the app), so errors name the host only.
        """
        url, base = urlsplit(response_url), urlsplit(self.settings.base_url)
        where = f"slack response_url on {url.hostname}"
        if not ((url.scheme, url.hostname) == ("https", "hooks.slack.com") or (url.scheme, url.netloc) == (base.scheme, base.netloc)):
            raise PermanentIntegrationError(f"{where} ({url.scheme}) is not Slack's; not answered")
        body = {"response_type": "ephemeral", "replace_original": False, "text": text}
        async with httpx.AsyncClient(timeout=self.settings.timeout_seconds) as client:
            try:
                await request(client, "POST", response_url, json=body)
            except (RetryableIntegrationError, PermanentIntegrationError) as err:
                raise type(err)(str(err).replace(f"POST {safe_url(response_url)}", where)) from None

    async def _call(self, method: str, **kwargs: Any) -> Any:
        if self.settings.token is None:
            raise PermanentIntegrationError("slack: no token configured (slack.token or ALERTFLOW_SLACK__TOKEN)")
        try:
            return await asyncio.to_thread(getattr(self.client, method), **kwargs)
        except SlackApiError as err:
            raise classify(method, err) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            reason = getattr(err, "reason", err)
            raise RetryableIntegrationError(f"slack {slack_name(method)}: {type(reason).__name__}: {reason}") from None


class RateLimitWait(RateLimitErrorRetryHandler):
    """slack-sdk's 429 handler (it sleeps Retry-After plus up to a second of jitter), bounded by ``max_wait``.

    A Retry-After longer than that, or one slack-sdk could not read, is not waited out here: the
    429 comes back as a retryable error carrying its Retry-After, for the flow to decide.
    """

    def __init__(self, max_retry_count: int, max_wait: float) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    def _can_retry(
        self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None, error: Exception | None = None
    ) -> bool:
        if response is None or not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        value = header(response.headers, "retry-after")
        return value is not None and WHOLE_SECONDS.fullmatch(value.strip()) is not None and int(value) <= self.max_wait


def slack_name(method: str) -> str:
    return method.replace("_", ".", 1)


def classify(method: str, err: SlackApiError) -> RetryableIntegrationError | PermanentIntegrationError:
    """Slack's answer as one of our errors; a 429 carries its Retry-After (seconds)."""
    response = err.response
    status, error = response.status_code, response.get("error", "unknown")
    needed = response.get("needed")
    message = f"slack {slack_name(method)}: HTTP {status} {error}" + (f" (needed scope: {needed})" if needed else "")
    if status == 429 or status >= 500 or error in RETRYABLE_ERRORS:
        return RetryableIntegrationError(
            message, retry_after=retry_after_seconds(header(response.headers, "retry-after")) if status == 429 else None
        )
    return PermanentIntegrationError(message)


def header(headers: dict[str, Any] | None, name: str) -> str | None:
    """A header from slack-sdk's plain dict, whatever its case (values may come as lists)."""
    value = next((v for k, v in (headers or {}).items() if k.lower() == name), None)
    return (value[0] if value else None) if isinstance(value, list) else value
