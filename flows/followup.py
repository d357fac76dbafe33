"""What a paging run does for the pages it sent: answers reach them, news goes to their threads, reminders repeat.

An escalation (flows/paging.py) sends pages; from then on every page of its
episode hears what happens: an acknowledgement or resolve updates each one
(``tell``), major timeline events are replied in the threads of the notifiers
that keep one (``flush``), and, when the paging action sets
``repeat_interval``, the incident is paged again on that interval while it is
unacknowledged and firing (``repeat``): a reply in each page's thread
(``repeat_as: thread``, where the notifier keeps one) or a fresh page.

Repeat N is due ``N × repeat_interval`` after the episode's first page and is
claimed in the page log per page as ``repeat.N.<page>`` before it is sent, so
a retried or restarted run sends none of it again, and a run that was away
for several intervals sends only the latest one. An answer or a quiet
incident (no firing alert) sends none; nothing repeats after an ack or resolve.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

from alertflow.durations import utcnow as now  # the time of every step, a repeat, a poll
from alertflow.errors import IntegrationError
from alertflow.flows.handover import trim
from alertflow.flows.notify import news, reply_page, send_page, update_page
from alertflow.flows.runtime import record, settings, store, with_retry
from alertflow.integrations.notifiers.message import PageMessage
from alertflow.integrations.notifiers.registry import display_name, find
from alertflow.integrations.notifiers.rendering import for_notifier
from alertflow.models import Incident, IncidentStatus, PagingAction, RetryPolicy, TimelineEntry, TimelineKind
from alertflow.paging.recipients import alert_links, alert_views, answered, page_message, template_failed
from alertflow.store.pages import PageLog, PageRecord

FOLLOW_POLL_SECONDS = 2.0
REPLY, REPEAT, FRESH = "reply.", "repeat.", ".page"  # step prefixes of thread replies and repeats; suffix of a repeat's fresh page


class FollowUp:
    """The follow-up of one paging run's pages; ``Escalation`` sends them."""

    incident_id: int
    action: PagingAction
    episode: str
    link: str | None
    log: PageLog

    def __init__(self) -> None:
        self.cursor = 0  # the last timeline entry id this run has seen
        self.told: set[IncidentStatus] = set()
        self.pending: list[tuple[int, str]] = []  # (timeline id, text) for the threads
        self.entries: list[TimelineEntry] = []  # the alerts' entries: the messages' links and alerts
        self.repeated = 0  # the last repeat handled
        self.first_page: datetime | None = None  # when the episode's first page was claimed: repeats count from it
        self.template_failures: set[tuple[str, str]] = set()  # (notifier, why) recorded already: once a run, not once a page

    async def start(self) -> None:
        found = await self.log.timeline_after(self.incident_id, 0)
        self.cursor = found[-1][0] if found else 0
        self.entries = [entry for _, entry in found if entry.kind is TimelineKind.alert]

    async def message(self, incident: Incident, step: str | None = None) -> PageMessage:
        """The page as the incident stands, before any notifier's template."""
        firing = await self.log.firing_count(self.incident_id)
        return page_message(incident, self.action.params, self.link, firing, alert_links(self.entries), step, alert_views(self.entries))

    async def shaped(self, message: PageMessage, notifier: str) -> PageMessage:
        """``message`` through the notifier's template; a failed template is recorded (once a run) and the default goes."""
        message, why = for_notifier(message, notifier, settings())
        if (failed := template_failed(notifier, why, settings())) is not None and (notifier, str(why)) not in self.template_failures:
            self.template_failures.add((notifier, str(why)))
            await record(self.incident_id, TimelineKind.page, failed, notifier=notifier)
        return message

    def retry(self, notifier: str) -> RetryPolicy:
        """The action's policy, except for a notifier that retries by itself (more on top would multiply attempts)."""
        kind = find(notifier, settings())
        return RetryPolicy() if kind and kind.retries_itself else self.action.retry

    async def news(self) -> list[TimelineEntry]:
        """New timeline entries since the last look; major ones are queued for the pages' threads."""
        fresh = await self.log.timeline_after(self.incident_id, self.cursor)
        for entry_id, entry in fresh:
            self.cursor = entry_id
            self.entries += [entry] if entry.kind is TimelineKind.alert else []
            text = news(entry)
            if text is not None:
                self.pending.append((entry_id, text))
        return [entry for _, entry in fresh]

    async def flush(self) -> None:
        """Post queued news in the thread of each page whose notifier keeps one, each reply at most once ever."""
        pending, self.pending = self.pending, []
        pages = [page for page in await self.pages() if (kind := find(page.notifier, settings())) and kind.threads] if pending else []
        for entry_id, text in pending:
            for page in pages:
                row, created = await self.log.claim(
                    self.incident_id, self.episode, f"{REPLY}{entry_id}.{page.id}", page.notifier, page.recipient, page.address, now()
                )
                if created:
                    await self.send_reply(row, page, text)

    async def send_reply(self, row: PageRecord, page: PageRecord, text: str) -> bool:
        try:
            ref = await with_retry(reply_page, self.retry(page.notifier))(page, text)
            await self.log.finish(row.id, "sent", ref.channel if ref else None, ref.ts if ref else None)
            return True
        except IntegrationError as err:
            await self.log.finish(row.id, "failed", detail=str(err))
            await record(self.incident_id, TimelineKind.page, f"thread reply to {page.recipient} failed: {trim(err, 300)}")
            return False

    async def sent(self, notifier: str | None = None) -> list[PageRecord]:
        """Every page of the episode that went out as a message of its own (repeats sent as fresh pages too)."""
        rows = await self.log.records(self.incident_id, self.episode)
        return [
            r for r in rows if r.status == "sent" and notifier in (None, r.notifier)
            and not r.step.startswith(REPLY) and (not r.step.startswith(REPEAT) or r.step.endswith(FRESH))
        ]  # fmt: skip

    async def pages(self) -> list[PageRecord]:
        """The escalation's own pages: what threads and repeats are about."""
        return [r for r in await self.sent() if not r.step.startswith(REPEAT)]

    async def follow(self, seconds: float) -> None:
        """Until the incident resolves: bring every page up to date on ack and resolve, thread the news, repeat."""
        deadline = time.monotonic() + seconds
        while True:
            await self.news()
            await self.flush()
            incident = await store().get_incident(self.incident_id)
            await self.tell(incident)
            if incident.status is IncidentStatus.resolved or time.monotonic() >= deadline:
                return
            if (due := await self.repeat_due()) is not None and due <= now():
                await self.repeat()
            due = await self.repeat_due()
            await asyncio.sleep(min(FOLLOW_POLL_SECONDS, max((due - now()).total_seconds(), 0.05)) if due else FOLLOW_POLL_SECONDS)

    async def tell(self, incident: Incident) -> None:
        state = IncidentStatus.resolved if incident.status is IncidentStatus.resolved else IncidentStatus.acknowledged
        if not answered(incident) or state in self.told:
            return
        self.told.add(state)
        if not (pages := await self.sent()):
            return
        message = await self.message(incident)
        for page in pages:
            try:
                await with_retry(update_page, self.retry(page.notifier))(page, await self.shaped(message, page.notifier))
            except IntegrationError as err:
                await record(self.incident_id, TimelineKind.page, f"could not tell {page.recipient} it was {state.value}: {trim(err, 300)}")
        done = incident.resolved_by if state is IncidentStatus.resolved else incident.acknowledged_by
        await record(self.incident_id, TimelineKind.page, f"pages updated: {state.value} by {done}")

    async def repeat_due(self) -> datetime | None:
        """When the next repeat is due; None without a repeat_interval or before the first page."""
        interval: timedelta | None = self.action.params.repeat_interval
        if interval is None:
            return None
        if self.first_page is None:
            pages = await self.pages()
            self.first_page = min((page.claimed_at for page in pages), default=None)
        return self.first_page + (self.repeated + 1) * interval if self.first_page else None

    async def repeat(self) -> None:
        """Send the repeat due now, once: to every page of the episode, unless the incident was answered or is quiet."""
        interval, start = self.action.params.repeat_interval, self.first_page
        assert interval is not None and start is not None
        n = int((now() - start) / interval)
        if n <= self.repeated:
            return
        self.repeated = n
        incident = await store().get_incident(self.incident_id)
        if answered(incident) or incident.status is not IncidentStatus.open or not await self.log.firing_count(self.incident_id):
            return
        message = await self.message(incident)
        for i, page in enumerate(await self.pages()):
            if i and answered(await store().get_incident(self.incident_id)):
                return  # answered while an earlier page's repeat was slow: none follows an ack
            await self.repeat_page(n, page, message)

    async def repeat_page(self, n: int, page: PageRecord, message: PageMessage) -> None:
        kind, via = find(page.notifier, settings()), display_name(page.notifier, settings())
        thread = self.action.params.repeat_as == "thread" and kind is not None and kind.threads
        step = f"{REPEAT}{n}.{page.id}" + ("" if thread else FRESH)
        row, created = await self.log.claim(self.incident_id, self.episode, step, page.notifier, page.recipient, page.address, now())
        if not created:
            return  # sent (or being sent) by an earlier try of this run: never twice for one interval
        shaped = (await self.shaped(message, page.notifier)).model_copy(update={"page_id": row.id})
        if thread:
            if await self.send_reply(row, page, f"Still not acknowledged: {shaped.text()}"):
                await record(self.incident_id, TimelineKind.page, f"repeat {n}: reminded {page.recipient} on {via} in the page's thread")
            return
        try:
            ref = await with_retry(send_page, self.retry(page.notifier))(page.notifier, page.address, shaped)
        except IntegrationError as err:
            await self.log.finish(row.id, "failed", detail=str(err))
            await record(self.incident_id, TimelineKind.page, f"repeat {n}: page to {page.recipient} on {via} failed: {trim(err, 300)}")
            return
        await self.log.finish(row.id, "sent", ref.channel, ref.ts)
        data: dict[str, Any] = {"channel": ref.channel, "ts": ref.ts} if ref.channel else {}
        await record(self.incident_id, TimelineKind.page, f"repeat {n}: paged {page.recipient} on {via} again", **data)
