"""The one registry of notifier kinds: the config's ``kind`` to the module that implements it.

The paging flow looks a page's notifier up here by name (the page log's
``notifier`` column: ``slack``, ``pagerduty`` or a name under ``notifiers:``)
instead of branching on it. What the flow must know about a kind beyond the
``Notifier`` Protocol is declared here, next to it: whether it retries by
itself (the flow then adds no retries of its own, which would multiply
attempts) and whether it keeps a thread for news.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alertflow.config.settings import Settings
from alertflow.errors import ConfigError, PermanentIntegrationError
from alertflow.integrations.notifiers import Notifier
from alertflow.integrations.notifiers.email import EmailNotifier
from alertflow.integrations.notifiers.mattermost import MattermostNotifier
from alertflow.integrations.notifiers.pagerduty import PagerDutyPages
from alertflow.integrations.notifiers.slack import SlackNotifier
from alertflow.integrations.notifiers.teams import TeamsNotifier
from alertflow.integrations.notifiers.webhook import WebhookNotifier


@dataclass(frozen=True)
class Kind:
    label: str  # how the timeline names it: "paged alice on Slack"
    build: Callable[[Any, str, Settings], Notifier]  # (its settings, the page's address, the whole config)
    retries_itself: bool = False
    threads: bool = False
    digests: bool = False  # can show many incidents in one message (a storm's first pages, message.Digest)


KINDS: dict[str, Kind] = {
    "slack": Kind("Slack", lambda settings, address, config: SlackNotifier(settings), threads=True, digests=True),
    "pagerduty": Kind("PagerDuty", PagerDutyPages.for_address, retries_itself=True),
    "webhook": Kind("webhook", lambda settings, address, config: WebhookNotifier(settings)),
    "email": Kind("email", EmailNotifier.for_address, threads=True),
    "teams": Kind("Teams", TeamsNotifier.for_address),
    "mattermost": Kind("Mattermost", MattermostNotifier.for_address),
}


def kind_name(name: str, config: Settings) -> str | None:
    """The kind of the notifier called ``name`` (a built-in section is its own kind); None once it left the config."""
    try:
        return str(getattr(config.notifier(name), "kind", name))
    except ConfigError:
        return None


def find(name: str, config: Settings) -> Kind | None:
    kind = kind_name(name, config)
    return KINDS[kind] if kind else None


def kind_of(name: str, config: Settings) -> Kind:
    """The notifier's kind; a page whose notifier left the config since it was sent can no longer be reached."""
    if (found := find(name, config)) is None:
        raise PermanentIntegrationError(f"notifier {name!r} is no longer in the config (notifiers:)")
    return found


def display_name(name: str, config: Settings) -> str:
    """ "Slack" for the built-in one, "ops-hook (webhook)" for a named one, the bare name for one no longer configured."""
    kind = kind_name(name, config)
    if kind is None:
        return name
    return KINDS[kind].label if name == kind else f"{name} ({KINDS[kind].label})"
