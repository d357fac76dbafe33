"""The one place HTTP failures are sorted into retryable and permanent.

A traffic switch and a runbook step fail the same ways (refused, timed out,
5xx, 429, 4xx); sorting them once keeps every flow's retry decision the same.
Messages name the method, URL and status, never headers or bodies we sent,
and URLs lose any credentials or query string (where tokens tend to hide)
before they reach a message, a timeline or the Prefect UI.
"""

from __future__ import annotations

import logging
import math
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import SecretStr

from alertflow.errors import PermanentIntegrationError, RetryableIntegrationError


async def request(client: httpx.AsyncClient, method: str, url: str, expect: list[int] | None = None, **kwargs: Any) -> httpx.Response:
    """Send one request; a status outside ``expect`` (default 2xx) raises a classified error."""
    where = f"{method} {safe_url(url)}"
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.TimeoutException:
        raise RetryableIntegrationError(f"{where}: timed out") from None
    except httpx.TransportError as err:
        raise RetryableIntegrationError(f"{where}: {type(err).__name__}: {err}") from None
    ok = response.status_code in expect if expect else response.is_success
    if ok:
        return response
    message = f"{where}: HTTP {response.status_code} {_excerpt(response)}".rstrip()
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableIntegrationError(message, retry_after=retry_after_seconds(response.headers.get("retry-after")))
    raise PermanentIntegrationError(message)


class HideSecretUrls(logging.Filter):
    """httpx logs every request's URL at INFO; a URL whose path is a credential is logged as its host and a mark."""

    secret: ClassVar[set[str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(str(arg) in self.secret for arg in record.args):
            record.args = tuple(f"{safe_url(str(a)).split('/')[2]}/<hidden>" if str(a) in self.secret else a for a in record.args)
        return True


logging.getLogger("httpx").addFilter(HideSecretUrls())


async def request_secret_url(client: httpx.AsyncClient, method: str, url: str, where: str, **kwargs: Any) -> httpx.Response:
    """``request`` to a URL whose path is a credential (a Slack response_url, a Teams or Mattermost incoming webhook):
    errors name ``where`` instead of the URL, keeping their class and Retry-After, and httpx's log line hides it."""
    HideSecretUrls.secret.add(url)
    try:
        return await request(client, method, url, **kwargs)
    except RetryableIntegrationError as err:
        raise RetryableIntegrationError(_hide(str(err), method, url, where), retry_after=err.retry_after) from None
    except PermanentIntegrationError as err:
        raise PermanentIntegrationError(_hide(str(err), method, url, where)) from None
    finally:
        HideSecretUrls.secret.discard(url)  # httpx logged it, if at all, during the request


async def post_to_secret_url(url: SecretStr, what: str, timeout: float, body: Any) -> httpx.Response:
    """POST JSON to an incoming webhook whose URL is its key; errors say ``<what> on <host>``."""
    raw = url.get_secret_value()
    async with httpx.AsyncClient(timeout=timeout) as client:
        return await request_secret_url(client, "POST", raw, f"{what} on {urlsplit(raw).hostname}", json=body)


def _hide(message: str, method: str, url: str, where: str) -> str:
    return message.replace(f"{method} {safe_url(url)}", where)


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds (the delta form Slack and PagerDuty send), None if absent or unreadable."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return max(seconds, 0.0) if seconds is not None and math.isfinite(seconds) else None


def _excerpt(response: httpx.Response) -> str:
    return response.text[:200].replace("\n", " ")


def safe_url(url: str) -> str:
    """The URL without user:password@ and without its query string."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
