"""Microsoft Teams as a notifier: each page an Adaptive Card POSTed to a channel's incoming webhook.

Teams takes a card as a ``message`` with one attachment of content type
``application/vnd.microsoft.card.adaptive`` (the format both a Workflows
webhook and a classic Incoming Webhook accept). The card holds the headline,
the text, the facts (severity, service, status, firing alerts, escalation)
and a button per link. A webhook cannot edit what it posted and keeps no
thread, so an acknowledge or resolve is a new, short card saying who did it.
The URL is a secret (its path is the key): errors name the host only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alertflow.config.notifiers import TeamsSettings
from alertflow.config.settings import Settings
from alertflow.integrations.http import post_to_secret_url
from alertflow.integrations.notifiers import PageRef
from alertflow.integrations.notifiers.message import PageMessage

CARD = "application/vnd.microsoft.card.adaptive"
COLOR = {"critical": "Attention", "error": "Attention", "warning": "Warning", "info": "Accent"}


def card(message: PageMessage, update: bool = False) -> dict[str, Any]:
    """The ``message`` envelope with the page as an Adaptive Card (version 1.4)."""
    done = f"Resolved by {message.resolved_by}" if message.resolved_by else f"Acknowledged by {message.acked_by}"
    heading = {"type": "TextBlock", "text": message.headline(), "weight": "Bolder", "size": "Medium", "wrap": True,
               "color": COLOR[message.severity.value]}  # fmt: skip
    body: list[dict[str, Any]] = [heading, {"type": "TextBlock", "text": done if update else message.text(), "wrap": True}]
    body.append({"type": "FactSet", "facts": [{"title": label, "value": value} for label, value in message.facts()]})
    content: dict[str, Any] = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                               "version": "1.4", "body": body}  # fmt: skip
    actions = [{"type": "Action.OpenUrl", "title": label, "url": url} for label, url in message.all_links().items()]
    if actions:
        content["actions"] = actions
    return {"type": "message", "attachments": [{"contentType": CARD, "contentUrl": None, "content": content}]}


class TeamsNotifier:
    """POSTs cards to one incoming webhook."""

    def __init__(self, settings: TeamsSettings) -> None:
        self.settings = settings

    @classmethod
    def for_address(cls, settings: TeamsSettings, address: str, config: Settings) -> TeamsNotifier:
        return cls(settings)  # the webhook is one channel's: every address posts there

    async def send(self, message: PageMessage, address: str) -> PageRef:
        await post_to_secret_url(self.settings.url, "teams webhook", self.settings.timeout_seconds, card(message))
        return PageRef()

    async def update(self, ref: PageRef, message: PageMessage) -> None:
        await post_to_secret_url(self.settings.url, "teams webhook", self.settings.timeout_seconds, card(message, update=True))

    async def reply(self, ref: PageRef, text: str) -> PageRef | None:
        return None

    async def find(self, message: PageMessage, address: str, since: datetime) -> PageRef | None:
        return None
