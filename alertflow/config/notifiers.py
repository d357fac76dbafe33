"""The notifiers' settings: the built-in ``slack:`` and ``pagerduty:`` sections and named ``notifiers:``.

Notifiers are told apart by ``kind`` (the key of the one registry in
integrations/notifiers/registry.py), so a new way of reaching people is its
module there plus its settings model here, added to ``NotifierSettings``; no
flow names a kind. The two built-in sections keep their names as notifier
names (``slack``, ``pagerduty``), which is also what the page log has always
stored, so rows written before named notifiers existed still read.
Secrets are ``SecretStr`` and may be ``${VAR}`` or ``prefect-secret:NAME``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

BUILT_IN = ("slack", "pagerduty")
MAX_NOTIFIER_NAME = 16  # the page log's notifier column; PostgreSQL refuses longer


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlackSettings(_Section):
    token: SecretStr | None = Field(None, description="bot token (xoxb-...)")
    channel: str = "#oncall"
    base_url: str = Field("https://slack.com/api/", description="point at a Slack-compatible server")
    timeout_seconds: float = 10.0
    signing_secret: SecretStr | None = Field(None, description="app signing secret: verifies button clicks on /slack/interactions")


class PagerDutySettings(_Section):
    events_url: str = Field("https://events.pagerduty.com/v2/enqueue", description="Events API v2; point at a compatible server")
    routing_key: SecretStr | None = Field(None, description="integration key of the default service (people may have their own)")
    timeout_seconds: float = Field(10.0, gt=0)
    retries: int = Field(3, ge=0, description="429, 5xx and timeouts are retried this many times")
    backoff_seconds: float = Field(1.0, ge=0, description="first wait between retries, doubled each time (at least Retry-After)")


class SlackNotifierSettings(SlackSettings):
    kind: Literal["slack"]


class PagerDutyNotifierSettings(PagerDutySettings):
    kind: Literal["pagerduty"]


class WebhookSettings(_Section):
    """An outgoing webhook: a signed JSON POST per page and per status change (docs/oncall.md)."""

    kind: Literal["webhook"]
    url: str = Field(pattern=r"^https?://", description="where pages are POSTed")
    secret: SecretStr = Field(description="HMAC-SHA256 key: the receiver checks X-Alertflow-Signature with it")
    timeout_seconds: float = Field(10.0, gt=0)


NotifierSettings = Annotated[SlackNotifierSettings | PagerDutyNotifierSettings | WebhookSettings, Field(discriminator="kind")]


def _names_fit(notifiers: dict[str, BaseModel]) -> dict[str, BaseModel]:
    for name in notifiers:
        if name in BUILT_IN:
            raise ValueError(f"notifiers.{name}: {name!r} is the built-in notifier; configure it under {name}: instead")
        if not name or len(name) > MAX_NOTIFIER_NAME or not all(c.isalnum() or c in "-_" for c in name):
            raise ValueError(f"notifiers.{name}: a notifier name is 1 to {MAX_NOTIFIER_NAME} letters, digits, - and _")
    return notifiers


Notifiers = Annotated[dict[str, NotifierSettings], AfterValidator(_names_fit)]
