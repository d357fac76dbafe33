"""Mattermost as a notifier: each page a post through an incoming webhook, as ``text`` with one attachment.

Mattermost's incoming webhooks take Slack-style JSON: ``text`` (Markdown),
optional ``channel`` and ``username``, and ``attachments`` with a colour,
title, text and short fields. A page's address may name a channel or a
person's direct messages (``@alice``, from their contact list) when the
webhook may post outside its own channel. Posts cannot be edited through a
webhook and their ids are not returned, so answers are new posts and there
is no thread. ``@channel``, ``@all`` and ``@here`` in the text are defused:
alert text must not notify a whole channel. The URL is a secret (its path is
the key): errors name the host only.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from alertflow.config.notifiers import MattermostSettings
from alertflow.config.settings import Settings
from alertflow.integrations.http import post_to_secret_url
from alertflow.integrations.notifiers import PageRef
from alertflow.integrations.notifiers.message import PageMessage

COLOR = {"critical": "#d00000", "error": "#ff8000", "warning": "#ffd000", "info": "#2080ff"}
MENTIONS = re.compile(r"@(channel|all|here)\b", re.IGNORECASE)


def defuse(text: str) -> str:
    """``@channel`` shown, not sent as a mention (a zero-width space after the @)."""
    return MENTIONS.sub("@\u200b\\1", text)


def post(message: PageMessage, channel: str | None, username: str, update: bool = False) -> dict[str, Any]:
    done = f"Resolved by {message.resolved_by}" if message.resolved_by else f"Acknowledged by {message.acked_by}"
    links = " · ".join(f"[{label}]({url})" for label, url in message.all_links().items())
    attachment = {
        "fallback": defuse(message.text()),
        "color": COLOR[message.severity.value],
        "title": defuse(message.headline()),
        "text": defuse("\n".join(part for part in (done if update else message.text(), links) if part)),
        "fields": [{"short": True, "title": label, "value": defuse(value)} for label, value in message.facts()],
    }
    body: dict[str, Any] = {"text": defuse(done if update else message.text()), "username": username, "attachments": [attachment]}
    return body | ({"channel": channel} if channel else {})


class MattermostNotifier:
    """POSTs pages to one incoming webhook, in the address's channel when it names one."""

    def __init__(self, settings: MattermostSettings, channel: str | None = None) -> None:
        self.settings, self.channel = settings, channel or settings.channel

    @classmethod
    def for_address(cls, settings: MattermostSettings, address: str, config: Settings) -> MattermostNotifier:
        return cls(settings, address if address.startswith(("@", "~")) else None)

    async def send(self, message: PageMessage, address: str) -> PageRef:
        await self._post(post(message, self.channel, self.settings.username))
        return PageRef()

    async def update(self, ref: PageRef, message: PageMessage) -> None:
        await self._post(post(message, self.channel, self.settings.username, update=True))

    async def reply(self, ref: PageRef, text: str) -> PageRef | None:
        return None

    async def find(self, message: PageMessage, address: str, since: datetime) -> PageRef | None:
        return None

    async def _post(self, body: dict[str, Any]) -> None:
        await post_to_secret_url(self.settings.url, "mattermost webhook", self.settings.timeout_seconds, body)
