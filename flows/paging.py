"""Paging: tell the on-call people, escalate until someone answers, stop the moment they do.

A rule's paging action names an escalation policy (alertflow/config/oncall.py):
each step notifies its targets, then waits for an acknowledgement; no answer,
the next step; the list repeats ``repeat`` times. Without a policy, one Slack
message goes to the action's channel. Step 1 has usually left already: the
announcer (alertflow/paging/announcer.py) sends it at decision time under the
decision's ``episode``, which this run shares, so the run records nothing
twice, waits what is left of step 1's wait and escalates from there.

Acknowledging from anywhere (Slack button, CLI, API) only changes the incident
in the store; this flow polls the store while it waits, so an ack or resolve
ends the escalation within a poll. An "escalate now" click ends the current wait.

Exactly one page per step: every notification is claimed in the page log
(alertflow/store/pages.py) before it is sent, so a retried or restarted run
skips what was sent; a claim left ``sending`` by a process that died is taken
over after a lease and sent only if the notifier did not get it. A permanent
error is recorded and falls through to the next step at once, or to the
policy's fallback: a broken Slack token never means nobody is paged. If nobody
at all could be paged the flow fails, so it shows red in Prefect. With a
policy, the run then follows its incident until it resolves: every page sent
is updated on ack and resolve, and major timeline events go to the threads
(flows/followup.py). A ``repeat_interval`` pages again while nobody answers,
with or without a policy; such a run follows its incident too.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime

from prefect import flow

from alertflow.config.oncall import EscalationPolicy, Recipient, Step
from alertflow.durations import format_duration
from alertflow.errors import ConfigError, IntegrationError, PermanentIntegrationError
from alertflow.events import ESCALATED
from alertflow.flows.followup import FollowUp, now
from alertflow.flows.handover import trim
from alertflow.flows.notify import find_page, send_page
from alertflow.flows.runtime import current_run, record, settings, store, with_retry
from alertflow.flows.timeline import LIFECYCLE_HOOKS
from alertflow.flows.ui_answer import PageAnswer, UiPrompt, apply_answer
from alertflow.integrations.notifiers.message import PageMessage
from alertflow.integrations.notifiers.registry import display_name
from alertflow.integrations.notifiers.slack import MessageRef
from alertflow.metrics import worker_metrics
from alertflow.models import Incident, PagingAction, TimelineKind
from alertflow.paging.announcer import LEASE_SECONDS
from alertflow.paging.recipients import Delivery, answered, deliveries, step_label
from alertflow.store.overrides import current_schedules
from alertflow.store.pages import PageLog, PageRecord

POLL_SECONDS = 0.5  # how soon an ack or an escalate-now click is noticed while a step waits
FOLLOW_SECONDS = 24 * 3600.0  # the longest a run follows an unresolved incident after escalating


class Escalation(FollowUp):
    """One paging action's run through its policy; the follow-up after it is ``FollowUp``'s."""

    def __init__(self, incident_id: int, action: PagingAction, policy: EscalationPolicy, name: str | None, episode: str | None) -> None:
        super().__init__()
        self.incident_id, self.action, self.policy, self.name = incident_id, action, policy, name
        self.log = PageLog(store())
        run_id, self.link = current_run()
        # The decision's episode: the announcer sent step 1 under it, and every retry or restart of this run shares it.
        # Without one (a run started by hand in Prefect), the run is the episode.
        self.episode = episode or (
            run_id.replace("-", "") if run_id else hashlib.sha256(action.params.model_dump_json().encode()).hexdigest()[:32]
        )
        self.first_observed = False

    async def escalate(self) -> bool:
        """Run the policy until someone answers or it runs out; False when nobody at all could be paged."""
        steps, passes = len(self.policy.steps), self.policy.repeat
        reached_any = reached = False
        for p in range(passes):
            for s, step in enumerate(self.policy.steps):
                label = step_label(s, steps, p, passes)
                if (sent := await self.notify(f"{p}.{s}", step.notify, f"policy:{self.name}:{s}", label)) is None:
                    return True
                started, reached = sent
                reached_any |= reached
                last = (p, s) == (passes - 1, steps - 1)
                if not reached:
                    if not last:
                        await record(
                            self.incident_id, TimelineKind.escalation, f"{label} reached nobody: on to the next step now", event=ESCALATED
                        )
                    continue
                if step.wait and await self.wait(started + step.wait, step, label, last):
                    return True
        if not reached and self.policy.fallback:
            if (sent := await self.notify("fallback", [self.policy.fallback], f"policy:{self.name}:fallback", "fallback")) is None:
                return True
            reached_any |= sent[1]
        if self.name:
            summary = f"escalation policy {self.name} ran out after {passes} pass{'es' if passes > 1 else ''}: nobody acknowledged"
            await record(self.incident_id, TimelineKind.escalation, summary)
        return reached_any

    async def notify(self, key: str, targets: list[Recipient], where: str, label: str) -> tuple[datetime, bool] | None:
        """Notify one step's targets, each once ever: (when the step began, anyone reached?); None once answered."""
        may_stop = key != "0.0" or not self.action.params.reason  # a response flow's escalation pages its first step anyway
        incident = await store().get_incident(self.incident_id)
        if may_stop and answered(incident):
            return None
        message = await self.message(incident, label if self.name else None)
        started = at = now()
        reached = sent_any = False
        schedules = await current_schedules(store(), settings(), at)
        for j, target in enumerate(targets):
            found, why = deliveries(target, f"{where}.{j}" if key != "fallback" else where, j, settings(), at, schedules)
            if not found:
                await record(self.incident_id, TimelineKind.page, f"{self.prefix(label)}{target.label}: {why}")
            for delivery in found:
                if sent_any and may_stop and answered(await store().get_incident(self.incident_id)):
                    return None  # answered while an earlier target's send was slow or retried
                row, created = await self.claim(f"{key}.{delivery.key}", delivery, at)
                started = min(started, row.claimed_at)
                if not created and not await self.log.take_over(row, now(), LEASE_SECONDS):
                    reached |= row.status != "failed"  # sent (by the announcer, or an earlier try of this run)
                    continue
                reached |= await self.deliver(row, delivery, incident, message, label, resend=not created)
                sent_any = True
        return started, reached

    async def claim(self, step: str, delivery: Delivery, at: datetime) -> tuple[PageRecord, bool]:
        """The step's page log row, and whether this run created it. While someone else holds it (the announcer
        sending step 1, an earlier try of this run), wait until they record or release it, or their lease runs out
        (they died: the caller takes it over), so a page cut off by a crash is never taken for sent."""
        to = (delivery.notifier, delivery.recipient, delivery.address)
        while True:
            row, created = await self.log.claim(self.incident_id, self.episode, step, *to, at)
            if created or not row.held(now(), LEASE_SECONDS):
                return row, created
            await asyncio.sleep(POLL_SECONDS)

    async def deliver(
        self, row: PageRecord, delivery: Delivery, incident: Incident, message: PageMessage, label: str, resend: bool = False
    ) -> bool:
        """Send one claimed page; one whose sender died (``resend``) only if its notifier did not get it then."""
        via = display_name(delivery.notifier, settings())
        reason = f": {self.action.params.reason}" if self.action.params.reason else ""
        message = (await self.shaped(message, delivery.notifier)).model_copy(update={"page_id": row.id})
        try:
            async with self.log.holding([row], LEASE_SECONDS / 3):  # retries and rate limits may outlast the lease
                to = (delivery.notifier, delivery.address, message)
                found = await find_page(*to, row.claimed_at) if resend else None
                ref = found or await with_retry(send_page, self.retry(delivery.notifier))(*to)
        except IntegrationError as err:
            await self.log.finish(row.id, "failed", detail=str(err))
            summary = f"{self.prefix(label)}page to {delivery.recipient} on {via} failed: {trim(err, 300)}"
            await record(self.incident_id, TimelineKind.page, summary, notifier=delivery.notifier, error=trim(err, 1000))
            return False
        await self.log.finish(row.id, "sent", ref.channel, ref.ts)
        if row.step.startswith("0.0.") and not self.action.params.reason and not self.first_observed:
            self.first_observed = True  # the announcer did not send step 1 (it failed): this run did
            worker_metrics().first_page.observe((now() - incident.opened_at).total_seconds())
        data = {"channel": ref.channel, "ts": ref.ts} if ref.channel else {"dedup_key": ref.ts} if ref.ts else {}
        await record(self.incident_id, TimelineKind.page, f"{self.prefix(label)}paged {delivery.recipient} on {via}{reason}", **data)
        return True

    def prefix(self, label: str) -> str:
        return f"{label}: " if self.name else ""

    async def wait(self, until: datetime, step: Step, label: str, last: bool) -> bool:
        """Wait out a step, paused for an answer in the Prefect UI; True when someone answered."""
        while True:
            left = (until - now()).total_seconds()  # nothing left (a run taken over after its worker died): no pause
            prompt = await UiPrompt.open(left, self.incident_id) if left > 0 else None
            try:
                outcome, value = await self.watch(until, prompt)
            finally:
                late = await prompt.close() if prompt else None
            await self.flush()  # thread replies wait while the run is paused: Prefect runs no tasks then
            if outcome != "repeat" or late is not None:
                break
            await self.repeat()  # resumed for it (a paused run runs no tasks), then back to waiting
        answer = value if isinstance(value, PageAnswer) else late
        if answer is not None:
            try:
                verb = await apply_answer(self.incident_id, answer)
                await record(self.incident_id, TimelineKind.page, f"{label}: {verb} by {answer.by} from the Prefect UI", by=answer.by)
                return True
            except IntegrationError as err:
                await record(self.incident_id, TimelineKind.page, f"{label}: the Prefect UI answer by {answer.by} failed: {err}")
        if outcome == "answered":
            return True
        if outcome == "escalate":
            summary = f"{label}: escalation requested by {value}" + ("" if last else ", next step now")
            await record(self.incident_id, TimelineKind.escalation, summary, event=None if last else ESCALATED, requested_by=value)
        else:
            summary = f"{label}: no acknowledgement within {format_duration(step.wait)}" + ("" if last else ", next step")
            await record(self.incident_id, TimelineKind.escalation, summary, event=None if last else ESCALATED)
        return False

    async def watch(self, until: datetime, prompt: UiPrompt | None) -> tuple[str, object]:
        """Poll the store (and the UI) until an answer, an escalate-now request (its actor) or the wait's end."""
        while True:
            if answered(await store().get_incident(self.incident_id)):
                return "answered", None
            if prompt is not None and (answer := await prompt.answer()) is not None:
                return "ui", answer
            requested = [entry for entry in await self.news() if entry.kind is TimelineKind.escalate_requested]
            if requested:
                return "escalate", requested[0].actor
            if (due := await self.repeat_due()) is not None and due <= now():
                return "repeat", None
            left = (until - now()).total_seconds()
            if left <= 0:
                return "timeout", None
            await asyncio.sleep(min(POLL_SECONDS, left))


