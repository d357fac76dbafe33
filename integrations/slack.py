"""Slack as a notifier, through slack-sdk's ``WebClient``.

``base_url`` comes from settings, so tests and air-gapped users point it at a
Slack-compatible server. slack-sdk's own retry handlers are switched off: the
paging flow's retry policy (from the rules file) is the only retry, so attempts
are counted once. The sync client runs in a worker thread because slack-sdk's
async client needs aiohttp, which we do not ship.
"""

from __future__ import annotations

import asyncio
import urllib.error
from typing import Any

from pydantic import BaseModel
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from alertflow.config import SlackSettings
from alertflow.errors import PermanentIntegrationError, RetryableIntegrationError
from alertflow.models import Severity

# Slack errors that a retry can fix; every other ``ok: false`` is permanent.
RETRYABLE_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
SEVERITY_EMOJI = {
    Severity.critical: ":red_circle:",
    Severity.error: ":large_orange_circle:",
    Severity.warning: ":large_yellow_circle:",
    Severity.info: ":large_blue_circle:",
}


class PageMessage(BaseModel):
    incident_id: int
    title: str
    severity: Severity
    service: str
    status: str
    link: str | None = None
    reason: str | None = None  # an escalation: why automation handed over to a person
    detail: str | None = None

    def text(self) -> str:
        escalation = f" ESCALATION: {self.reason}" if self.reason else ""
        return f"[{self.severity.value.upper()}] Incident #{self.incident_id}: {self.title} ({self.service}){escalation}"

    def blocks(self) -> list[dict[str, Any]]:
        heading = f"{SEVERITY_EMOJI[self.severity]} *Incident #{self.incident_id}: {self.title}*"
        fields = [f"*Severity*\n{self.severity.value}", f"*Service*\n{self.service}", f"*Status*\n{self.status}"]
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": heading}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        ]
        if self.reason:
            text = f"*Escalation:* {self.reason}" + (f"\n```{self.detail}```" if self.detail else "")
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
        if self.link:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{self.link}|Open in Prefect>"}]})
        return blocks


class MessageRef(BaseModel):
    channel: str
    ts: str


class SlackNotifier:
    def __init__(self, settings: SlackSettings, client: WebClient | None = None) -> None:
        self.settings = settings
        token = settings.token.get_secret_value() if settings.token else None
        self.client = client or WebClient(token=token, base_url=settings.base_url, timeout=int(settings.timeout_seconds), retry_handlers=[])

    async def send(self, message: PageMessage, channel: str | None = None) -> MessageRef:
        target = channel or self.settings.channel
        response = await self._call("chat_postMessage", channel=target, text=message.text(), blocks=message.blocks())
        return MessageRef(channel=response["channel"], ts=response["ts"])

    async def update(self, ref: MessageRef, message: PageMessage) -> None:
        await self._call("chat_update", channel=ref.channel, ts=ref.ts, text=message.text(), blocks=message.blocks())

    async def _call(self, method: str, **kwargs: Any) -> Any:
        if self.settings.token is None:
            raise PermanentIntegrationError("slack: no token configured (slack.token or ALERTFLOW_SLACK__TOKEN)")
        name = method.replace("_", ".", 1)
        try:
            return await asyncio.to_thread(getattr(self.client, method), **kwargs)
        except SlackApiError as err:
            status, error = err.response.status_code, err.response.get("error", "unknown")
            message = f"slack {name}: HTTP {status} {error}"
            if status == 429 or status >= 500 or error in RETRYABLE_ERRORS:
                raise RetryableIntegrationError(message) from None
            raise PermanentIntegrationError(message) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            reason = getattr(err, "reason", err)
            raise RetryableIntegrationError(f"slack {name}: {type(reason).__name__}: {reason}") from None
