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

The page message and its Block Kit are in message.py. Every page carries
message metadata naming its page log row, so after a crash between sending and
recording, ``find`` can tell whether it went out (``conversations.history``)
instead of sending it twice.
"""

from __future__ import annotations

import asyncio
import re
import urllib.error
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import HttpRequest, HttpResponse, RateLimitErrorRetryHandler, RetryState

from alertflow.config.settings import SlackSettings
from alertflow.errors import PermanentIntegrationError, RetryableIntegrationError
from alertflow.integrations.http import request_secret_url, retry_after_seconds
from alertflow.integrations.notifiers import PageRef
from alertflow.integrations.notifiers.message import Digest, PageMessage, escape

WHOLE_SECONDS = re.compile(r"[0-9]{1,9}")  # the Retry-After slack-sdk can read (it int()s the value)
METADATA_EVENT = "alertflow_page"  # message metadata: which page log rows a message carries
# Slack errors that a retry can fix; every other ``ok: false`` is permanent.
RETRYABLE_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


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

    async def send(self, message: PageMessage | Digest, channel: str | None = None) -> MessageRef:
        """Post a page (or a storm's digest); it carries metadata naming its page log row(s), for ``find``."""
        target = channel or self.settings.channel
        pages = message.pages if isinstance(message, Digest) else [message]
        metadata = {"event_type": METADATA_EVENT, "event_payload": {"pages": ",".join(str(p.page_id) for p in pages if p.page_id)}}
        response = await self._call(
            "chat_postMessage", channel=target, text=escape(message.text()), blocks=message.blocks(), metadata=metadata
        )
        return MessageRef(channel=response["channel"], ts=response["ts"])

    async def update(self, ref: MessageRef, message: PageMessage | Digest) -> None:
        await self._call("chat_update", channel=ref.channel, ts=ref.ts, text=escape(message.text()), blocks=message.blocks())

    async def find(self, message: PageMessage, address: str | None, since: datetime) -> MessageRef | None:
        """The message that carried this page if it was posted since ``since`` (a crash cut off its record), else None.

        Slack keeps our metadata with each message, and ``conversations.history`` returns it: so a
        page whose sending was interrupted is looked for before it is sent again, never sent twice.
        """
        return (await self.find_many([message], address, since))[0]

    async def find_many(self, pages: list[PageMessage], address: str | None, at: datetime) -> list[MessageRef | None]:
        """``find`` for many pages to one address since ``at``, with one read of its history: a burst cut off by a
        crash is one call, not one a page, within Slack's rate limit for ``conversations.history``."""
        channel = await self._channel_id(address or self.settings.channel)
        if channel is None:
            return [None] * len(pages)  # no such channel to look in: the pages cannot have been posted there
        window = {"oldest": f"{at.timestamp() - 1:.6f}", "include_all_metadata": True, "limit": 200}
        history = await self._call("conversations_history", channel=channel, **window)
        carried: dict[str, str] = {}  # page log row -> ts of the (newest) message that carried it
        for posted in history.get("messages", []):
            metadata = posted.get("metadata") or {}
            if metadata.get("event_type") == METADATA_EVENT:
                for row in (metadata.get("event_payload") or {}).get("pages", "").split(","):
                    carried.setdefault(row, posted["ts"])
        found = [carried.get(str(page.page_id)) for page in pages]
        return [MessageRef(channel=channel, ts=ts) if ts else None for ts in found]

    async def _channel_id(self, address: str) -> str | None:
        """A channel id for an address as configured: ``#name`` or ``name`` by listing, a user's DM by opening it."""
        if address[:1] in ("U", "W") and address.isalnum() and address.isupper():
            return (await self._call("conversations_open", users=address))["channel"]["id"]
        if address[:1] in ("C", "G", "D") and address.isalnum() and address.isupper():
            return address
        name, cursor = address.removeprefix("#"), None
        while True:
            listed = await self._call("conversations_list", limit=1000, cursor=cursor, exclude_archived=True)
            found = next((c["id"] for c in listed.get("channels", []) if c.get("name") == name), None)
            cursor = (listed.get("response_metadata") or {}).get("next_cursor")
            if found or not cursor:
                return found

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
            await request_secret_url(client, "POST", response_url, where, json=body)

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
