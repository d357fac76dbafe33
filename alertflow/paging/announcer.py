"""First pages at decision time: a new incident is announced within a second or two, whatever Prefect is doing.

Prefect creates flow runs a few per second (on SQLite), so a burst of 100
incidents once waited a minute for its paging runs, and nothing was paged
while Prefect was down. Now the pipeline queues an *announcement* with every
paging decision, in the decision's transaction, and this stage of the API
process sends the escalation's first step (or the single page) at once. Each
notification is claimed in the page log under the decision's *episode*; the
paging flow run that follows shares the episode, finds step 1 sent, waits
only what is left of its wait and escalates from there. It never sends step 1
again, even if it starts minutes later when Prefect is back.

Storms: each target that can show many incidents in one message (Slack: the
registry's ``digests``) has an allowance like its documented rate limit,
about one message a second per channel after a short burst. When more
incidents wait for one target than it lets through, they go out as one
digest (each incident with its own Acknowledge button), and incidents that
arrive while a recent digest for that target has room join it by update.

Crash windows, claim → send → record: a page left ``sending`` past a lease
(renewed while it is sent) is taken over by a later drain, or by the paging
run once it exists (it owns the escalation); the notifier is asked first
whether it went out (Slack keeps the page's id in message metadata), so it
is sent again only when it did not. A retryable failure releases the claim
for the paging run, which retries it by the rule's policy. Each page sent is
also an ``alertflow.page.sent`` event, handed to ``emit`` (the API process's
event emitter, alertflow/pipeline/events.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from alertflow.config.oncall import EscalationPolicy, Schedule
from alertflow.config.settings import Settings
from alertflow.doorbell import Doorbell
from alertflow.durations import utcnow
from alertflow.errors import IntegrationError, PermanentIntegrationError, RetryableIntegrationError, StoreUnavailable
from alertflow.events import PAGE_SENT, event_for
from alertflow.integrations.notifiers import Notifier, PageRef, find_each
from alertflow.integrations.notifiers.message import DIGEST_SIZE, Digest, PageMessage
from alertflow.integrations.notifiers.registry import display_name, find
from alertflow.integrations.notifiers.rendering import for_notifier
from alertflow.metrics import Metrics
from alertflow.models import Incident, PagingAction, TimelineEntry, TimelineKind
from alertflow.paging.digest import DIGEST, JOIN_SECONDS, Bucket, OpenDigest
from alertflow.paging.recipients import (
    Delivery,
    answered,
    deliveries,
    message_for,
    notifier_for,
    step_label,
    step_where,
    template_failed,
)
from alertflow.store.database import Store
from alertflow.store.overrides import current_schedules
from alertflow.store.pages import Announcement, PageContext, PageLog, PageRecord

log = logging.getLogger(__name__)
LEASE_SECONDS = 15.0  # a claim this old, still sending, belonged to a process that died
PAGES_FIRST_SECONDS = 2.0  # the longest flow-run creation and Prefect events wait for a pass of first pages


@dataclass
class Page:
    incident: Incident
    delivery: Delivery
    record: PageRecord
    message: PageMessage
    label: str  # "step 1/3: " or ""
    reason: str  # ": <why>" for a response flow's hand-over, else ""
    resend: bool = False  # taken over from a sender that died: look before sending again
    template_error: str | None = None  # the notifier's template failed: the default message goes, and the timeline says why


class Announcer:
    def __init__(
        self, store: Store, settings: Settings, metrics: Metrics, active: Callable[[], bool] = lambda: True,
        emit: Callable[[list[dict[str, Any]]], None] = lambda events: None,
    ) -> None:  # fmt: skip
        self.store, self.settings, self.metrics, self.emit = store, settings, metrics, emit
        self.active = active  # only the pipeline leader announces: digests pace each target from one place
        self.log = PageLog(store)
        self.buckets: dict[tuple[str, str], Bucket] = {}
        self.digests: dict[tuple[str, str], OpenDigest] = {}
        self.doorbell = Doorbell()
        self.settled = asyncio.Event()  # clear from a decision until the pass after it has ended
        self.settled.set()
        self.unsettled_since = 0.0

    def nudge(self) -> None:
        if self.settled.is_set():
            self.settled.clear()
            self.unsettled_since = time.monotonic()
        self.doorbell.ring()

    async def pages_first(self) -> None:
        """Wait until the pages decided so far have left, ``PAGES_FIRST_SECONDS`` after the first of them at most
        (a slow notifier holds nobody up longer): in a burst the dispatcher and the event emitter start after the
        first pages, so Prefect's work (the CPU and the writes it costs on a small machine) does not delay them."""
        left = self.unsettled_since + PAGES_FIRST_SECONDS - time.monotonic()
        if not self.settled.is_set() and left > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.settled.wait(), left)

    async def run(self, stop: asyncio.Event, idle_seconds: float = 1.0) -> None:
        while not stop.is_set():
            try:
                if self.active():
                    await self.drain()
            except StoreUnavailable as err:  # expected while the database is away: one line, not a traceback a second
                log.error("store unavailable, announcer will retry: %s", err)
            except Exception:
                log.exception("announcer pass failed (will retry)")
            if not self.doorbell.rung:
                self.settled.set()  # nothing decided since the pass began (a standby replica never holds anyone up)
            await self.doorbell.wait(idle_seconds)

    async def drain(self) -> int:
        """Announce every pending paging decision; returns how many were settled. The whole pass is claimed in one
        transaction, so a burst's first digest leaves after one commit, not after one commit per incident."""
        pending = await self.log.pending_announcements()
        if not pending:
            return 0
        contexts = await self.log.contexts([a.incident_id for a in pending])
        schedules = await current_schedules(self.store, self.settings, utcnow())  # with the overrides stored in the database
        wanted = [(a, w) for a in pending if a.incident_id in contexts for w in self.wants(a, contexts[a.incident_id], schedules)]
        claimed = await self.log.claim_many([claim for _, (_, claim) in wanted])
        now = utcnow()
        targets: dict[tuple[str, str], list[Page]] = {}
        planned: dict[int, list[int]] = {a.id: [] for a in pending}
        # Someone else's claim before the paging run exists is an announcer's (a restart's, a replica's): looked at
        # again until it is done or its lease runs out. After, the run's: left to it.
        held: set[int] = set()
        for (announcement, (page, _)), (record, created) in zip(wanted, claimed, strict=True):
            if created or (not announcement.run_created and await self.log.take_over(record, now, LEASE_SECONDS)):
                page.record, page.resend = record, not created
                page.message = page.message.model_copy(update={"page_id": record.id})
                targets.setdefault((page.delivery.notifier, page.delivery.address), []).append(page)
                planned[announcement.id].append(record.id)
            elif record.status == "sending" and not announcement.run_created:
                held.add(announcement.id)
        async with self.log.holding([page.record for pages in targets.values() for page in pages], LEASE_SECONDS / 3):
            sends = [self.announce(target, pages) for target, pages in targets.items()]
            outcomes = await asyncio.gather(*sends, return_exceptions=True)
        unsettled: set[int] = set()
        for (_, pages), outcome in zip(targets.items(), outcomes, strict=True):
            if isinstance(outcome, BaseException):
                log.error("announcing failed: %s: %s", type(outcome).__name__, outcome)
                unsettled |= {page.record.id for page in pages}  # left sending: taken over after the lease
            else:
                unsettled |= outcome
        done = [a.id for a in pending if a.id not in held and not unsettled.intersection(planned[a.id])]
        await self.log.announced(done, utcnow())
        return len(done)

    def wants(
        self, announcement: Announcement, context: PageContext, schedules: Mapping[str, Schedule]
    ) -> list[tuple[Page, dict[str, object]]]:
        """The first step's notifications of one decision, each with the page log claim it needs."""
        action = PagingAction.model_validate(announcement.action)
        incident = context.incident
        params, name = action.params, action.params.policy
        if answered(incident) and not params.reason:
            return []
        policy = (
            self.settings.escalation_policies.get(name)
            if name
            else EscalationPolicy.single_page(params.channel or self.settings.slack.channel)
        )
        if policy is None:
            return []  # the paging run fails on it, loudly, where Prefect shows it
        label = f"{step_label(0, len(policy.steps), 0, policy.repeat)}: " if name else ""
        base = message_for(context, params, label.removesuffix(": ") or None)
        now, reason, wanted = utcnow(), f": {params.reason}" if params.reason else "", []
        for j, target in enumerate(policy.steps[0].notify):
            for d in deliveries(target, step_where(name, 0, j), j, self.settings, now, schedules)[0]:
                claim = {"incident_id": incident.id, "episode": announcement.episode, "step": f"0.0.{d.key}", "notifier": d.notifier}
                claim |= {"recipient": d.recipient, "address": d.address, "at": now}
                message, why = for_notifier(base, d.notifier, self.settings)
                wanted.append((Page(incident, d, None, message, label, reason, template_error=why), claim))  # type: ignore[arg-type]
        return wanted

    async def announce(self, target: tuple[str, str], pages: list[Page]) -> set[int]:
        """Send one target's pages: one by one within its allowance, else in a digest. Returns the claims released
        after a retryable failure: their announcement stays pending and is tried again on the next pass."""
        name, address = target
        try:
            notifier = await notifier_for(name, address, self.settings)
        except PermanentIntegrationError as err:
            for page in pages:
                await self._failed(page, err)
            return set()
        resent = [page for page in pages if page.resend]  # taken over from a sender that died: look before resending
        since = min((page.record.claimed_at for page in resent), default=utcnow())
        refs = await find_each(notifier, [page.message for page in resent], address, since) if resent else []
        found = {page.record.id: ref for page, ref in zip(resent, refs, strict=True)}
        fresh = []
        for page in pages:
            if (ref := found.get(page.record.id)) is not None:
                await self._sent(page, ref, "found after a restart, not sent again")
            else:
                fresh.append(page)
        kind, bucket = find(name, self.settings), self.buckets.setdefault(target, Bucket())
        # More than one waiting, or no allowance left: a digest (one message, or an update of a recent one).
        if kind is not None and kind.digests and fresh and (len(fresh) > min(1, bucket.available()) or self._joinable(target, fresh)):
            return await self._digest(target, notifier, fresh)
        released = set()
        for page in fresh:
            bucket.available()
            bucket.tokens -= 1
            if not await self._send(notifier, page):
                released.add(page.record.id)
        return released

    async def _send(self, notifier: Notifier, page: Page) -> bool:
        """Send one page; False when a retryable failure released its claim (tried again on the next pass)."""
        try:
            ref = await notifier.send(page.message, page.delivery.address)
        except RetryableIntegrationError as err:
            log.warning("first page of incident %s not sent yet: %s", page.incident.id, err)
            await self.log.release(page.record.id)
            return False
        except IntegrationError as err:
            await self._failed(page, err)
        else:
            await self._sent(page, ref)
        return True

    def _joinable(self, target: tuple[str, str], pages: list[Page]) -> bool:
        open_ = self.digests.get(target)
        return open_ is not None and time.monotonic() - open_.opened < JOIN_SECONDS and len(open_.pages) + len(pages) <= DIGEST_SIZE

    async def _digest(self, target: tuple[str, str], notifier: Notifier, pages: list[Page]) -> set[int]:
        if self._joinable(target, pages):
            open_ = self.digests[target]
            chunks = [(open_, pages)]
        else:
            chunks = [(None, pages[i : i + DIGEST_SIZE]) for i in range(0, len(pages), DIGEST_SIZE)]
        released: set[int] = set()
        for open_, chunk in chunks:
            shown = (open_.pages if open_ else []) + [page.message for page in chunk]
            try:
                if open_ is not None:
                    await notifier.update(open_.ref, Digest(pages=shown))  # type: ignore[arg-type]
                    ref = open_.ref
                else:
                    ref = await notifier.send(Digest(pages=shown), target[1])  # type: ignore[arg-type]
                    self.buckets[target].tokens -= 1
            except IntegrationError:
                for page in chunk:  # one by one instead: each page then meets its own retries and failures
                    if not await self._send(notifier, page):
                        released.add(page.record.id)
                continue
            self.digests[target] = OpenDigest(ref, shown, open_.opened if open_ else time.monotonic())
            note = f"in a digest of {len(shown)} incidents"
            finished = [(page.record.id, "sent", ref.channel, ref.ts, DIGEST) for page in chunk]
            await self.log.finish_many(finished, [e for page in chunk for e in self._entries(page, ref, note)])  # type: ignore[misc]
            self._told(chunk)
        return released

    async def _sent(self, page: Page, ref: PageRef, note: str = "") -> None:
        await self.log.finish_many([(page.record.id, "sent", ref.channel, ref.ts, None)], self._entries(page, ref, note))
        self._told([page])

    def _told(self, pages: list[Page]) -> None:
        """Recorded: each page is an ``alertflow.page.sent`` event for Prefect (sent in the background)."""
        for page in pages:
            via, to = display_name(page.delivery.notifier, self.settings), page.delivery.recipient
            self.emit([event_for(PAGE_SENT, page.incident, summary=f"paged {to} on {via}", recipient=to, notifier=via, step=1)])

    def _entries(self, page: Page, ref: PageRef, note: str) -> list[TimelineEntry]:
        """The page's entry, after the template failure that made it a default message, if one did."""
        failed = template_failed(page.delivery.notifier, page.template_error, self.settings)
        return ([self._entry(page, failed, announced=True)] if failed else []) + [self._sent_entry(page, ref, note)]

    def _sent_entry(self, page: Page, ref: PageRef, note: str) -> TimelineEntry:
        self.metrics.first_page.observe(max(0.0, (utcnow() - page.incident.opened_at).total_seconds()))
        via = display_name(page.delivery.notifier, self.settings)
        data = {"channel": ref.channel, "ts": ref.ts} if ref.channel else {"dedup_key": ref.ts} if ref.ts else {}
        summary = f"{page.label}paged {page.delivery.recipient} on {via}{page.reason}" + (f" ({note})" if note else "")
        return self._entry(page, summary, announced=True, **data)

    async def _failed(self, page: Page, err: IntegrationError) -> None:
        via = display_name(page.delivery.notifier, self.settings)
        entry = self._entry(page, f"{page.label}page to {page.delivery.recipient} on {via} failed: {str(err)[:300]}", announced=True)
        await self.log.finish_many([(page.record.id, "failed", None, None, str(err))], [entry])

    def _entry(self, page: Page, summary: str, **data: object) -> TimelineEntry:
        return TimelineEntry(incident_id=page.incident.id, at=utcnow(), kind=TimelineKind.page, summary=summary, data=data, actor="system")
