"""Notifiers: the ways alertflow reaches people (Slack, PagerDuty, webhooks, email, Teams, Mattermost), behind one Protocol.

The paging flow knows a page only as a message, a notifier's name and an
address, and asks the registry (registry.py) for the notifier; so a new way of
reaching people is one module here plus its settings model in
alertflow/config/notifiers.py, and no flow grows a branch for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    from alertflow.integrations.notifiers.message import PageMessage


class PageRef(BaseModel):
    """A sent page as the page log keeps it (no secrets): its place and its id there, where the notifier has them
    (a Slack channel and ts; a PagerDuty dedup key as ``ts``; nothing for a webhook, whose pages are the incident key)."""

    channel: str | None = None
    ts: str | None = None


class Notifier(Protocol):
    async def send(self, message: PageMessage, address: str) -> PageRef:
        """Page ``address`` (a Slack channel or user, a person's name...); raises a Retryable/PermanentIntegrationError."""
        ...

    async def update(self, ref: PageRef, message: PageMessage) -> None:
        """Bring a sent page up to date: the message carries the new status (acknowledged, resolved) and who did it."""
        ...

    async def find(self, message: PageMessage, address: str, since: datetime) -> PageRef | None:
        """Was this page (``message.page_id``) delivered since ``since``? After a crash between sending and
        recording: the page found, or None when it was not, or when the notifier cannot tell (then it is sent
        again: PagerDuty deduplicates by the incident key; a webhook receiver sees it at least once)."""
        ...

    async def reply(self, ref: PageRef, text: str) -> PageRef | None:
        """Tell a sent page's thread some news; None where the notifier keeps no thread (nothing is sent)."""
        ...


async def find_each(notifier: Notifier, pages: list[PageMessage], address: str, at: datetime) -> list[PageRef | None]:
    """``find`` for each of many pages to one address since ``at``: in one look where the notifier can
    (Slack's ``find_many`` reads the channel's history once), else one by one."""
    find_many = getattr(notifier, "find_many", None)
    if find_many is not None:
        return list(await find_many(pages, address, at))
    return [await notifier.find(page, address, at) for page in pages]
