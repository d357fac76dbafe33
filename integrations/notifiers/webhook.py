"""An outgoing webhook as a notifier: any HTTP endpoint gets a signed JSON POST per page and per status change.

For teams whose pager, chat or ticket system is none of the built-in ones: they
receive the page as JSON and check it came from us. The body is signed with
HMAC-SHA256 under the configured secret, over ``<timestamp>.<raw body>``, so a
receiver can refuse both forgeries and replays of an old body (the scheme is in
docs/oncall.md). An acknowledge or resolve is another POST with the new status
and the same incident ``key``, which is how a receiver correlates them.

Failures are sorted by integrations/http.py (5xx, 429, timeouts retryable with
Retry-After kept; other 4xx permanent); the paging flow's task retries do the
retrying. The secret goes only into the HMAC: never into a URL, a header, a
body or an error.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from alertflow.config.notifiers import WebhookSettings
from alertflow.integrations.http import request
from alertflow.integrations.notifiers import PageRef
from alertflow.integrations.notifiers.message import PageMessage

SIGNATURE, TIMESTAMP = "X-Alertflow-Signature", "X-Alertflow-Timestamp"


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``v1=`` and the hex HMAC-SHA256 of ``<timestamp>.<body>``: the timestamp is signed so it cannot be replaced."""
    return "v1=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def page_body(message: PageMessage, event: str, address: str | None = None) -> dict[str, Any]:
    """What the receiver reads: the incident as it stands, and which event this is (page or update)."""
    body = {
        "event": event,
        "incident_id": message.incident_id,
        "key": message.key,
        "title": message.template_title if message.template_title is not None else message.title,
        "service": message.service,
        "severity": message.severity.value,
        "status": message.status,
        "step": message.step,
        "text": message.text(),
        "links": message.all_links(),
        "acknowledged_by": message.acked_by,
        "resolved_by": message.resolved_by,
    }
    return body | ({"address": address} if address else {})


class WebhookNotifier:
    """POSTs pages to one URL; ``client`` and ``clock`` are injectable so tests use a real server and a fixed time."""

    def __init__(self, settings: WebhookSettings, client: httpx.AsyncClient | None = None, clock: Callable[[], float] = time.time) -> None:
        self.settings, self.client, self.clock = settings, client, clock

    async def send(self, message: PageMessage, address: str) -> PageRef:
        await self._post(page_body(message, "page", address))
        return PageRef()

    async def update(self, ref: PageRef, message: PageMessage) -> None:
        await self._post(page_body(message, "update"))

    async def reply(self, ref: PageRef, text: str) -> PageRef | None:
        return None

    async def find(self, message: PageMessage, address: str, since: datetime) -> PageRef | None:
        return None  # a webhook cannot be asked; the receiver sees a resend (same key)

    async def _post(self, body: dict[str, Any]) -> None:
        raw = json.dumps(body, separators=(",", ":"), default=str).encode()
        timestamp = str(int(self.clock()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP: timestamp,
            SIGNATURE: signature(self.settings.secret.get_secret_value().encode(), timestamp, raw),
        }
        if self.client is not None:
            await request(self.client, "POST", self.settings.url, content=raw, headers=headers)
            return
        async with httpx.AsyncClient(timeout=self.settings.timeout_seconds) as client:
            await request(client, "POST", self.settings.url, content=raw, headers=headers)