@flow(name="paging", flow_run_name="paging-incident-{incident_id}", **LIFECYCLE_HOOKS)
async def page_oncall(incident_id: int, action: PagingAction = PagingAction(), episode: str | None = None) -> dict[str, str] | None:
    """Page per the action's escalation policy (or its channel once), continuing from what the announcer sent at
    decision time (``episode``); returns the first Slack message's reference."""
    incident = await store().get_incident(incident_id)
    name = action.params.policy
    policy = (
        settings().escalation_policies.get(name)
        if name
        else EscalationPolicy.single_page(action.params.channel or settings().slack.channel)
    )
    if policy is None:
        raise ConfigError(f"no escalation policy {name!r} in the config (escalation_policies:)")
    run = Escalation(incident_id, action, policy, name, episode)
    await run.start()
    # An escalation (a response flow gave up, with a reason) is news even to whoever acknowledged.
    if answered(incident) and not action.params.reason:
        await run.tell(incident)  # a page the announcer sent before the answer hears it
        await record(incident_id, TimelineKind.page, f"page skipped: incident already {incident.status.value}")
        return None
    if not await run.escalate():
        raise PermanentIntegrationError("nobody could be paged: every notification failed or had no recipient (see the timeline)")
    if name or action.params.repeat_interval:
        await run.follow(FOLLOW_SECONDS)
    first = next(iter(await run.sent("slack")), None)
    return MessageRef(channel=first.channel, ts=first.ts).model_dump() if first and first.channel and first.ts else None
