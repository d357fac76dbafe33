"""The API's own settings: who may call its control endpoints, and what one request may cost.

Control endpoints (ack, failover, silences, the inbox export) move traffic and
silence pages, so they are open only where nobody else can reach them: on
loopback. Listening anywhere else without an API token is refused at start,
naming the setting, rather than served open. Tokens carry scopes, so a
dashboard's token cannot fail over and a webhook sender's token is never an
API token at all.

The limits bound what a stranger can make the API hold before any auth runs:
header bytes and count, the time to send one request, an idle connection.
alertflow/api/protocol.py enforces them; the defaults are those of common
servers (Node's 16 KiB head, gunicorn's 100 header fields).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from alertflow.auth import BearerAuth
from alertflow.config.notifiers import LinkSecret
from alertflow.errors import ConfigError

if TYPE_CHECKING:
    from alertflow.config.settings import Settings


class Scope(str, Enum):
    """What a token may do; ``api_token`` has them all."""

    read = "read"  # GET incidents and their timelines, silences, suppressed alerts, the inbox export, reports, on-call
    respond = "respond"  # acknowledge and resolve incidents
    operate = "operate"  # run response flows by hand, fail back, add and expire silences, add and remove on-call overrides


class ApiToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: SecretStr = Field(description="sent as Authorization: Bearer <token>; ${VAR} reads it from the environment")
    scopes: list[Scope] = Field(min_length=1, description="read, respond, operate")

    @field_validator("token")
    @classmethod
    def _usable(cls, token: SecretStr) -> SecretStr:
        return _checked_token(token)


class CalendarLinks(BaseModel):
    """Signed links to the schedules' calendar feeds (``GET /oncall/{schedule}.ics?sig=``): calendar apps send no token."""

    model_config = ConfigDict(extra="forbid")

    secret: LinkSecret = Field(description="HMAC-SHA256 key of the links (a literal or ${VAR}); changing it revokes every link")
    base_url: str | None = Field(None, pattern=r"^https?://", description="the API as calendar apps reach it; default api_url")


class RequestLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_header_bytes: int = Field(16_384, ge=1024, description="request line and headers; 431 above, before more is read")
    max_headers: int = Field(100, ge=8, description="header fields per request; 431 above")
    request_timeout_seconds: float = Field(30.0, gt=0, description="first byte of a request to its last (408, then closed)")
    idle_timeout_seconds: float = Field(120.0, gt=0, description="a connection with no request in flight is closed after this")


def _checked_token(token: SecretStr) -> SecretStr:
    value = token.get_secret_value()
    if not value.strip():
        raise ValueError("an API token must not be empty")
    if value.startswith("prefect-secret:"):  # API tokens are compared in the API process, which reads no Prefect blocks
        raise ValueError("API tokens are read at start: write the token or ${VAR}, not prefect-secret:NAME")
    return token


def check_api_token(token: SecretStr | None) -> SecretStr | None:
    """Validator for ``api_token``: the same rules as a scoped token's."""
    return None if token is None else _checked_token(token)


@dataclass(frozen=True)
class Credential:
    setting: str  # how messages name it (never by value): "api_token", "api_tokens.dashboards", "webhook_token"
    secret: SecretStr
    scopes: frozenset[Scope]  # empty for a webhook sender's: valid on no API endpoint


def credentials(settings: Settings) -> list[Credential]:
    """Every bearer token the config knows: the API's with their scopes, then the webhook senders' with none."""
    found = [Credential("api_token", settings.api_token, frozenset(Scope))] if settings.api_token else []
    found += [Credential(f"api_tokens.{name}", entry.token, frozenset(entry.scopes)) for name, entry in settings.api_tokens.items()]
    if settings.webhook_token:
        found.append(Credential("webhook_token", settings.webhook_token, frozenset()))
    for name, source in settings.sources.items():
        if isinstance(source.auth, BearerAuth):
            found.append(Credential(f"sources.{name}.auth.token", source.auth.token, frozenset()))
    return found


def check_distinct(settings: Settings) -> None:
    """An API token equal to another credential would give that credential's holder its scopes."""
    seen: dict[str, Credential] = {}
    for credential in credentials(settings):
        first = seen.setdefault(credential.secret.get_secret_value(), credential)
        if first is not credential and (first.scopes or credential.scopes):  # two senders may share one
            raise ValueError(f"{credential.setting} is the same token as {first.setting}; give each its own")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost`` reach only this machine; 0.0.0.0, :: and any name or other address may not."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost: it may resolve anywhere
        return False


def check_exposure(settings: Settings) -> None:
    """Refuse to serve control endpoints without a credential beyond loopback (before anything starts)."""
    host = settings.api_host
    if not any(credential.scopes for credential in credentials(settings)) and not is_loopback(host):
        raise ConfigError(
            f"api_host {host!r} listens beyond loopback, and no API token is set: control endpoints (ack, failover, "
            "silences, the inbox) would be open to anyone who can reach it. Set api_token (or ALERTFLOW_API_TOKEN), "
            "or api_tokens with scopes, or listen on 127.0.0.1."
        )
