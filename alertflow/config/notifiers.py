"""The notifiers' settings: the built-in ``slack:`` and ``pagerduty:`` sections and named ``notifiers:``.

Notifiers are told apart by ``kind`` (the key of the one registry in
integrations/notifiers/registry.py), so a new way of reaching people is its
module there plus its settings model here, added to ``NotifierSettings``; no
flow names a kind. The two built-in sections keep their names as notifier
names (``slack``, ``pagerduty``), which is also what the page log has always
stored, so rows written before named notifiers existed still read.
Secrets are ``SecretStr`` and may be ``${VAR}`` or ``prefect-secret:NAME``;
an incoming-webhook URL (Teams, Mattermost) is one, since its path is its key.
Every notifier may carry a ``template`` (alertflow/config/messages.py).
``ack_links`` signs the acknowledge links that emails carry (docs/oncall.md).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator

from alertflow.config.messages import MessageTemplate
from alertflow.durations import Duration

BUILT_IN = ("slack", "pagerduty")
MAX_NOTIFIER_NAME = 16  # the page log's notifier column; PostgreSQL refuses longer


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Templated(_Section):
    template: MessageTemplate | None = Field(None, description="this notifier's own title and text (sandboxed Jinja2)")


def _url_secret(value: SecretStr) -> SecretStr:
    raw = value.get_secret_value()
    if not raw.startswith(("https://", "http://", "prefect-secret:")):
        raise ValueError("the incoming-webhook URL starts with https:// (or is prefect-secret:NAME)")
    return value


def _header_safe(value: str) -> str:
    if "\r" in value or "\n" in value or "@" not in value:
        raise ValueError(f"not an email address: {value!r}")
    return value


EmailAddress = Annotated[str, AfterValidator(_header_safe)]
WebhookUrl = Annotated[SecretStr, AfterValidator(_url_secret)]


class SlackSettings(_Templated):
    token: SecretStr | None = Field(None, description="bot token (xoxb-...)")
    channel: str = "#oncall"
    base_url: str = Field("https://slack.com/api/", description="point at a Slack-compatible server")
    timeout_seconds: float = 10.0
    signing_secret: SecretStr | None = Field(None, description="app signing secret: verifies button clicks on /slack/interactions")


class PagerDutySettings(_Templated):
    events_url: str = Field("https://events.pagerduty.com/v2/enqueue", description="Events API v2; point at a compatible server")
    routing_key: SecretStr | None = Field(None, description="integration key of the default service (people may have their own)")
    timeout_seconds: float = Field(10.0, gt=0)
    retries: int = Field(3, ge=0, description="429, 5xx and timeouts are retried this many times")
    backoff_seconds: float = Field(1.0, ge=0, description="first wait between retries, doubled each time (at least Retry-After)")


class SlackNotifierSettings(SlackSettings):
    kind: Literal["slack"]


class PagerDutyNotifierSettings(PagerDutySettings):
    kind: Literal["pagerduty"]


class WebhookSettings(_Templated):
    """An outgoing webhook: a signed JSON POST per page and per status change (docs/oncall.md)."""

    kind: Literal["webhook"]
    url: str = Field(pattern=r"^https?://", description="where pages are POSTed")
    secret: SecretStr = Field(description="HMAC-SHA256 key: the receiver checks X-Alertflow-Signature with it")
    timeout_seconds: float = Field(10.0, gt=0)


class EmailSettings(_Templated):
    """Email over SMTP: STARTTLS (587) or TLS (465), with AUTH; a person's address comes from their contact list."""

    kind: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = Field("starttls", description="starttls (587), tls (465) or none (a local relay)")
    username: str | None = None
    password: SecretStr | None = None
    from_address: EmailAddress = Field(description="the From: of every page")
    to: list[EmailAddress] = Field([], description="who a step naming this notifier reaches (people bring their own address)")
    ca_file: Path | None = Field(None, description="trust this CA for the server's certificate (a private CA); else the system's")
    timeout_seconds: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _auth_fits(self) -> EmailSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together (SMTP AUTH)")
        if self.password is not None and self.security == "none":
            raise ValueError("AUTH over a plain connection would send the password in the clear: use security: starttls or tls")
        return self


class TeamsSettings(_Templated):
    """A Microsoft Teams incoming webhook (a Workflows webhook or a channel's Incoming Webhook): an Adaptive Card per page."""

    kind: Literal["teams"]
    url: WebhookUrl = Field(description="the webhook URL Teams gave (a secret: its path is its key)")
    timeout_seconds: float = Field(10.0, gt=0)


class MattermostSettings(_Templated):
    """A Mattermost incoming webhook: ``text`` and one attachment per page."""

    kind: Literal["mattermost"]
    url: WebhookUrl = Field(description="https://mattermost.example.com/hooks/<key> (a secret)")
    channel: str | None = Field(None, description="post here instead of the webhook's own channel (if the webhook allows it)")
    username: str = Field("alertflow", description="the name pages are posted under")
    timeout_seconds: float = Field(10.0, gt=0)


NotifierSettings = Annotated[
    SlackNotifierSettings | PagerDutyNotifierSettings | WebhookSettings | EmailSettings | TeamsSettings | MattermostSettings,
    Field(discriminator="kind"),
]


def _long_enough(secret: SecretStr) -> SecretStr:
    if len(secret.get_secret_value()) < 16:
        raise ValueError("a link secret must be at least 16 characters")
    return secret


LinkSecret = Annotated[SecretStr, AfterValidator(_long_enough)]  # signs links people open (ack links, calendar feeds)


class AckLinkSettings(_Section):
    """Signed, expiring acknowledge links in emails: ``GET /ack/{id}`` shows a confirmation, ``POST`` acknowledges."""

    secret: LinkSecret = Field(description="HMAC-SHA256 key of the links (a literal or ${VAR}: the API checks it on every click)")
    base_url: str | None = Field(None, pattern=r"^https?://", description="the API as people's browsers reach it; default api_url")
    expires_after: Duration = Field(timedelta(hours=24), description="how long a link acknowledges")


def _names_fit(notifiers: dict[str, BaseModel]) -> dict[str, BaseModel]:
    for name in notifiers:
        if name in BUILT_IN:
            raise ValueError(f"notifiers.{name}: {name!r} is the built-in notifier; configure it under {name}: instead")
        if not name or len(name) > MAX_NOTIFIER_NAME or not all(c.isalnum() or c in "-_" for c in name):
            raise ValueError(f"notifiers.{name}: a notifier name is 1 to {MAX_NOTIFIER_NAME} letters, digits, - and _")
    return notifiers


Notifiers = Annotated[dict[str, NotifierSettings], AfterValidator(_names_fit)]
