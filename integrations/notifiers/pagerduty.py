"""PagerDuty as a notifier (the paging side), through the Events API v2 over httpx.

An incident is one PagerDuty alert, correlated by ``dedup_key`` (the incident
key), so ``acknowledge`` and ``resolve`` reach the alert ``trigger`` opened,
whoever sends them. PagerDuty asks senders to retry 429 and 5xx; we do, a
bounded number of times with doubling backoff that is never shorter than the
Retry-After PagerDuty sent. A 400 ("invalid event") will not improve with
retries: it is raised at once as permanent, with PagerDuty's own explanation.
The routing key is a secret: it is sent in the body, never in a URL, and is
scrubbed from every message we raise.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, Literal

import httpx
from pydantic import BaseModel

from alertflow.config.settings import PagerDutySettings, Settings
from alertflow.errors import IntegrationError, PermanentIntegrationError, RetryableIntegrationError
from alertflow.integrations.http import request
from alertflow.integrations.notifiers import PageRef
from alertflow.integrations.notifiers.message import PageMessage
from alertflow.models import Severity
from alertflow.retries import exponential, honouring_retry_after, retrying

__all__ = ["PagerDutyNotifier", "PagerDutyPages", "PagerDutyResult", "PagerDutySettings", "dedup_key_for"]

EventAction = Literal["trigger", "acknowledge", "resolve"]
MAX_DEDUP_KEY, MAX_SUMMARY, MAX_BACKOFF_SECONDS = 255, 1024, 60.0


class PagerDutyResult(BaseModel):
    action: EventAction
    dedup_key: str
    status: str  # PagerDuty's, e.g. "success"
    message: str  # e.g. "Event processed"
    attempts: int


def dedup_key_for(key: str) -> str:
    """The incident key as a dedup key; PagerDuty's limit is 255 characters, so longer keys keep a
    readable prefix and a hash of the whole (stable, so trigger, ack and resolve still agree)."""
    if len(key) <= MAX_DEDUP_KEY:
        return key
    return f"{key[:190]}#{hashlib.sha256(key.encode()).hexdigest()[:32]}"


class PagerDutyNotifier:
    def __init__(
        self,
        settings: PagerDutySettings,
        client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.client = client
        self.sleep = sleep

    async def trigger(
        self,
        dedup_key: str,
        summary: str,
        severity: Severity | str,
        source: str,
        custom_details: dict[str, Any] | None = None,
        routing_key: str | None = None,
        links: dict[str, str] | None = None,
    ) -> PagerDutyResult:
        """Open (or add to) the PagerDuty alert for ``dedup_key``; ``links`` is label -> URL."""
        payload = {
            "summary": summary[:MAX_SUMMARY],
            "severity": Severity(severity).value,  # the same four levels as PagerDuty's
            "source": source,
            "timestamp": datetime.now(timezone.utc).isoformat(),
            "custom_details": custom_details or {},
        }
        extra = {"payload": payload, "client": "alertflow", "links": [{"href": url, "text": label} for label, url in (links or {}).items()]}
        return await self._send("trigger", dedup_key, routing_key, extra)

    async def acknowledge(self, dedup_key: str, routing_key: str | None = None) -> PagerDutyResult:
        return await self._send("acknowledge", dedup_key, routing_key, {})

    async def resolve(self, dedup_key: str, routing_key: str | None = None) -> PagerDutyResult:
        return await self._send("resolve", dedup_key, routing_key, {})

    async def _send(self, action: EventAction, dedup_key: str, routing_key: str | None, extra: dict[str, Any]) -> PagerDutyResult:
        key = routing_key or (self.settings.routing_key.get_secret_value() if self.settings.routing_key else None)
        if not key:
            raise PermanentIntegrationError(f"pagerduty {action}: no routing key (pagerduty.routing_key or the person's own)")
        event = {"routing_key": key, "event_action": action, "dedup_key": dedup_key_for(dedup_key), **extra}
        if self.client is not None:
            return await self._deliver(self.client, event, key)
        async with httpx.AsyncClient(timeout=self.settings.timeout_seconds) as client:
            return await self._deliver(client, event, key)

    async def _deliver(self, client: httpx.AsyncClient, event: dict[str, Any], key: str) -> PagerDutyResult:
        action = event["event_action"]
        wait = honouring_retry_after(exponential(self.settings.backoff_seconds), MAX_BACKOFF_SECONDS)
        attempts = retrying(attempts=self.settings.retries + 1, wait=wait, retry_on=RetryableIntegrationError, sleep=self.sleep)
        try:
            async for attempt in attempts:
                with attempt:
                    response = await request(client, "POST", self.settings.events_url, json=event, timeout=self.settings.timeout_seconds)
        except IntegrationError as err:
            raise scrubbed(err, action, key, attempt.retry_state.attempt_number) from None
        body = response.json() if response.content else {}
        return PagerDutyResult(
            action=action,
            dedup_key=body.get("dedup_key") or event["dedup_key"],
            status=body.get("status", "success"),
            message=body.get("message", ""),
            attempts=attempt.retry_state.attempt_number,
        )


def scrubbed(err: IntegrationError, action: str, key: str, attempts: int) -> IntegrationError:
    """The same kind of error, prefixed with what we tried, with the routing key blanked wherever it appears."""
    message = f"pagerduty {action} (attempt {attempts}): {err}".replace(key, "**********")
    if isinstance(err, RetryableIntegrationError):
        return RetryableIntegrationError(message, retry_after=err.retry_after)
    return PermanentIntegrationError(message)


class PagerDutyPages:
    """PagerDuty as a ``Notifier``: a page triggers the incident's alert, ``update`` acknowledges or resolves it by the
    same dedup key; PagerDuty has no threads. ``routing_key`` is the delivery's own (a person's, a step's), else the default."""

    def __init__(self, settings: PagerDutySettings, routing_key: str | None = None, client: httpx.AsyncClient | None = None) -> None:
        self.events, self.routing_key = PagerDutyNotifier(settings, client), routing_key

    @classmethod
    def for_address(cls, settings: PagerDutySettings, address: str, config: Settings) -> PagerDutyPages:
        return cls(settings, routing_key(address, config))

    async def send(self, message: PageMessage, address: str) -> PageRef:
        details = {"incident": message.incident_id, "service": message.service, "status": message.status}
        details |= {"reason": message.reason} if message.reason else {}
        source = f"alertflow:{message.service}"
        result = await self.events.trigger(
            message.key or "", message.text(), message.severity, source, details, self.routing_key, message.links
        )
        return PageRef(ts=result.dedup_key)

    async def update(self, ref: PageRef, message: PageMessage) -> None:
        answer = self.events.resolve if message.status == "resolved" else self.events.acknowledge
        await answer(message.key or ref.ts or "", self.routing_key)

    async def reply(self, ref: PageRef, text: str) -> PageRef | None:
        return None

    async def find(self, message: PageMessage, address: str, since: datetime) -> PageRef | None:
        return None  # PagerDuty deduplicates a resend by the incident's dedup key


def routing_key(address: str, config: Settings) -> str | None:
    """The routing key a page's address points at (None: the configured default); addresses name where a key is
    configured (``person:NAME``, ``policy:NAME:STEP.TARGET``), never the key, so the page log stays free of it."""
    try:
        return _routing_key(address, config)
    except (KeyError, IndexError, ValueError):  # the config changed since the page went out
        raise PermanentIntegrationError(f"pagerduty: {address} is no longer in the config; its routing key is unknown") from None


def _routing_key(address: str, config: Settings) -> str | None:
    kind, _, rest = address.partition(":")
    if kind == "person":
        secret = config.people[rest].pagerduty_routing_key
        return secret.get_secret_value() if secret else None
    if kind == "policy":
        policy, _, loc = rest.partition(":")
        step, _, target = loc.partition(".")
        targets = config.escalation_policies[policy]
        chosen = targets.fallback if step == "fallback" else targets.steps[int(step)].notify[int(target)]
        secret = chosen.pagerduty if chosen else None
        value = secret.get_secret_value() if secret else "default"
        return None if value == "default" else value
    return None
